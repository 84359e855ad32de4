package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/backend"
)

// result is what one parleyctl run produced.
type result struct {
	code           int
	stdout, stderr string
}

// ctlRunner runs parleyctl in-process against one temporary data directory.
type ctlRunner struct {
	t    *testing.T
	data string
}

func newRunner(t *testing.T) *ctlRunner {
	return &ctlRunner{t: t, data: t.TempDir()}
}

// run runs parleyctl --data DIR args... with stdin.
func (r *ctlRunner) run(stdin string, args ...string) result {
	r.t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"--data", r.data}, args...), strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// must runs and fails the test unless the exit status is want.
func (r *ctlRunner) must(want int, stdin string, args ...string) result {
	r.t.Helper()
	res := r.run(stdin, args...)
	if res.code != want {
		r.t.Fatalf("parleyctl %q: exit %d, want %d\nstdout: %s\nstderr: %s", args, res.code, want, res.stdout, res.stderr)
	}
	return res
}

// checkPassword verifies that the stored SCRAM-SHA-256 credential of user
// belongs to password.
func (r *ctlRunner) checkPassword(user, password string) bool {
	r.t.Helper()
	ctx := context.Background()
	store, err := backend.Open(ctx, "sqlite:"+filepath.Join(r.data, "parley.db"), contentrules.Rules{})
	if err != nil {
		r.t.Fatal(err)
	}
	defer store.Close()
	cred, err := store.ScramCredential(ctx, user, auth.ScramSHA256)
	if err != nil {
		r.t.Fatalf("credential of %s: %v", user, err)
	}
	client, err := scram.SHA256.NewClient(user, password, "")
	if err != nil {
		r.t.Fatal(err)
	}
	want := client.GetStoredCredentials(scram.KeyFactors{Salt: string(cred.Salt), Iters: cred.Iterations})
	return hmac.Equal(want.StoredKey, cred.StoredKey)
}

func TestUserAddListDelete(t *testing.T) {
	r := newRunner(t)
	res := r.must(exitOK, "", "user", "add", "alice", "--password", "wonderland")
	if res.stdout != "added alice@localhost\n" {
		t.Errorf("user add stdout = %q", res.stdout)
	}
	if !r.checkPassword("alice", "wonderland") {
		t.Error("alice's stored credential does not match her password")
	}
	// Flags before the name, and the password from stdin.
	r.must(exitOK, "builder\n", "--domain", "example.org", "user", "add", "Bob")
	if !r.checkPassword("bob", "builder") {
		t.Error("bob's stored credential does not match the password read from stdin")
	}
	// An empty --password is refused; a last line without a newline is a
	// password.
	r.must(exitFailure, "", "user", "add", "--password=", "carol")
	r.must(exitOK, "x", "user", "add", "dave")
	if !r.checkPassword("dave", "x") {
		t.Error("dave's stored credential does not match the password read from stdin")
	}

	res = r.must(exitOK, "", "user", "list")
	if res.stdout != "alice\nbob\ndave\n" {
		t.Errorf("user list = %q, want alice, bob, dave (carol's empty --password must fail)", res.stdout)
	}

	res = r.must(exitOK, "", "user", "delete", "ALICE")
	if res.stdout != "deleted alice@localhost\n" {
		t.Errorf("user delete stdout = %q", res.stdout)
	}
	res = r.must(exitOK, "", "user", "list")
	if res.stdout != "bob\ndave\n" {
		t.Errorf("user list after delete = %q", res.stdout)
	}
}

func TestUserPasswd(t *testing.T) {
	r := newRunner(t)
	r.must(exitOK, "", "user", "add", "alice", "--password", "old")
	res := r.must(exitOK, "new\n", "user", "passwd", "alice")
	if res.stdout != "changed the password of alice@localhost\n" {
		t.Errorf("user passwd stdout = %q", res.stdout)
	}
	if !r.checkPassword("alice", "new") || r.checkPassword("alice", "old") {
		t.Error("password not changed")
	}
	r.must(exitOK, "", "user", "passwd", "alice", "--password", "newer")
	if !r.checkPassword("alice", "newer") {
		t.Error("password not changed by --password")
	}
}

