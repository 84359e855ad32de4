package xmpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"mellium.im/xmpp/history"
	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/storage"
)

// The account's own archive (XEP-0313 on the user's bare JID): every 1:1
// chat message a local user sends or receives is archived, before it is
// delivered, in the sender's and the recipient's archive (each local
// party's, as its preferences say, §6.1), each with the stanza-id its
// archive assigns (XEP-0359: by = the account). The message delivered
// carries the recipient's, the sender's carbons the sender's. The same
// transaction writes the compliance event ("direct") that records the
// message, so compliance captures 1:1 messages as it captures posts
// (DESIGN §6). Queries take the room archive's fields and paging
// (parseMAM, mam.go), the urn:xmpp:mam:2#extended fields (before-id,
// after-id, ids, flip-page) and metadata, and full-text search through
// the same index and matching as room history (storage.UserArchives).
// Retention and legal holds apply as to rooms (compliance/retention.go).
//
// mellium.im/xmpp/history is a client (it queries an archive over an
// xmpp.Session); its namespaces are used here.

const nsMAMExtended = history.NSExt // urn:xmpp:mam:2#extended

// EventDirect is the compliance event type of a 1:1 message.
const EventDirect = "direct"

func (s *Server) registerAccountMAM() {
	adv := advertise(nsMAM, nsMAMExtended, nsFullText)
	s.mux.iq(toAccount, "get", nsMAM, "query", func(_ context.Context, r *request) (*Element, error) {
		if err := ownRosterOnly(r); err != nil {
			return nil, err
		}
		return accountMAMForm(), nil
	}, adv, localOnly)
	s.mux.stanza(toAccount, "iq", "set", nsMAM, "query", s.accountMAMQuery, adv, localOnly)
	s.mux.iq(toAccount, "get", nsMAM, "prefs", s.mamPrefsGet, adv, localOnly)
	s.mux.iq(toAccount, "set", nsMAM, "prefs", s.mamPrefsSet, adv, localOnly)
	s.mux.iq(toAccount, "get", nsMAM, "metadata", s.mamMetadata, adv, localOnly)
}

// accountMAMForm is the query form of the account's archive (XEP-0313
// §4.1.1 with #extended's fields and XEP-0431's).
func accountMAMForm() *Element {
	f := newForm("form", nsMAM)
	f.add("with", "jid-single", "With this contact")
	f.add("start", "text-single", "From (XEP-0082 date-time)")
	f.add("end", "text-single", "To (XEP-0082 date-time)")
	f.add("before-id", "text-single", "Before this archive id")
	f.add("after-id", "text-single", "After this archive id")
	f.add("ids", "text-multi", "These archive ids")
	f.add(fieldFullText, "text-single", "Full-text search")
	return NewElement(nsMAM, "query").Append(f.el)
}

