// Package identity normalises the identities Parley compares and stores,
// once for every front door, parleyctl, the admin API and the room engine
// (RFC 7622, with the PRECIS profiles of RFC 8265):
//
//   - a localpart (account name, room name): PRECIS UsernameCaseMapped
//     (RFC 7622 §3.3.1), without the characters a localpart may not hold;
//   - a room name: a localpart, which is how the XMPP front door reads the
//     localpart of ROOM@conference.DOMAIN and the SIP front door the user
//     part of sip:ROOM@conference.DOMAIN;
//   - a bare JID or a domain JID (in affiliations and in a category's
//     allowed, denied and creators lists): RFC 7622 as mellium.im/xmpp/jid
//     applies it (localpart UsernameCaseMapped, domainpart IDNA2008 and
//     lower case), so ALICE@Example.ORG and alice@example.org are one user.
//
// Nicks have their own profile (RFC 8266, muc.NormalizeNick).
package identity

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"mellium.im/xmpp/jid"
)

// MaxLocalpart bounds a localpart in characters (storage's key limits:
// storage.MaxUsernameLength and MaxRoomNameLength are both 255).
const MaxLocalpart = 255

// ErrInvalid is wrapped by every refusal.
var ErrInvalid = errors.New("identity: invalid")

// Localpart prepares s as an XMPP localpart (RFC 7622 §3.3: PRECIS
// UsernameCaseMapped) and refuses characters a localpart may not hold
// (§3.3.1) and lengths beyond MaxLocalpart.
func Localpart(s string) (string, error) {
	out, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", fmt.Errorf("%w localpart %q: %v", ErrInvalid, s, err)
	}
	if out == "" || utf8.RuneCountInString(out) > MaxLocalpart {
		return "", fmt.Errorf("%w localpart %q: must be 1 to %d characters", ErrInvalid, s, MaxLocalpart)
	}
	for _, r := range out {
		switch r {
		case '"', '&', '\'', '/', ':', '<', '>', '@':
			return "", fmt.Errorf("%w localpart %q: %q is not allowed in a localpart (RFC 7622 §3.3.1)", ErrInvalid, s, r)
		}
	}
	return out, nil
}

// RoomName normalises a room name (surrounding spaces dropped): the
// localpart of its JID, in lower case (as room names always were; PRECIS
// case mapping leaves a few characters that strings.ToLower maps).
func RoomName(s string) (string, error) {
	name, err := Localpart(strings.TrimSpace(s))
	if err != nil {
		return "", err
	}
	return strings.ToLower(name), nil
}

// BareJID normalises a bare JID with a localpart (a user).
func BareJID(s string) (string, error) {
	j, err := jid.Parse(strings.TrimSpace(s))
	if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
		return "", fmt.Errorf("%w user %q: want a bare JID (alice@example.org)", ErrInvalid, s)
	}
	return j.String(), nil
}

// DomainJID normalises a domain (every user of it).
func DomainJID(s string) (string, error) {
	j, err := jid.Parse(strings.TrimSpace(s))
	if err != nil || j.Localpart() != "" || j.Resourcepart() != "" {
		return "", fmt.Errorf("%w domain %q", ErrInvalid, s)
	}
	return j.String(), nil
}

// PolicyEntry normalises one entry of a policy list: "*" (everyone) and
// entries with a prefix the caller keeps as they are (a directory group,
// "group:…") are returned unchanged; a bare JID or a domain is normalised.
func PolicyEntry(s string, keep ...string) (string, error) {
	if s == "*" {
		return s, nil
	}
	for _, p := range keep {
		if strings.HasPrefix(s, p) {
			return s, nil
		}
	}
	if strings.Contains(s, "@") {
		return BareJID(s)
	}
	return DomainJID(s)
}
