package muc

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/secure/precis"

	"github.com/parleychat/parley/storage"
)

// One nick policy for every front door (XEP-0045 §7.2 asks rooms to apply
// RFC 8266 to nicks; a SIP /join and an XMPP join both come here):
//
//   - a nick is enforced with the PRECIS Nickname profile (RFC 8266 §2.3):
//     NFKC (so fullwidth "Ａlice" is "Alice"), spaces mapped and trimmed,
//     and control, format (zero-width, bidi override), unassigned and
//     other disallowed code points refused;
//   - a nick is refused while another occupant holds one a reader could
//     take for it: the same after Unicode case folding, or with the same
//     UTS #39 confusable skeleton ("Аlice" with a Cyrillic А, "AIice" with
//     a capital I, "b0b"). The skeleton comes from the Unicode
//     confusables table (UTS #39 §4, data version 13.0) as packaged by
//     github.com/mtibben/confusables, the one Go implementation of the
//     full table; it is no longer updated, so characters added to the
//     table after Unicode 13 are not folded.

// NormalizeNick returns nick as the room keeps it (RFC 8266 §2.3
// enforcement), or a CodeBadRequest refusal that says what is wrong.
func NormalizeNick(nick string) (string, error) {
	out, err := precis.Nickname.String(nick)
	if err != nil {
		for _, r := range nick {
			// A space alone enforces to nothing, which is an error of
			// its own: only other characters are to blame.
			if _, err := precis.Nickname.String(string(r)); err != nil && !unicode.Is(unicode.Zs, r) {
				return "", refuse(CodeBadRequest, "the nick %q holds U+%04X, which a nick may not (RFC 8266)", nick, r)
			}
		}
	}
	if out == "" || utf8.RuneCountInString(out) > storage.MaxNickLength {
		return "", refuse(CodeBadRequest, "a nick must be 1 to %d characters", storage.MaxNickLength)
	}
	return out, nil
}

// nickKeys are the two forms under which nicks count as the same: the
// skeleton of the case-folded nick ("ALICE" and "alice"), and the
// case-folded skeleton ("AIice" and "Alice": the skeleton maps I to l
// before folding would make it i).
func nickKeys(nick string) [2]string {
	return [2]string{
		confusables.Skeleton(cases.Fold().String(nick)),
		cases.Fold().String(confusables.Skeleton(nick)),
	}
}

// lookalike returns the occupant other than self whose nick a reader could
// take for nick, or nil. An index entry whose occupant has gone is
// dropped on the way.
func (h *host) lookalike(nick string, self *Occupant) *Occupant {
	for _, k := range nickKeys(nick) {
		held, ok := h.nickIndex[k]
		if !ok {
			continue
		}
		o := h.occupants[held]
		if o == nil {
			delete(h.nickIndex, k)
			continue
		}
		if o != self {
			return o
		}
	}
	return nil
}

// refuseLookalike is the refusal of nick, too like other's.
func refuseLookalike(nick string, other *Occupant) error {
	return &Error{Code: CodeConflict, Reason: fmt.Sprintf("the nick %q is too like %q, already in the room", nick, other.Nick)}
}

// indexNick records an occupant's nick under its keys, unless another
// present occupant holds a key already.
func (h *host) indexNick(nick string) {
	if h.nickIndex == nil {
		h.nickIndex = make(map[string]string)
	}
	for _, k := range nickKeys(nick) {
		if held, ok := h.nickIndex[k]; !ok || h.occupants[held] == nil {
			h.nickIndex[k] = nick
		}
	}
}

// unindexNick forgets a nick that left the room.
func (h *host) unindexNick(nick string) {
	for _, k := range nickKeys(nick) {
		if h.nickIndex[k] == nick {
			delete(h.nickIndex, k)
		}
	}
}