// accountMAMQuery answers a query on the user's own archive: the page as
// <result/> messages from the bare JID, then the IQ result with <fin/>.
func (s *Server) accountMAMQuery(ctx context.Context, r *request) error {
	if err := ownRosterOnly(r); err != nil {
		return err
	}
	p, err := parseMAM(r.payload)
	if err != nil {
		return err
	}
	owner := r.to.Localpart()
	q := storage.ArchiveQuery{Owner: owner, Limit: p.limit, Start: p.start, End: p.end, FullText: p.fullText, Last: p.last}
	if p.with != "" {
		j, err := jid.Parse(p.with)
		if err != nil {
			return errJIDMalformed("with")
		}
		q.With = j.Bare().String()
	}
	idOf := func(stanzaID string) (int64, error) {
		m, err := s.cfg.Store.ArchivedByStanzaID(ctx, owner, stanzaID)
		if isNotFound(err) {
			return 0, errItemNotFound("no archived message " + stanzaID)
		}
		return m.ID, err
	}
	for _, bound := range []struct {
		id    string
		set   func(int64)
		after bool
	}{
		{p.afterID, func(v int64) { q.AfterID = max(q.AfterID, v) }, true},
		{p.rsmAfter, func(v int64) { q.AfterID = max(q.AfterID, v) }, true},
		{p.beforeID, func(v int64) { q.BeforeID = minPositive(q.BeforeID, v) }, false},
		{p.rsmBefore, func(v int64) { q.BeforeID = minPositive(q.BeforeID, v) }, false},
	} {
		if bound.id == "" {
			continue
		}
		v, err := idOf(bound.id)
		if err != nil {
			return err
		}
		bound.set(v)
	}

	var msgs []storage.ArchivedMessage
	complete, count := true, -1
	switch {
	case len(p.ids) > 0:
		// #extended: exactly these messages, in archive order.
		for _, id := range p.ids {
			m, err := s.cfg.Store.ArchivedByStanzaID(ctx, owner, id)
			if isNotFound(err) {
				return errItemNotFound("no archived message " + id)
			}
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		slices.SortFunc(msgs, func(a, b storage.ArchivedMessage) int { return int(a.ID - b.ID) })
	case q.Limit > 0:
		if msgs, complete, err = s.cfg.Store.ArchivedMessages(ctx, q); err != nil {
			return err
		}
	default:
		n, err := s.cfg.Store.CountArchived(ctx, q)
		if err != nil {
			return err
		}
		count, complete = n, n == 0
	}
	archive, to := r.to.Bare().String(), r.from.fullJID().String()
	firstID, lastID := "", ""
	if len(msgs) > 0 {
		firstID, lastID = msgs[0].StanzaID, msgs[len(msgs)-1].StanzaID
	}
	if p.flip {
		// #extended: the same page, newest first.
		slices.Reverse(msgs)
	}
	batch := make([][]byte, 0, len(msgs)+1)
	for i := range msgs {
		inner := parseStored(msgs[i].Stanza)
		if inner == nil {
			continue
		}
		batch = append(batch, mamResult(archive, to, p.queryID, msgs[i].StanzaID, msgs[i].Time, inner))
	}
	fin := mamFin(firstID, lastID, count, complete)
	batch = append(batch, NewElement(nsClient, "iq", "type", "result", "id", r.el.AttrValue("id"), "from", archive, "to", to).Append(fin).Bytes())
	r.from.sendBatch(batch)
	return nil
}

func minPositive(a, b int64) int64 {
	if a == 0 || b < a {
		return b
	}
	return a
}

// mamMetadata answers #extended's metadata request: the first and last
// message of the archive, or nothing for an empty one.
func (s *Server) mamMetadata(ctx context.Context, r *request) (*Element, error) {
	if err := ownRosterOnly(r); err != nil {
		return nil, err
	}
	out := NewElement(nsMAM, "metadata")
	for _, end := range []struct {
		name string
		last bool
	}{{"start", false}, {"end", true}} {
		msgs, _, err := s.cfg.Store.ArchivedMessages(ctx, storage.ArchiveQuery{Owner: r.to.Localpart(), Limit: 1, Last: end.last})
		if err != nil {
			return nil, err
		}
		if len(msgs) == 1 {
			out.Append(NewElement(nsMAM, end.name, "id", msgs[0].StanzaID, "timestamp", msgs[0].Time.UTC().Format(time.RFC3339Nano)))
		}
	}
	return out, nil
}

// mamPrefsGet returns the archiving preferences (XEP-0313 §6.1).
func (s *Server) mamPrefsGet(ctx context.Context, r *request) (*Element, error) {
	if err := ownRosterOnly(r); err != nil {
		return nil, err
	}
	p, err := s.cfg.Store.ArchivePrefs(ctx, r.to.Localpart())
	if err != nil {
		return nil, err
	}
	return prefsElement(p), nil
}

// mamPrefsSet replaces the archiving preferences (XEP-0313 §6.1) and
// returns them as stored.
func (s *Server) mamPrefsSet(ctx context.Context, r *request) (*Element, error) {
	if err := ownRosterOnly(r); err != nil {
		return nil, err
	}
	p := storage.ArchivePrefs{Default: r.payload.AttrValue("default")}
	switch p.Default {
	case storage.ArchiveAlways, storage.ArchiveNever, storage.ArchiveRoster:
	default:
		return nil, errBadRequest("default is always, never or roster")
	}
	for _, list := range []struct {
		name string
		to   *[]string
	}{{"always", &p.Always}, {"never", &p.Never}} {
		el := r.payload.Child(nsMAM, list.name)
		if el == nil {
			continue
		}
		for _, j := range el.Elements() {
			if j.Name.Local != "jid" {
				continue
			}
			parsed, err := jid.Parse(j.Text())
			if err != nil {
				return nil, errJIDMalformed(j.Text())
			}
			*list.to = append(*list.to, parsed.Bare().String())
		}
	}
	if err := s.cfg.Store.SetArchivePrefs(ctx, r.to.Localpart(), p); err != nil {
		return nil, err
	}
	stored, err := s.cfg.Store.ArchivePrefs(ctx, r.to.Localpart())
	if err != nil {
		return nil, err
	}
	return prefsElement(stored), nil
}

func prefsElement(p storage.ArchivePrefs) *Element {
	out := NewElement(nsMAM, "prefs", "default", p.Default)
	for _, list := range []struct {
		name string
		jids []string
	}{{"always", p.Always}, {"never", p.Never}} {
		el := NewElement(nsMAM, list.name)
		for _, j := range list.jids {
			el.Append(NewElement(nsMAM, "jid").AppendText(j))
		}
		out.Append(el)
	}
	return out
}

// archivable says whether a 1:1 message goes to the archives: chat or
// normal, with a body (or XEP-0334's <store/>), and no <no-store/> or
// <no-permanent-store/> hint (XEP-0313 §7 leaves the choice to the
// server; these are what clients show as a conversation).
func archivable(m *Element, typ string) bool {
	if typ != "chat" && typ != "normal" {
		return false
	}
	content := false
	for _, c := range m.Elements() {
		switch {
		case c.Name.Space == nsHints && (c.Name.Local == "no-store" || c.Name.Local == "no-permanent-store"):
			return false
		case c.Name.Space == nsHints && c.Name.Local == "store",
			c.Name.Space == nsClient && c.Name.Local == "body" && c.Text() != "":
			content = true
		case c.Name.Space == nsCarbons && c.Name.Local != "private", c.Name.Space == nsMAM:
			return false // a carbon or an archive result is not a new message
		}
	}
	return content
}

// withoutOwnStanzaIDs removes the stanza-ids that claim to be by one of
// the given archives: only this server assigns those (XEP-0359 §3.1).
func withoutOwnStanzaIDs(m *Element, archives ...string) {
	out := m.Children[:0:0]
	for _, c := range m.Children {
		if ce, ok := c.(*Element); ok && ce.Name.Space == nsStanzaID && ce.Name.Local == "stanza-id" && slices.Contains(archives, ce.AttrValue("by")) {
			continue
		}
		out = append(out, c)
	}
	m.Children = out
}

// archiveWanted applies owner's preferences (XEP-0313 §6.1) to a message
// with the bare JID with.
func (s *Server) archiveWanted(ctx context.Context, owner, with string) (bool, error) {
	p, err := s.cfg.Store.ArchivePrefs(ctx, owner)
	if err != nil {
		return false, err
	}
	switch {
	case slices.Contains(p.Never, with):
		return false, nil
	case slices.Contains(p.Always, with):
		return true, nil
	case p.Default == storage.ArchiveNever:
		return false, nil
	case p.Default == storage.ArchiveRoster:
		// "roster": the contacts on the owner's roster.
		_, err := s.cfg.Store.RosterItem(ctx, owner, with)
		if isNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}
	return true, nil
}

// archiveDirect archives m, a 1:1 message from from to to of type typ, in
// the archive of each party that is a local account (local says which),
// with the compliance event that records it, in one transaction. It
// returns the stanza-ids the sender's and the recipient's archives
// assigned ("" where none did). A message that is not archivable is only
// captured when it has a body. An unknown local recipient archives
// nothing: the message is refused on delivery.
func (s *Server) archiveDirect(ctx context.Context, m *Element, typ string, from, to jid.JID, senderLocal, recipientLocal bool) (senderID, recipientID string, err error) {
	body := ""
	if b := m.Child(nsClient, "body"); b != nil {
		body = b.Text()
	}
	keep := archivable(m, typ)
	if !keep && body == "" {
		return "", "", nil
	}
	fromBare, toBare := from.Bare().String(), to.Bare().String()
	var rows []storage.ArchivedMessage
	add := func(owner jid.JID, with string, outgoing bool) (string, error) {
		ok, err := s.archiveWanted(ctx, owner.Localpart(), with)
		if err != nil || !ok {
			return "", err
		}
		id := randomID(10)
		rows = append(rows, storage.ArchivedMessage{Owner: owner.Localpart(), StanzaID: id, With: with,
			Outgoing: outgoing, Body: body})
		return id, nil
	}
	if keep && senderLocal {
		if senderID, err = add(from, toBare, true); err != nil {
			return "", "", err
		}
	}
	if keep && recipientLocal && toBare != fromBare {
		if recipientID, err = add(to, fromBare, false); err != nil {
			return "", "", err
		}
	}
	// The stored stanza is the message as the archive's owner sees it:
	// with its own stanza-id.
	for i := range rows {
		stored := m.Copy()
		stored.Append(NewElement(nsStanzaID, "stanza-id", "id", rows[i].StanzaID, "by", rows[i].Owner+"@"+s.cfg.Domain))
		rows[i].Stanza = stored.Bytes()
	}
	payload, _ := json.Marshal(map[string]string{"from": from.String(), "to": toBare, "to_jid": to.String(), "type": typ,
		"id": m.AttrValue("id"), "body": body, "sender_stanza_id": senderID, "recipient_stanza_id": recipientID})
	ev := &storage.OutboxEvent{EventID: randomID(12), Type: EventDirect, Actor: fromBare, Time: time.Now().UTC(), Payload: payload}
	if body == "" {
		ev = nil // chat states and the like: nothing said
	}
	if len(rows) == 0 && ev == nil {
		return "", "", nil
	}
	err = s.cfg.Store.ArchiveMessages(ctx, rows, ev)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "", "", nil
	case err != nil:
		return "", "", fmt.Errorf("archiving a message from %s to %s: %w", fromBare, toBare, err)
	}
	return senderID, recipientID, nil
}

// stampStanzaID returns m with the stanza-id of archive's owner's
// archive (XEP-0359), or m itself when there is none.
func (s *Server) stampStanzaID(m *Element, id string, archive jid.JID) *Element {
	if id == "" {
		return m
	}
	out := m.Copy()
	out.Append(NewElement(nsStanzaID, "stanza-id", "id", id, "by", archive.Bare().String()))
	return out
}
