package main

import (
	"regexp"
	"strings"
	"testing"
)

// fields parses the name/value lines of a show command.
func fields(t *testing.T, out string) map[string]string {
	t.Helper()
	m := make(map[string]string)
	for line := range strings.Lines(out) {
		kv := regexp.MustCompile(`\s{2,}`).Split(strings.TrimRight(line, "\n"), 2)
		if len(kv) != 2 {
			t.Fatalf("show line %q is not NAME  VALUE", line)
		}
		m[kv[0]] = kv[1]
	}
	return m
}

// wantFields checks some fields of a show command's output.
func wantFields(t *testing.T, out string, want map[string]string) {
	t.Helper()
	got := fields(t, out)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q\n%s", k, got[k], v, out)
		}
	}
}

// wantFailure runs args and checks for exit status 1 with one line on
// stderr that starts with want.
func (r *ctlRunner) wantFailure(want string, args ...string) {
	r.t.Helper()
	res := r.run("", args...)
	if res.code != exitFailure || !strings.HasPrefix(res.stderr, want) || strings.Count(res.stderr, "\n") != 1 {
		r.t.Errorf("parleyctl %q: exit %d, stderr %q; want exit 1 and one line starting %q", args, res.code, res.stderr, want)
	}
}

// wantUsage runs args and checks for exit status 2 with the usage text.
func (r *ctlRunner) wantUsage(args ...string) {
	r.t.Helper()
	res := r.run("", args...)
	if res.code != exitUsage || !strings.Contains(res.stderr, "Usage: parleyctl") {
		r.t.Errorf("parleyctl %q: exit %d, stderr %q; want exit 2 with usage", args, res.code, res.stderr)
	}
}

func TestCategoryAddListShowSetDelete(t *testing.T) {
	r := newRunner(t)
	// The engine makes the default category on first use.
	res := r.must(exitOK, "", "category", "list")
	want := "" +
		"NAME     ROOMS  UPLOAD  INVITATIONS  HISTORY  FEDERATED  DESCRIPTION\n" +
		"general  0      yes     yes          yes      yes        Rooms any user may create\n"
	if res.stdout != want {
		t.Errorf("category list =\n%s\nwant\n%s", res.stdout, want)
	}

	res = r.must(exitOK, "", "category", "add", "legal", "--description", "Legal\tteam",
		"--allow", "alice,Bob@LocalHost", "--allow", "mallory", "--deny=mallory", "--creators", "alice@localhost",
		"--upload=false", "--history", "false")
	if res.stdout != "added category legal\n" {
		t.Errorf("category add stdout = %q", res.stdout)
	}
	// Flags before the name; a new category's switches are on.
	r.must(exitOK, "", "category", "add", "--creators", "*", "open")

	res = r.must(exitOK, "", "category", "show", "legal")
	wantFields(t, res.stdout, map[string]string{
		"name":         "legal",
		"description":  "Legal team",
		"allowed":      "alice@localhost, bob@localhost, mallory@localhost",
		"denied":       "mallory@localhost",
		"creators":     "alice@localhost",
		"file upload":  "no",
		"invitations":  "yes",
		"chat history": "no",
		"rooms":        "-",
	})
	res = r.must(exitOK, "", "category", "show", "open")
	wantFields(t, res.stdout, map[string]string{"allowed": "* (everyone)", "creators": "* (everyone)", "file upload": "yes", "chat history": "yes"})

	// set changes only what it is given; an empty list empties it.
	res = r.must(exitOK, "", "category", "set", "legal", "--upload", "true", "--deny=", "--description", "Counsel", "--federated=false")
	if res.stdout != "changed category legal\n" {
		t.Errorf("category set stdout = %q", res.stdout)
	}
	res = r.must(exitOK, "", "category", "show", "legal")
	wantFields(t, res.stdout, map[string]string{
		"description":  "Counsel",
		"allowed":      "alice@localhost, bob@localhost, mallory@localhost",
		"denied":       "-",
		"file upload":  "yes",
		"chat history": "no",
		"federated":    "no",
	})
	// A whole domain (another server's users) is walled off with @DOMAIN.
	r.must(exitOK, "", "category", "set", "legal", "--deny", "@Rival.Example,spy@remote.test")
	if got := fields(t, r.must(exitOK, "", "category", "show", "legal").stdout)["denied"]; got != "rival.example, spy@remote.test" {
		t.Errorf("denied = %q, want the domain and the remote user", got)
	}
	r.wantFailure(`parleyctl: category set legal: --deny: invalid domain "@a@b": want @example.org`, "category", "set", "legal", "--deny", "@a@b")
	r.must(exitOK, "", "category", "set", "legal", "--deny=")

	r.must(exitOK, "", "room", "create", "brief", "--category", "legal")
	res = r.must(exitOK, "", "category", "list")
	want = "" +
		"NAME     ROOMS  UPLOAD  INVITATIONS  HISTORY  FEDERATED  DESCRIPTION\n" +
		"general  0      yes     yes          yes      yes        Rooms any user may create\n" +
		"legal    1      yes     yes          no       no         Counsel\n" +
		"open     0      yes     yes          yes      yes        -\n"
	if res.stdout != want {
		t.Errorf("category list =\n%s\nwant\n%s", res.stdout, want)
	}
	if res := r.must(exitOK, "", "category", "show", "legal"); fields(t, res.stdout)["rooms"] != "brief" {
		t.Errorf("category show lists rooms %q, want brief", fields(t, res.stdout)["rooms"])
	}

	r.wantFailure(`parleyctl: category delete legal: category "legal" still has rooms (e.g. "brief")`, "category", "delete", "legal")
	r.must(exitOK, "", "room", "delete", "brief")
	res = r.must(exitOK, "", "category", "delete", "legal")
	if res.stdout != "deleted category legal\n" {
		t.Errorf("category delete stdout = %q", res.stdout)
	}
	r.wantFailure(`parleyctl: category show legal: no category "legal"`, "category", "show", "legal")
}