func TestFailures(t *testing.T) {
	r := newRunner(t)
	r.must(exitOK, "", "user", "add", "alice", "--password", "pw")
	tests := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"user", "add", "alice", "--password", "pw"}, "parleyctl: user add alice: user already exists\n"},
		{"", []string{"user", "add", "Alice", "--password", "pw"}, "parleyctl: user add Alice: user already exists\n"},
		{"", []string{"user", "delete", "nobody"}, "parleyctl: user delete nobody: no such user\n"},
		{"pw\n", []string{"user", "passwd", "nobody"}, "parleyctl: user passwd nobody: no such user\n"},
		{"", []string{"user", "add", "bob"}, "parleyctl: user add bob: no password given: use --password or write it to stdin\n"},
		{"\n", []string{"user", "add", "bob"}, "parleyctl: user add bob: empty password\n"},
		{"", []string{"user", "add", "a@b", "--password", "pw"}, "parleyctl: user add a@b: auth: invalid username"},
	}
	for _, tt := range tests {
		res := r.run(tt.stdin, tt.args...)
		if res.code != exitFailure || !strings.HasPrefix(res.stderr, tt.want) || strings.Count(res.stderr, "\n") != 1 {
			t.Errorf("parleyctl %q: exit %d, stderr %q; want exit 1 and one line starting %q", tt.args, res.code, res.stderr, tt.want)
		}
	}
	// A bad config is a failure too, naming the key.
	res := r.run("", "--config", filepath.Join(t.TempDir(), "missing.toml"), "user", "list")
	if res.code != exitFailure || !strings.HasPrefix(res.stderr, "parleyctl: config: ") {
		t.Errorf("missing config: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestUsage(t *testing.T) {
	r := newRunner(t)
	for _, args := range [][]string{
		{},
		{"user"},
		{"user", "frobnicate"},
		{"group", "add", "x"},
		{"user", "add"},
		{"user", "add", "a", "b"},
		{"user", "list", "extra"},
		{"user", "delete"},
		{"user", "add", "alice", "--pasword", "x"},
		{"--no-such-flag", "user", "list"},
	} {
		res := r.run("", args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, "Usage: parleyctl") {
			t.Errorf("parleyctl %q: exit %d, stderr %q; want exit 2 with usage", args, res.code, res.stderr)
		}
	}
	// Nothing was created by the usage errors.
	if res := r.must(exitOK, "", "user", "list"); res.stdout != "" {
		t.Errorf("user list = %q, want nothing", res.stdout)
	}
	if res := r.run("", "--help"); res.code != exitOK || !strings.Contains(res.stderr, "user add NAME") {
		t.Errorf("--help: exit %d, stderr %q", res.code, res.stderr)
	}
	if res := r.run("", "--version"); res.code != exitOK || !strings.HasPrefix(res.stdout, "parleyctl 0.1.0-dev (") {
		t.Errorf("--version: exit %d, stdout %q", res.code, res.stdout)
	}
}

// TestSharedConfigFile checks that parleyctl accepts a config file written
// for parleyd, with keys it has no flags for.
func TestSharedConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "parley.toml")
	content := "data = \"" + filepath.Join(dir, "data") + "\"\ndomain = \"example.org\"\nxmpp-c2s = \"127.0.0.1:5222\"\nmax-stanza-size = \"1MiB\"\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--config", file, "user", "add", "alice", "--password", "pw"}, strings.NewReader(""), &out, &errOut)
	if code != exitOK || out.String() != "added alice@example.org\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}

// parleyctl user tokens: the FAST tokens (XEP-0484) a user's devices hold
// are listed, and revoked one device at a time or all at once.
func TestUserTokens(t *testing.T) {
	r := newRunner(t)
	r.must(exitOK, "", "user", "add", "alice", "--password", "wonderland")
	ctx := context.Background()
	store, err := backend.Open(ctx, "sqlite:"+filepath.Join(r.data, "parley.db"), contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	for _, agent := range []string{"phone-uuid", "laptop-uuid"} {
		if err := store.PutFastToken(ctx, storage.FastToken{Owner: "alice", AgentID: agent, Mechanism: "HT-SHA-256-NONE", Hash: []byte{1}, Expires: exp, Software: "Conversations", Device: agent}); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	res := r.must(exitOK, "", "user", "tokens", "list", "alice@localhost")
	if !strings.Contains(res.stdout, "phone-uuid") || !strings.Contains(res.stdout, "laptop-uuid") || !strings.Contains(res.stdout, "Conversations") {
		t.Errorf("tokens list = %q", res.stdout)
	}
	r.must(exitUsage, "", "user", "tokens", "revoke", "alice")
	r.must(exitFailure, "", "user", "tokens", "revoke", "alice", "--agent", "nope")
	res = r.must(exitOK, "", "user", "tokens", "revoke", "alice", "--agent", "phone-uuid")
	if res.stdout != "revoked 1 FAST token(s) of alice@localhost\n" {
		t.Errorf("revoke --agent = %q", res.stdout)
	}
	res = r.must(exitOK, "", "user", "tokens", "list", "alice")
	if strings.Contains(res.stdout, "phone-uuid") || !strings.Contains(res.stdout, "laptop-uuid") {
		t.Errorf("after revoking the phone: %q", res.stdout)
	}
	r.must(exitOK, "", "user", "tokens", "revoke", "alice", "--all")
	if res = r.must(exitOK, "", "user", "tokens", "list", "alice"); strings.Contains(res.stdout, "uuid") {
		t.Errorf("after revoking all: %q", res.stdout)
	}
}
