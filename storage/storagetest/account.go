package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

func archived(owner, id, with string, out bool, body string) storage.ArchivedMessage {
	return storage.ArchivedMessage{Owner: owner, StanzaID: id, With: with, Outgoing: out, Body: body,
		Stanza: []byte(`<message type="chat"><body>` + body + `</body></message>`)}
}

func stanzaIDs(msgs []storage.ArchivedMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.StanzaID
	}
	return out
}

func (e *env) archivePage(q storage.ArchiveQuery) ([]string, bool) {
	e.t.Helper()
	msgs, complete, err := e.store.ArchivedMessages(e.ctx, q)
	if err != nil {
		e.t.Fatalf("ArchivedMessages(%+v): %v", q, err)
	}
	return stanzaIDs(msgs), complete
}

var accountArchiveTests = []test{
	{"BothArchivesAndTheEventInOneTransaction", func(t *testing.T, e *env) {
		e.createAccount("alice")
		e.createAccount("bob")
		msgs := []storage.ArchivedMessage{
			archived("alice", "a1", "bob@example.org", true, "hello bob"),
			archived("bob", "b1", "alice@example.org", false, "hello bob"),
		}
		ev := storage.OutboxEvent{EventID: "ev-dm-1", Type: "message.direct", Actor: "alice@example.org", Payload: []byte(`{"to":"bob@example.org"}`)}
		if err := e.store.ArchiveMessages(e.ctx, msgs, &ev); err != nil {
			t.Fatalf("ArchiveMessages: %v", err)
		}
		if msgs[0].ID == 0 || msgs[1].ID == 0 {
			t.Errorf("IDs not set: %+v", msgs)
		}
		e.reopen()
		got, err := e.store.ArchivedByStanzaID(e.ctx, "bob", "b1")
		if err != nil || got.With != "alice@example.org" || got.Outgoing || got.Body != "hello bob" || string(got.Stanza) != string(msgs[1].Stanza) {
			t.Errorf("ArchivedByStanzaID(bob, b1) = %+v, %v", got, err)
		}
		if _, err := e.store.ArchivedByStanzaID(e.ctx, "alice", "b1"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("bob's id in alice's archive: %v, want ErrNotFound", err)
		}
		evs, err := e.store.ReadOutbox(e.ctx, 0, 10)
		if err != nil || len(evs) != 1 || evs[0].EventID != "ev-dm-1" {
			t.Errorf("outbox = %+v, %v; want the one event", evs, err)
		}
		// An unknown owner writes nothing, not even the other half.
		err = e.store.ArchiveMessages(e.ctx, []storage.ArchivedMessage{
			archived("alice", "a2", "nobody@example.org", true, "lost"),
			archived("nobody", "n1", "alice@example.org", false, "lost"),
		}, nil)
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("archiving for an unknown owner: %v, want ErrNotFound", err)
		}
		if ids, _ := e.archivePage(storage.ArchiveQuery{Owner: "alice", Limit: 10}); !slices.Equal(ids, []string{"a1"}) {
			t.Errorf("alice's archive after a failed write = %v", ids)
		}
		if err := e.store.ArchiveMessages(e.ctx, []storage.ArchivedMessage{archived("alice", "a1", "x@example.org", true, "dup")}, nil); !errors.Is(err, storage.ErrExists) {
			t.Errorf("a stanza-id twice: %v, want ErrExists", err)
		}
	}},

	{"PagingFiltersAndFullText", func(t *testing.T, e *env) {
		e.createAccount("alice")
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		var msgs []storage.ArchivedMessage
		for i := range 10 {
			with := "bob@example.org"
			if i%2 == 1 {
				with = "carol@example.org"
			}
			body := fmt.Sprintf("message %d", i)
			if i == 7 {
				body = "Deployment at the Café 🦊"
			}
			m := archived("alice", fmt.Sprintf("m%d", i), with, i%3 == 0, body)
			m.Time = t0.Add(time.Duration(i) * time.Minute)
			msgs = append(msgs, m)
		}
		if err := e.store.ArchiveMessages(e.ctx, msgs, nil); err != nil {
			t.Fatal(err)
		}
		ids, complete := e.archivePage(storage.ArchiveQuery{Owner: "alice", Limit: 3})
		if !slices.Equal(ids, []string{"m0", "m1", "m2"}) || complete {
			t.Errorf("first page = %v complete %v", ids, complete)
		}
		ids, complete = e.archivePage(storage.ArchiveQuery{Owner: "alice", Limit: 3, Last: true})
		if !slices.Equal(ids, []string{"m7", "m8", "m9"}) || complete {
			t.Errorf("last page = %v complete %v", ids, complete)
		}
		ids, complete = e.archivePage(storage.ArchiveQuery{Owner: "alice", Limit: 3, AfterID: msgs[7].ID})
		if !slices.Equal(ids, []string{"m8", "m9"}) || !complete {
			t.Errorf("after m7 = %v complete %v", ids, complete)
		}
		ids, _ = e.archivePage(storage.ArchiveQuery{Owner: "alice", Limit: 2, BeforeID: msgs[3].ID, Last: true})
		if !slices.Equal(ids, []string{"m1", "m2"}) {
			t.Errorf("before m3, last 2 = %v", ids)
		}
		ids, _ = e.archivePage(storage.ArchiveQuery{Owner: "alice", Limit: 10, With: "carol@example.org"})
		if !slices.Equal(ids, []string{"m1", "m3", "m5", "m7", "m9"}) {
			t.Errorf("with carol = %v", ids)
		}
		ids, _ = e.archivePage(storage.ArchiveQuery{Owner: "alice", Limit: 10, Start: t0.Add(2 * time.Minute), End: t0.Add(4 * time.Minute)})
		if !slices.Equal(ids, []string{"m2", "m3", "m4"}) {
			t.Errorf("start..end = %v", ids)
		}
		for _, search := range []string{"deploy cafe", "🦊", "CAFÉ"} {
			ids, _ = e.archivePage(storage.ArchiveQuery{Owner: "alice", Limit: 10, FullText: search})
			if !slices.Equal(ids, []string{"m7"}) {
				t.Errorf("full text %q = %v", search, ids)
			}
		}
		if ids, _ = e.archivePage(storage.ArchiveQuery{Owner: "alice", Limit: 10, FullText: "deployment", With: "bob@example.org"}); len(ids) != 0 {
			t.Errorf("full text with the wrong party = %v", ids)
		}
		if n, err := e.store.CountArchived(e.ctx, storage.ArchiveQuery{Owner: "alice", With: "bob@example.org"}); n != 5 || err != nil {
			t.Errorf("CountArchived(with bob) = %d, %v; want 5", n, err)
		}
		if ids, _ = e.archivePage(storage.ArchiveQuery{Owner: "bob", Limit: 10}); len(ids) != 0 {
			t.Errorf("another owner's archive = %v", ids)
		}
	}},

	{"Preferences", func(t *testing.T, e *env) {
		e.createAccount("alice")
		p, err := e.store.ArchivePrefs(e.ctx, "alice")
		if err != nil || p.Default != storage.ArchiveAlways || p.Always != nil || p.Never != nil {
			t.Errorf("default preferences = %+v, %v", p, err)
		}
		want := storage.ArchivePrefs{Default: storage.ArchiveRoster, Always: []string{"b@x", "a@x"}, Never: []string{"spam@x"}}
		if err := e.store.SetArchivePrefs(e.ctx, "alice", want); err != nil {
			t.Fatal(err)
		}
		e.reopen()
		p, err = e.store.ArchivePrefs(e.ctx, "alice")
		if err != nil || p.Default != "roster" || !slices.Equal(p.Always, []string{"a@x", "b@x"}) || !slices.Equal(p.Never, []string{"spam@x"}) {
			t.Errorf("preferences = %+v, %v", p, err)
		}
		if err := e.store.SetArchivePrefs(e.ctx, "alice", storage.ArchivePrefs{Default: "sometimes"}); err == nil {
			t.Error("an unknown default was accepted")
		}
		if err := e.store.SetArchivePrefs(e.ctx, "nobody", want); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("preferences of an unknown owner: %v, want ErrNotFound", err)
		}
	}},

	{"PurgeKeepsHeld", func(t *testing.T, e *env) {
		e.createAccount("alice")
		e.createAccount("held")
		old := time.Now().Add(-48 * time.Hour)
		msgs := []storage.ArchivedMessage{
			archived("alice", "a1", "bob@example.org", true, "old"),
			archived("alice", "a2", "held@example.org", false, "old, from a held user"),
			archived("held", "h1", "bob@example.org", true, "old, held archive"),
			archived("alice", "a3", "bob@example.org", true, "new"),
		}
		for i := range 3 {
			msgs[i].Time = old
		}
		if err := e.store.ArchiveMessages(e.ctx, msgs, nil); err != nil {
			t.Fatal(err)
		}
		n, err := e.store.PurgeArchives(e.ctx, storage.ArchivePurge{Before: time.Now().Add(-time.Hour), Limit: 10,
			KeepOwners: []string{"held"}, KeepWith: []string{"held@example.org"},
			Event: func(n int, newest time.Time) storage.OutboxEvent {
				return storage.OutboxEvent{EventID: "purge-1", Type: "retention.purge", Actor: "test", Payload: []byte(fmt.Sprintf(`{"deleted":%d}`, n))}
			}})
		if n != 1 || err != nil {
			t.Fatalf("PurgeArchives = %d, %v; want 1", n, err)
		}
		if ids, _ := e.archivePage(storage.ArchiveQuery{Owner: "alice", Limit: 10}); !slices.Equal(ids, []string{"a2", "a3"}) {
			t.Errorf("alice's archive after purge = %v", ids)
		}
		if ids, _ := e.archivePage(storage.ArchiveQuery{Owner: "alice", Limit: 10, FullText: "old"}); !slices.Equal(ids, []string{"a2"}) {
			t.Errorf("full-text after purge = %v (the index must forget purged rows)", ids)
		}
		if ids, _ := e.archivePage(storage.ArchiveQuery{Owner: "held", Limit: 10}); !slices.Equal(ids, []string{"h1"}) {
			t.Errorf("held archive after purge = %v", ids)
		}
		if evs, _ := e.store.ReadOutbox(e.ctx, 0, 10); len(evs) != 1 || evs[0].EventID != "purge-1" {
			t.Errorf("outbox after purge = %+v", evs)
		}
	}},

	{"GoesWithTheAccount", func(t *testing.T, e *env) {
		e.createAccount("alice")
		if err := e.store.ArchiveMessages(e.ctx, []storage.ArchivedMessage{archived("alice", "a1", "bob@example.org", true, "x")}, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.store.Block(e.ctx, "alice", []string{"bob@example.org"}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.SetArchivePrefs(e.ctx, "alice", storage.ArchivePrefs{Default: "never"}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.DeleteAccount(e.ctx, "alice", nil); err != nil {
			t.Fatal(err)
		}
		e.createAccount("alice")
		if ids, _ := e.archivePage(storage.ArchiveQuery{Owner: "alice", Limit: 10}); len(ids) != 0 {
			t.Errorf("archive survived the account: %v", ids)
		}
		if l, _ := e.store.Blocklist(e.ctx, "alice"); len(l) != 0 {
			t.Errorf("blocklist survived the account: %v", l)
		}
		if p, _ := e.store.ArchivePrefs(e.ctx, "alice"); p.Default != storage.ArchiveAlways {
			t.Errorf("preferences survived the account: %+v", p)
		}
	}},
}

var blocklistTests = []test{
	{"BlockUnblock", func(t *testing.T, e *env) {
		e.createAccount("alice")
		if l, err := e.store.Blocklist(e.ctx, "alice"); len(l) != 0 || err != nil {
			t.Errorf("empty blocklist = %v, %v", l, err)
		}
		if err := e.store.Block(e.ctx, "alice", []string{"romeo@example.net", "example.com", "iago@example.org/phone"}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.Block(e.ctx, "alice", []string{"romeo@example.net", "zed@example.org"}); err != nil {
			t.Fatalf("blocking again: %v", err)
		}
		e.reopen()
		want := []string{"example.com", "iago@example.org/phone", "romeo@example.net", "zed@example.org"}
		if l, err := e.store.Blocklist(e.ctx, "alice"); !slices.Equal(l, want) || err != nil {
			t.Errorf("Blocklist = %v, %v; want %v", l, err, want)
		}
		if err := e.store.Unblock(e.ctx, "alice", []string{"romeo@example.net", "not@there"}); err != nil {
			t.Fatal(err)
		}
		if l, _ := e.store.Blocklist(e.ctx, "alice"); !slices.Equal(l, []string{"example.com", "iago@example.org/phone", "zed@example.org"}) {
			t.Errorf("after unblock = %v", l)
		}
		if err := e.store.Unblock(e.ctx, "alice", nil); err != nil {
			t.Fatal(err)
		}
		if l, _ := e.store.Blocklist(e.ctx, "alice"); len(l) != 0 {
			t.Errorf("after unblocking all = %v", l)
		}
		if err := e.store.Block(e.ctx, "nobody", []string{"x@y"}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("blocking for an unknown owner: %v, want ErrNotFound", err)
		}
	}},
}
