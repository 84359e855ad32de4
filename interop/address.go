package interop

import (
	"errors"
	"fmt"
	"strings"

	"mellium.im/xmpp/jid"
)

// Address mapping between sip: URIs and JIDs (RFC 7247 §5).
//
// A SIP user part travels percent-encoded (RFC 3261 §19.1.2) and may hold
// characters a JID localpart forbids (RFC 7622 §3.3.1: " & ' / : < > @ and
// space); a JID localpart escapes those with XEP-0106 (\20, \22, …). The
// two encodings meet here and nowhere else:
//
//	sip:o'hara@example.com   <->  o\27hara@example.com
//	sip:a%20b@example.com    <->  a\20b@example.com
//
// What cannot be a JID after escaping (PRECIS refuses it, it is empty or
// too long) is refused with ErrUnmappable, never passed on half-mapped.

// ErrUnmappable is returned for an address with no counterpart in the
// other protocol.
var ErrUnmappable = errors.New("interop: address cannot be mapped")

// xep0106 are the characters XEP-0106 §4.2 escapes, with their escapes.
var xep0106 = []struct {
	c   byte
	esc string
}{
	{' ', `\20`}, {'"', `\22`}, {'&', `\26`}, {'\'', `\27`}, {'/', `\2f`},
	{':', `\3a`}, {'<', `\3c`}, {'>', `\3e`}, {'@', `\40`}, {'\\', `\5c`},
}

// escapeOf returns the XEP-0106 escape of c, or "".
func escapeOf(c byte) string {
	for _, e := range xep0106 {
		if e.c == c {
			return e.esc
		}
	}
	return ""
}

// unescapeAt returns the character the escape at s[i:] stands for.
func unescapeAt(s string, i int) (byte, bool) {
	if i+3 > len(s) || s[i] != '\\' {
		return 0, false
	}
	for _, e := range xep0106 {
		if strings.EqualFold(s[i:i+3], e.esc) {
			return e.c, true
		}
	}
	return 0, false
}

// EscapeLocalpart applies XEP-0106 §4.2 to an unescaped user name: the
// forbidden characters become \XX, and a backslash only when it would
// otherwise read as an escape. A name starting or ending with a space
// cannot be escaped (XEP-0106 §4.3) and is refused.
func EscapeLocalpart(name string) (string, error) {
	if name == "" || name[0] == ' ' || name[len(name)-1] == ' ' {
		return "", fmt.Errorf("%w: user name %q is empty or starts or ends with a space", ErrUnmappable, name)
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '\\' {
			if _, ok := unescapeAt(name, i); !ok {
				b.WriteByte(c)
				continue
			}
		}
		if esc := escapeOf(c); esc != "" {
			b.WriteString(esc)
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// UnescapeLocalpart reverses EscapeLocalpart (XEP-0106 §4.3).
func UnescapeLocalpart(local string) string {
	if !strings.Contains(local, `\`) {
		return local
	}
	var b strings.Builder
	for i := 0; i < len(local); i++ {
		if c, ok := unescapeAt(local, i); ok {
			b.WriteByte(c)
			i += 2
			continue
		}
		b.WriteByte(local[i])
	}
	return b.String()
}

// sipUserSafe reports whether c may appear unencoded in a SIP URI user
// part: unreserved / user-unreserved (RFC 3261 §25.1).
func sipUserSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.!~*'()&=+$,;?/", c) >= 0
}

// percentDecode decodes RFC 3261 "escaped" octets.
func percentDecode(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", fmt.Errorf("%w: bad percent-encoding in %q", ErrUnmappable, s)
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// JIDFromSIP maps a sip: or sips: URI's user part (as it is on the wire,
// percent-encoded) and host to a bare JID (RFC 7247 §5.3): the user part
// is percent-decoded, then XEP-0106-escaped, then prepared with PRECIS
// (RFC 7622) by mellium's jid package, which also lower-cases the domain.
func JIDFromSIP(scheme, user, host string) (jid.JID, error) {
	if s := strings.ToLower(scheme); s != "sip" && s != "sips" {
		return jid.JID{}, fmt.Errorf("%w: scheme %q", ErrUnmappable, scheme)
	}
	if user == "" || host == "" {
		return jid.JID{}, fmt.Errorf("%w: sip:%s@%s has no user or host", ErrUnmappable, user, host)
	}
	name, err := percentDecode(user)
	if err != nil {
		return jid.JID{}, err
	}
	local, err := EscapeLocalpart(name)
	if err != nil {
		return jid.JID{}, err
	}
	j, err := jid.New(local, host, "")
	if err != nil {
		return jid.JID{}, fmt.Errorf("%w: sip:%s@%s: %v", ErrUnmappable, user, host, err)
	}
	return j, nil
}

// SIPFromJID maps a JID to a sip: URI's user part (percent-encoded, ready
// for the wire) and host (RFC 7247 §5.2): the localpart is XEP-0106
// unescaped, then what a SIP user part may not hold is percent-encoded. A
// resource has no place in a SIP address of record and is dropped.
func SIPFromJID(j jid.JID) (user, host string, err error) {
	local := j.Localpart()
	if local == "" {
		return "", "", fmt.Errorf("%w: %s has no localpart", ErrUnmappable, j)
	}
	name := UnescapeLocalpart(local)
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if c := name[i]; sipUserSafe(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String(), j.Domainpart(), nil
}

// SIPURIFromJID is SIPFromJID as a "sip:user@host" string.
func SIPURIFromJID(j jid.JID) (string, error) {
	user, host, err := SIPFromJID(j)
	if err != nil {
		return "", err
	}
	return "sip:" + user + "@" + host, nil
}
