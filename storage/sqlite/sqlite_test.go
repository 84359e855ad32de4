package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/sqlite"
	"github.com/parleychat/parley/storage/storagetest"
)

// TestConformance runs the storage conformance suite on a temporary SQLite
// file per subtest.
func TestConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) func() storage.Store {
			path := filepath.Join(t.TempDir(), "parley.db")
			return func() storage.Store {
				s, err := sqlite.Open(t.Context(), path)
				if err != nil {
					t.Fatalf("sqlite.Open(%s): %v", path, err)
				}
				return s
			}
		})
	})
}

func TestOpenCreatesDirectoryAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "nested", "parley.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.CreateAccount(t.Context(), "alice", nil); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("database file: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("database file mode = %v, want 0600 (it holds credentials)", perm)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no write-ahead log next to the open database: %v", err)
	}

	// Inspect the file with a connection of our own.
	db, err := sql.Open("sqlite", "file:"+path+"?_query_only=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var version int64
	if err := db.QueryRowContext(t.Context(), "SELECT max(version_id) FROM "+sqlite.VersionTable).Scan(&version); err != nil || version < 3 {
		t.Errorf("schema version in %s = %d, %v; want at least 3", sqlite.VersionTable, version, err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := sqlite.Open(t.Context(), ""); err == nil {
		t.Error(`Open("") succeeded`)
	}
	// A regular file where the directory should be.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(t.Context(), filepath.Join(file, "parley.db")); err == nil {
		t.Error("Open under a regular file succeeded")
	}
	// A file that is not a database.
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte("this is not an SQLite database, not even close......................................................"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlite.Open(t.Context(), junk); err == nil {
		s.Close()
		t.Error("Open of a file that is not a database succeeded")
	} else {
		t.Logf("Open(junk): %v", err)
	}
}