func TestCategoryFailures(t *testing.T) {
	r := newRunner(t)
	r.must(exitOK, "", "category", "add", "legal")
	r.wantFailure(`parleyctl: category add legal: category "legal" exists`, "category", "add", "legal")
	r.wantFailure(`parleyctl: category add general: category "general" exists`, "category", "add", "general")
	r.wantFailure(`parleyctl: category set nope: no category "nope"`, "category", "set", "nope", "--upload=false")
	r.wantFailure(`parleyctl: category delete nope: no category "nope"`, "category", "delete", "nope")
	r.wantFailure(`parleyctl: category delete general: the default category "general" cannot be deleted`, "category", "delete", "general")
	r.wantFailure(`parleyctl: category add x: --allow: invalid user "a/b"`, "category", "add", "x", "--allow", "alice,a/b")
	r.wantFailure(`parleyctl: category add x: --deny: "*" (everyone) cannot be given here`, "category", "add", "x", "--deny", "*")
	// Nothing was stored by the failures.
	if res := r.must(exitOK, "", "category", "list"); strings.Count(res.stdout, "\n") != 3 {
		t.Errorf("category list =\n%s\nwant the header, general and legal", res.stdout)
	}

	for _, args := range [][]string{
		{"category"},
		{"category", "add"},
		{"category", "add", "a", "b"},
		{"category", "list", "extra"},
		{"category", "set", "legal"}, // nothing to change
		{"category", "add", "x", "--upload"},
		{"category", "add", "x", "--upload", "maybe"},
		{"category", "set", "legal", "--members", "alice"},
	} {
		r.wantUsage(args...)
	}
	if res := r.run("", "category", "add", "--help"); res.code != exitOK || !strings.Contains(res.stderr, "--upload true|false") {
		t.Errorf("category add --help: exit %d, stderr %q", res.code, res.stderr)
	}
}
