package storagetest

import (
	"database/sql"
	"slices"
	"testing"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/sqlstore"
)

// StanzaRepairOpener prepares an empty database for StanzaRepair, like an
// Opener, and returns besides open what the test needs below the Store
// interface: migrateDownTo takes the database, while no Store is open on
// it, back to the content schema version given, keeping the rows that
// version has; conn returns a plain connection to it.
type StanzaRepairOpener func(t *testing.T) (open func() storage.Store, migrateDownTo func(version int64), conn func() *sql.DB)

// StanzaRepair checks the migration that repairs stored stanzas
// (sqlstore.StanzaRepairVersion, issue 18) on a database whose rows were
// written before it ran: the stanzas, as the XMPP front door stored them
// then, go through the Store API, the schema is taken back to the version
// before the repair, and the store is opened again, which runs it.
func StanzaRepair(t *testing.T, newDatabase StanzaRepairOpener) {
	open, migrateDownTo, conn := newDatabase(t)
	e := newEnv(t, func(*testing.T) func() storage.Store { return open })
	beforeRepair := func() { e.rerunFrom(migrateDownTo, sqlstore.StanzaRepairVersion) }
	e.lobby("lobby")
	if err := e.store.CreateAccount(e.ctx, "bob", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	history := []struct{ body, stanza, want string }{
		{"fine", `<message type="groupchat" id="1"><body>fine</body></message>`,
			`<message type="groupchat" id="1"><body>fine</body></message>`},
		{"twice", `<message type="groupchat" id="2"><body xml:lang="en" xml:lang="de">twice</body></message>`,
			`<message type="groupchat" id="2"><body xml:lang="en">twice</body></message>`},
		{"bell", "<message type=\"groupchat\" id=\"3\"><body>bell \a</body></message>",
			"<message type=\"groupchat\" id=\"3\"><body>bell \uFFFD</body></message>"},
		// A character reference to a character XML forbids cannot be
		// repaired without guessing: the row is replayed from its body.
		{"reference", `<message type="groupchat" id="4"><body>&#1;</body></message>`, ``},
		{"from SIP", ``, ``},
	}
	sids := make([]string, len(history))
	for i, h := range history {
		m := msg("lobby", "mallory", h.body)
		m.Stanza = []byte(h.stanza)
		sids[i] = m.StanzaID
		if _, err := e.store.AppendHistory(e.ctx, []storage.PostWrite{{History: m, Event: event("post", "lobby")}}); err != nil {
			t.Fatalf("AppendHistory(%s): %v", h.body, err)
		}
	}
	offline := []string{
		`<message to="bob@example.org" type="chat" id="o1"><body>hello</body></message>`,
		`<message to="bob@example.org" type="chat" id="o2" from="alice@example.org/a" from="mallory@example.org/x"><body>forged</body></message>`,
		`<message to="bob@example.org" type="chat" id="o3"><p:x/></message>`,
	}
	for _, o := range offline {
		if _, err := e.store.StoreOffline(e.ctx, storage.OfflineMessage{Owner: "bob", From: "alice@example.org/a", Stanza: []byte(o)}, 100); err != nil {
			t.Fatalf("StoreOffline: %v", err)
		}
	}
	for _, p := range []storage.PendingSubscription{
		{Owner: "bob", From: "carol@example.org", Stanza: []byte(`<presence type="subscribe" to="bob@example.org" type="subscribe"/>`)},
		{Owner: "bob", From: "dave@example.org", Stanza: []byte(`<presence type="subscribe" to="bob@example.org" xmlns:p=""/>`)},
	} {
		e.addPending(p)
	}

	beforeRepair()

	for i, h := range history {
		got, err := e.store.HistoryByStanzaID(e.ctx, "lobby", sids[i])
		if err != nil || string(got.Stanza) != h.want || got.Body != h.body {
			t.Errorf("history row %q after the repair: stanza %q, body %q (%v); want stanza %q", h.body, got.Stanza, got.Body, err, h.want)
		}
	}
	msgs, err := e.store.OfflineMessages(e.ctx, "bob")
	var stanzas []string
	for _, m := range msgs {
		stanzas = append(stanzas, string(m.Stanza))
	}
	wantOffline := []string{offline[0], `<message to="bob@example.org" type="chat" id="o2" from="alice@example.org/a"><body>forged</body></message>`}
	if err != nil || !slices.Equal(stanzas, wantOffline) {
		t.Errorf("offline messages after the repair: %q (%v); want %q", stanzas, err, wantOffline)
	}
	pending, err := e.store.PendingSubscriptions(e.ctx, "bob")
	if err != nil || len(pending) != 1 || string(pending[0].Stanza) != `<presence type="subscribe" to="bob@example.org"/>` {
		t.Errorf("pending subscriptions after the repair: %+v (%v); want carol's, repaired", pending, err)
	}

	type record struct{ table, outcome, original string }
	records := func() []record {
		t.Helper()
		rows, err := conn().QueryContext(e.ctx, `SELECT table_name, outcome, original FROM stanza_repairs ORDER BY id`)
		if err != nil {
			t.Fatalf("stanza_repairs: %v", err)
		}
		defer rows.Close()
		var out []record
		for rows.Next() {
			var r record
			var original []byte
			if err := rows.Scan(&r.table, &r.outcome, &original); err != nil {
				t.Fatal(err)
			}
			r.original = string(original)
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := []record{
		{"history", "repaired", history[1].stanza},
		{"history", "repaired", history[2].stanza},
		{"history", "quarantined", history[3].stanza},
		{"offline_messages", "repaired", offline[1]},
		{"offline_messages", "quarantined", offline[2]},
		{"pending_subscriptions", "repaired", `<presence type="subscribe" to="bob@example.org" type="subscribe"/>`},
		{"pending_subscriptions", "quarantined", `<presence type="subscribe" to="bob@example.org" xmlns:p=""/>`},
	}
	got := records()
	if len(got) != len(want) {
		t.Fatalf("stanza_repairs has %d rows, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("stanza_repairs row %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	// Run again, the repair finds nothing left to do.
	beforeRepair()
	if again := records(); len(again) != len(want) {
		t.Errorf("the repair run again recorded %d more rows", len(again)-len(want))
	}
}

// rerunFrom closes the store, takes its schema back to the version before
// version (migrateDownTo, keeping the rows) and opens it again, which runs
// the migrations from version on.
func (e *env) rerunFrom(migrateDownTo func(int64), version int64) {
	e.t.Helper()
	s := e.store
	e.store = nil
	if err := s.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	migrateDownTo(version - 1)
	e.store = e.open()
}
