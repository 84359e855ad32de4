// Package contentrules gives storage the rules about stored content that
// live outside it (storage.ContentRules): the one normalisation of
// identities (internal/identity) and the XML well-formedness checks
// (internal/wellformed), which the content migrations 20 and 14 apply to
// rows written before the rules held. Whatever opens a content store
// (cmd/parleyd, cmd/parleyctl, cmd/parley-bench, tests) passes Rules{};
// storage itself imports nothing of Parley's (shared/DESIGN.md §3).
package contentrules

import (
	"github.com/parleychat/parley/internal/identity"
	"github.com/parleychat/parley/internal/wellformed"
	"github.com/parleychat/parley/storage"
)

// Rules are Parley's storage.ContentRules. The zero value is ready to use.
type Rules struct{}

var _ storage.ContentRules = Rules{}

// storedScope is the namespace context of a stored stanza: the XMPP front
// door writes them in the jabber:client default namespace without
// declaring it, and reads them back as if under a stream header, where
// the stream: prefix is declared too.
var storedScope = wellformed.NewScope("jabber:client", "stream", "http://etherx.jabber.org/streams")

// PolicyEntry is identity.PolicyEntry: a bare JID or a domain in its
// RFC 7622 form, "*" and entries with a prefix in keep as they are.
func (Rules) PolicyEntry(entry string, keep ...string) (string, error) {
	return identity.PolicyEntry(entry, keep...)
}

// CheckStanza is wellformed.Check in the scope of a stored stanza.
func (Rules) CheckStanza(stanza []byte) error {
	return wellformed.Check(stanza, storedScope)
}

// RepairStanza is wellformed.Repair in the scope of a stored stanza.
func (Rules) RepairStanza(stanza []byte) ([]byte, error) {
	return wellformed.Repair(stanza, storedScope)
}
