package interop

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/internal/wellformed"
)

// Message is one instant message between two users of the domain, in the
// terms both front doors can render (RFC 7572 §4-5): what an XMPP
// <message/> and a SIP MESSAGE have in common.
//
//	XMPP <message/>          SIP MESSAGE
//	from                     From (mapped with SIPFromJID)
//	to                       Request-URI and To
//	<body/>                  text/plain body
//	<subject/>               Subject header
//	<thread/>                Call-ID (when the thread is a valid Call-ID)
//	id                       — (no SIP counterpart; generated for SIP senders)
//	type                     — ("chat" towards XMPP, RFC 7572 §5)
//
// A message of Type "error" carries a failure back to the sender of an
// earlier message (RFC 6120 §8.3), with that message's ID.
type Message struct {
	// From is the sender; a full JID when the sender is an XMPP resource,
	// else bare.
	From jid.JID
	// To is the recipient; a full JID only for an error back to an XMPP
	// resource.
	To jid.JID
	// Type is "chat", "normal" or "error".
	Type    string
	ID      string
	Thread  string
	Subject string
	Body    string
	// Error is set for Type "error".
	Error *Error
	// Stanza is the message as an XMPP front door took it from an XMPP
	// sender (a <message/> in jabber:client, with every extension and
	// the recipient archive's stanza-id), or nil. Another node's XMPP
	// front door delivers it as it is; other front doors read the
	// fields above and ignore it. A message with a Stanza may have no
	// Body (chat states, receipts): only an XMPP door delivers those.
	Stanza []byte
}

// CheckText reports whether s can travel in both protocols: valid UTF-8
// holding only characters XML 1.0 allows (§2.2 Char: no C0 control but
// tab, LF and CR; no surrogate; not U+FFFE or U+FFFF), and no Unicode
// noncharacter (U+FDD0–U+FDEF and the last two code points of every
// plane, which §2.2 asks documents to avoid and which have no meaning in
// interchange). A SIP body may hold any octet; an XMPP stream may not. The
// SIP front door answers 400 with the error's text otherwise.
func CheckText(s string) error {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1 && s[i] == 0xED && i+1 < len(s) && s[i+1] >= 0xA0 && s[i+1] <= 0xBF:
			// ED A0–BF is how a UTF-16 surrogate (CESU-8, or a lone
			// surrogate written as UTF-8) looks: never a character.
			return fmt.Errorf("a UTF-16 surrogate (U+D800–U+DFFF) at byte %d is not a character", i)
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("invalid UTF-8 at byte %d", i)
		case !wellformed.IsChar(r):
			return fmt.Errorf("character U+%04X at byte %d is not allowed in XML", r, i)
		case Noncharacter(r):
			return fmt.Errorf("character U+%04X at byte %d is a Unicode noncharacter", r, i)
		}
		i += size
	}
	return nil
}

// Noncharacter reports whether r is one of Unicode's 66 noncharacters
// (Unicode §23.7): U+FDD0–U+FDEF and U+nFFFE, U+nFFFF in every plane.
func Noncharacter(r rune) bool {
	return r >= 0xFDD0 && r <= 0xFDEF || r&0xFFFE == 0xFFFE && r <= 0x10FFFF
}

// CallIDFromThread maps an XMPP <thread/> to a SIP Call-ID (RFC 7572
// Table 1), or "" when the thread is not a valid Call-ID (RFC 3261 §25.1:
// word ["@" word]) and the SIP side should generate its own.
func CallIDFromThread(thread string) string {
	if thread == "" || len(thread) > 256 {
		return ""
	}
	at := 0
	for i := 0; i < len(thread); i++ {
		c := thread[i]
		switch {
		case c == '@':
			at++
			if at > 1 || i == 0 || i == len(thread)-1 {
				return ""
			}
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c < 0x80 && strings.IndexByte("-.!%*_+`'~()<>:\\\"/[]?{}", c) >= 0:
		default:
			return ""
		}
	}
	return thread
}
