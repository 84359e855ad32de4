package storage

// ContentRules are rules about stored content that Parley keeps outside
// storage and that two of the content schema's migrations apply to rows
// written before the rules were enforced: migration 14 repairs stored
// stanzas that are not well-formed (CheckStanza, RepairStanza), migration
// 20 rewrites the JIDs of affiliations and category policy lists to their
// canonical spelling (PolicyEntry). SQL cannot do either, so they are Go
// migrations; their queries live with the back ends, and only these
// rules come from outside, because package storage imports nothing else of
// Parley's (shared/DESIGN.md §3).
//
// Whoever opens a content store passes them in (sqlite.Open, mysql.Open,
// backend.Open); Parley's are internal/contentrules.Rules. The back ends
// refuse to open a content store without them, so no database can reach
// a later schema version without having run the two migrations. A
// database past version 20 never calls them.
type ContentRules interface {
	// PolicyEntry returns the canonical spelling of an entry of an
	// affiliation or of a category's allowed, denied or creators list: a
	// bare JID or a domain, prepared as RFC 7622 says (PRECIS). "*" and an
	// entry that starts with one of keep (a directory group: "group:")
	// come back as they are. An entry that is no JID is an error.
	PolicyEntry(entry string, keep ...string) (string, error)

	// CheckStanza returns why stanza, as the XMPP front door stores it
	// (in the undeclared jabber:client default namespace, read back as
	// if under a stream header), is not one namespace-well-formed XML
	// element, or nil if it is.
	CheckStanza(stanza []byte) error

	// RepairStanza returns stanza made well-formed as far as that can be
	// done without guessing (characters XML forbids replaced, repeated
	// attributes dropped), or an error when it cannot be; a well-formed
	// stanza comes back unchanged.
	RepairStanza(stanza []byte) ([]byte, error)
}
