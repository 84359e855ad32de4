package backend_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage/backend"
	"github.com/parleychat/parley/storage/sqlite"
)

func TestOpenRejectsUnknownForms(t *testing.T) {
	const password = "Sekr1t-Pa55word"
	for _, c := range []struct {
		dsn  string
		want string // in the error
	}{
		{"", "no kind given"},
		{"parley.db", "no kind given"},
		{"sqlite:", "empty path"},
		{"mysql:", "empty DSN"},
		{"postgres://parley@db/parley", `unknown storage kind "postgres"`},
		{"SQLite:parley.db", `unknown storage kind "SQLite"`},
		{"sqlite3:parley.db", `unknown storage kind "sqlite3"`},
		// A DSN without its kind: nothing of it may be echoed.
		{"root:" + password + "@tcp(127.0.0.1:3306)/parley", `unknown storage kind "root"`},
		{"root@tcp(127.0.0.1:3306)/parley?password=" + password, "unknown storage kind (not shown)"},
		{"mysq:root:" + password + "@tcp(127.0.0.1:3306)/parley", `unknown storage kind "mysq"`},
		// Handed on to the driver, whose complaint must not echo it either.
		{"mysql:root:" + password + "@tcp(127.0.0.1:3306", "parse DSN"},
	} {
		s, err := backend.Open(t.Context(), c.dsn, contentrules.Rules{})
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", c.dsn)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("Open(%q) = %q, want it to say %q", c.dsn, msg, c.want)
		}
		if strings.Contains(msg, password) {
			t.Errorf("Open(%q) = %q: reveals the password", c.dsn, msg)
		}
		if strings.Contains(c.want, "kind") && !strings.Contains(msg, backend.Forms) {
			t.Errorf("Open(%q) = %q: does not list the accepted forms", c.dsn, msg)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "parley.db")
	s, err := backend.Open(t.Context(), "sqlite:"+path, contentrules.Rules{})
	if err != nil {
		t.Fatalf("Open(sqlite:%s): %v", path, err)
	}
	defer s.Close()
	if _, ok := s.(*sqlite.Store); !ok {
		t.Errorf("Open(sqlite:...) returned a %T", s)
	}
	if err := s.CreateAccount(t.Context(), "alice", nil, nil, nil); err != nil {
		t.Errorf("CreateAccount: %v", err)
	}
}
