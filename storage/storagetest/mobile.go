package storagetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

var fastTokenTests = []test{
	{"PutRotateDelete", func(t *testing.T, e *env) {
		e.createAccount("alice")
		if _, err := e.store.FastToken(e.ctx, "alice", "phone"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("FastToken before any: %v, want ErrNotFound", err)
		}
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		tok := storage.FastToken{Owner: "alice", AgentID: "phone", Mechanism: "HT-SHA-256-NONE", Hash: bytes.Repeat([]byte{1}, 32),
			Expires: exp, Software: "AwesomeXMPP", Device: "Kiva's Phone 📱"}
		if err := e.store.PutFastToken(e.ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := e.store.PutFastToken(e.ctx, storage.FastToken{Owner: "alice", AgentID: "laptop", Mechanism: "HT-SHA-256-EXPR", Hash: []byte{2}, Expires: exp}); err != nil {
			t.Fatal(err)
		}
		// Rotation: the old hash moves to Prev, the count rises.
		tok.PrevHash, tok.PrevExpires = tok.Hash, exp
		tok.Hash, tok.Count, tok.Used = bytes.Repeat([]byte{3}, 32), 7, exp.Add(-time.Minute)
		if err := e.store.PutFastToken(e.ctx, tok); err != nil {
			t.Fatal(err)
		}
		e.reopen()
		got, err := e.store.FastToken(e.ctx, "alice", "phone")
		if err != nil || !bytes.Equal(got.Hash, tok.Hash) || !bytes.Equal(got.PrevHash, tok.PrevHash) || got.Count != 7 ||
			!got.Expires.Equal(exp) || !got.PrevExpires.Equal(exp) || !got.Used.Equal(tok.Used) || got.Device != tok.Device || got.Created.IsZero() {
			t.Errorf("FastToken = %+v, %v; want %+v", got, err, tok)
		}
		all, err := e.store.FastTokens(e.ctx, "alice")
		if err != nil || len(all) != 2 || all[0].AgentID != "laptop" || all[1].AgentID != "phone" || !all[0].Used.IsZero() || len(all[0].PrevHash) != 0 {
			t.Errorf("FastTokens = %+v, %v", all, err)
		}
		if n, err := e.store.DeleteFastTokens(e.ctx, "alice", "phone"); n != 1 || err != nil {
			t.Errorf("DeleteFastTokens(phone) = %d, %v", n, err)
		}
		if _, err := e.store.FastToken(e.ctx, "alice", "phone"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("revoked token still there: %v", err)
		}
		if n, err := e.store.DeleteFastTokens(e.ctx, "alice", ""); n != 1 || err != nil {
			t.Errorf("DeleteFastTokens(all) = %d, %v", n, err)
		}
		if err := e.store.PutFastToken(e.ctx, storage.FastToken{Owner: "nobody", AgentID: "x", Mechanism: "HT-SHA-256-NONE", Hash: []byte{1}, Expires: exp}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("token for an unknown owner: %v, want ErrNotFound", err)
		}
	}},
	{"EndWithThePassword", func(t *testing.T, e *env) {
		e.createAccount("carol")
		if err := e.store.PutFastToken(e.ctx, storage.FastToken{Owner: "carol", AgentID: "a", Mechanism: "HT-SHA-256-NONE", Hash: []byte{1}, Expires: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		// A password change, or none (a disabled account).
		if err := e.store.SetCredentials(e.ctx, "carol", nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		if l, err := e.store.FastTokens(e.ctx, "carol"); len(l) != 0 || err != nil {
			t.Errorf("tokens after SetCredentials: %v, %v; want none", l, err)
		}
	}},
	{"GoWithTheAccount", func(t *testing.T, e *env) {
		e.createAccount("bob")
		exp := time.Now().Add(time.Hour)
		if err := e.store.PutFastToken(e.ctx, storage.FastToken{Owner: "bob", AgentID: "a", Mechanism: "HT-SHA-256-NONE", Hash: []byte{1}, Expires: exp}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.EnablePush(e.ctx, storage.PushRegistration{Owner: "bob", JID: "push.example", Node: "n1"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.store.DeleteAccount(e.ctx, "bob", nil); err != nil {
			t.Fatal(err)
		}
		e.createAccount("bob")
		if l, _ := e.store.FastTokens(e.ctx, "bob"); len(l) != 0 {
			t.Errorf("tokens survive the account: %v", l)
		}
		if l, _ := e.store.PushRegistrations(e.ctx, "bob"); len(l) != 0 {
			t.Errorf("push registrations survive the account: %v", l)
		}
	}},
}

var pushTests = []test{
	{"EnableDisable", func(t *testing.T, e *env) {
		e.createAccount("alice")
		ev := func(typ string) *storage.OutboxEvent {
			return &storage.OutboxEvent{EventID: typ + "-1", Type: typ, Actor: "alice@example.org", Payload: []byte(`{}`)}
		}
		if err := e.store.EnablePush(e.ctx, storage.PushRegistration{Owner: "alice", JID: "push.example", Node: "n1", Options: []byte("<x/>")}, ev("push.enable")); err != nil {
			t.Fatal(err)
		}
		if err := e.store.EnablePush(e.ctx, storage.PushRegistration{Owner: "alice", JID: "push.example", Node: "n2"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.store.EnablePush(e.ctx, storage.PushRegistration{Owner: "alice", JID: "push.example", Node: "n1", Options: []byte("<y/>")}, nil); err != nil {
			t.Fatalf("enabling again: %v", err)
		}
		e.reopen()
		l, err := e.store.PushRegistrations(e.ctx, "alice")
		if err != nil || len(l) != 2 || l[0].Node != "n1" || string(l[0].Options) != "<y/>" || l[1].Node != "n2" || l[1].Created.IsZero() {
			t.Fatalf("PushRegistrations = %+v, %v", l, err)
		}
		if n, err := e.store.DisablePush(e.ctx, "alice", "push.example", "n2", ev("push.disable")); n != 1 || err != nil {
			t.Errorf("DisablePush(n2) = %d, %v", n, err)
		}
		if n, err := e.store.DisablePush(e.ctx, "alice", "push.example", "", nil); n != 1 || err != nil {
			t.Errorf("DisablePush(all) = %d, %v", n, err)
		}
		if n, err := e.store.DisablePush(e.ctx, "alice", "push.example", "", nil); n != 0 || err != nil {
			t.Errorf("DisablePush of nothing = %d, %v", n, err)
		}
		evs, err := e.store.ReadOutbox(e.ctx, 0, 10)
		if err != nil || len(evs) != 2 || evs[0].Type != "push.enable" || evs[1].Type != "push.disable" {
			t.Errorf("outbox = %+v, %v; want push.enable, push.disable", evs, err)
		}
		if err := e.store.EnablePush(e.ctx, storage.PushRegistration{Owner: "nobody", JID: "p", Node: "n"}, nil); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("push for an unknown owner: %v, want ErrNotFound", err)
		}
	}},
}
