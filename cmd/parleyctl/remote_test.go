package main

import (
	"context"
	"encoding/pem"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage/backend"
)

// parleyctl --server runs the same commands through a node's admin API
// (here the real handler over its own database, on TLS): the output is the
// same as on the machine, the rules hold (the wall), the actor recorded is
// the administrator, and what only the machine can do is refused.
func TestServerFlag(t *testing.T) {
	ctx := context.Background()
	node := t.TempDir()
	store, err := backend.Open(ctx, "sqlite:"+filepath.Join(node, "parley.db"), contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	engine, err := muc.New(ctx, muc.Config{Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	svc := admin.New(admin.Config{Domain: "localhost", Store: store, Data: node,
		ComplianceStorage: "sqlite:" + filepath.Join(node, "compliance.db"),
		Engine:            func(context.Context) (admin.Engine, error) { return engine, nil }})
	for _, u := range []string{"alice", "bob"} {
		if _, err := svc.As(muc.ActorAdmin).AddUser(ctx, u, "pw-"+u); err != nil {
			t.Fatal(err)
		}
	}
	h, err := admin.NewHandler(admin.HandlerConfig{Service: svc, Domain: "localhost", Admins: []string{"alice"},
		Verifier: auth.StoredVerifier{Accounts: store}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	// Another machine: no data directory of the node's.
	r := newRunner(t)
	remote := func(args ...string) []string {
		return append([]string{"--server", srv.URL, "--server-user", "alice", "--server-ca", ca}, args...)
	}
	t.Setenv(envServerPW, "pw-alice")
	r.must(exitOK, "", remote("category", "add", "legal", "--deny", "mallory")...)
	res := r.must(exitOK, "", remote("room", "create", "Board", "--category", "legal", "--members", "bob")...)
	if res.stdout != "created room board@conference.localhost (closed, normal, category legal)\n" {
		t.Errorf("room create: %q", res.stdout)
	}
	r.wantFailure(`parleyctl: room members add board mallory: mallory@localhost is not allowed in category "legal"`, remote("room", "members", "add", "board", "mallory")...)
	res = r.must(exitOK, "", remote("room", "members", "add", "board", "bob")...)
	if res.stdout != "bob@localhost is already a member of board\n" {
		t.Errorf("adding bob again: %q", res.stdout)
	}
	res = r.must(exitOK, "", remote("room", "show", "board")...)
	wantFields(t, res.stdout, map[string]string{"members": "bob@localhost", "creator": "alice@localhost", "privacy": "closed"})
	r.wantFailure(`parleyctl: category set legal: --deny: invalid domain "@a@b": want @example.org`, remote("category", "set", "legal", "--deny", "@a@b")...)
	r.must(exitOK, "", remote("user", "add", "carol", "--password", "pw-carol")...)
	r.must(exitOK, "", remote("user", "disable", "carol")...)
	if res := r.must(exitOK, "", remote("user", "list")...); res.stdout != "alice\nbob\ncarol (disabled)\n" {
		t.Errorf("user list: %q", res.stdout)
	}
	// A SIP password set through the API keeps the XMPP one.
	if res := r.must(exitOK, "", remote("user", "sip-password", "bob", "--password", "sip-bob")...); res.stdout != "set the SIP password of bob@localhost\n" {
		t.Errorf("user sip-password: %q", res.stdout)
	}
	want, _ := auth.DeriveDigestCredentials("bob", "localhost", "sip-bob")
	if got, err := store.DigestCredential(ctx, "bob", "localhost", auth.DigestMD5); err != nil || got.HA1 != want[1].HA1 {
		t.Errorf("bob's MD5 digest credential after sip-password: %+v, %v; want HA1 %s", got, err, want[1].HA1)
	}
	if err := (auth.StoredVerifier{Accounts: store}).Verify(ctx, "bob", "pw-bob"); err != nil {
		t.Errorf("bob's XMPP password after sip-password: %v", err)
	}
	r.wantFailure("parleyctl: user sip-password nobody: no such user", remote("user", "sip-password", "nobody", "--password", "x")...)
	r.wantFailure("parleyctl: user sessions: only a running parleyd knows this", remote("user", "sessions")...)
	// The export streams from the node, its summary in the trailers; the
	// compliance database is empty here (no worker copies the outbox).
	out := filepath.Join(t.TempDir(), "export.jsonl")
	res = r.must(exitOK, "", remote("compliance", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--format", "json", "--out", out)...)
	if !strings.HasPrefix(res.stdout, "exported 0 events from 0 rooms, 0 B in ") {
		t.Errorf("remote export: %q", res.stdout)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("remote export: %v", err)
	}
	r.must(exitOK, "", remote("compliance", "hold", "add", "--user", "bob", "--reason", "case 7")...)
	if res := r.must(exitOK, "", remote("compliance", "hold", "list")...); !strings.Contains(res.stdout, "bob@localhost") || !strings.Contains(res.stdout, "alice@localhost") {
		t.Errorf("hold list: %q", res.stdout)
	}
	res = r.must(exitOK, "", remote("compliance", "status")...)
	wantFields(t, res.stdout, map[string]string{"captured events": "0"})
	r.wantFailure("parleyctl: backup: backup runs on the node's machine only, not with --server", remote("backup", "--out", filepath.Join(t.TempDir(), "b"))...)

	// Recorded with alice as the actor, on the node.
	evs, err := store.ReadOutbox(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var byAlice []string
	for _, ev := range evs {
		if ev.Actor == "alice@localhost" {
			byAlice = append(byAlice, ev.Type)
		}
	}
	for _, typ := range []string{"admin.login", "category.put", "room.create", "account.add", "account.disable", "compliance.export", "hold.add"} {
		if !slices.Contains(byAlice, typ) {
			t.Errorf("no %s event by alice@localhost: %v", typ, byAlice)
		}
	}

	// Wrong or missing credentials, a user who is not an administrator.
	t.Setenv(envServerPW, "wrong")
	r.wantFailure("parleyctl: category list: logging in to "+srv.URL+" as alice: wrong user or password", remote("category", "list")...)
	t.Setenv(envServerPW, "pw-bob")
	res = r.run("", append([]string{"--server", srv.URL, "--server-user", "bob", "--server-ca", ca}, "category", "list")...)
	if res.code != exitFailure || !strings.Contains(res.stderr, "bob@localhost is not an administrator of localhost") {
		t.Errorf("bob: exit %d, %q", res.code, res.stderr)
	}
	t.Setenv(envServerPW, "")
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("pw-alice\n"), 0o600)
	r.must(exitOK, "", remote("--server-password-file", pwFile, "category", "list")...)
	// An untrusted certificate is refused.
	r.wantFailure("parleyctl: category list: logging in to "+srv.URL, "--server", srv.URL, "--server-user", "alice", "--server-password-file", pwFile, "category", "list")
}
