package sqlite_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/sqlite"
	"github.com/parleychat/parley/storage/storagetest"
)

// newDatabase is a storagetest.Opener: a temporary SQLite file per subtest.
func newDatabase(t *testing.T) func() storage.Store {
	return opener(t, filepath.Join(t.TempDir(), "parley.db"))
}

// opener returns a function that opens the store at path.
func opener(t *testing.T, path string) func() storage.Store {
	return func() storage.Store {
		s, err := sqlite.Open(t.Context(), path, contentrules.Rules{})
		if err != nil {
			t.Fatalf("sqlite.Open(%s): %v", path, err)
		}
		return s
	}
}

// TestConformance runs the storage conformance suite on a temporary SQLite
// file per subtest.
func TestConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		storagetest.Run(t, newDatabase)
	})
}

// TestStanzaRepair runs the stanza repair migration (issue 18) on rows
// written before it.
func TestStanzaRepair(t *testing.T) {
	storagetest.StanzaRepair(t, migrationOpener)
}

// TestIdentityNormalisation runs the migration that normalises stored JIDs
// (issue 18) on rows written before it.
func TestIdentityNormalisation(t *testing.T) {
	storagetest.IdentityNormalisation(t, migrationOpener)
}

// migrationOpener gives storagetest's migration tests (StanzaRepair,
// IdentityNormalisation) a fresh database, a way to take its schema back,
// and a plain connection.
func migrationOpener(t *testing.T) (func() storage.Store, func(int64), func() *sql.DB) {
	path := filepath.Join(t.TempDir(), "parley.db")
	migrateDownTo := func(version int64) {
		if err := sqlite.MigrateDownTo(t.Context(), path, version); err != nil {
			t.Fatalf("migrate %s down to %d: %v", path, version, err)
		}
	}
	conn := func() *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?_query_only=1")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	return opener(t, path), migrateDownTo, conn
}

func TestOpenCreatesDirectoryAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "nested", "parley.db")
	s, err := sqlite.Open(t.Context(), path, contentrules.Rules{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.CreateAccount(t.Context(), "alice", nil, nil, nil); err != nil {
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
	if err := db.QueryRowContext(t.Context(), "SELECT max(version_id) FROM "+sqlite.VersionTable).Scan(&version); err != nil || version < 6 {
		t.Errorf("schema version in %s = %d, %v; want at least 6", sqlite.VersionTable, version, err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := sqlite.Open(t.Context(), "", contentrules.Rules{}); err == nil {
		t.Error(`Open("") succeeded`)
	}
	// A regular file where the directory should be.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(t.Context(), filepath.Join(file, "parley.db"), contentrules.Rules{}); err == nil {
		t.Error("Open under a regular file succeeded")
	}
	// A file that is not a database.
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte("this is not an SQLite database, not even close......................................................"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlite.Open(t.Context(), junk, contentrules.Rules{}); err == nil {
		s.Close()
		t.Error("Open of a file that is not a database succeeded")
	} else {
		t.Logf("Open(junk): %v", err)
	}
	// No content rules: the content migrations 14 and 20 could not run,
	// so nothing is created or migrated.
	bare := filepath.Join(t.TempDir(), "parley.db")
	if s, err := sqlite.Open(t.Context(), bare, nil); err == nil {
		s.Close()
		t.Error("Open without content rules succeeded")
	} else if _, serr := os.Stat(bare); !os.IsNotExist(serr) {
		t.Errorf("Open without content rules (%v) left %s behind: %v", err, bare, serr)
	}
}

// TestFullTextIndexInStep checks that the triggers keep the external-content
// FTS5 index equal to what history holds, through posts, tombstones and the
// deletes that ON DELETE CASCADE makes. A stale entry would not show in
// searches (they join history), so only FTS5's own check sees it.
func TestFullTextIndexInStep(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "parley.db")
	s, err := sqlite.Open(ctx, path, contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	ev := func() storage.OutboxEvent {
		n++
		return storage.OutboxEvent{EventID: fmt.Sprint("e", n), Type: "test"}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutCategory(ctx, storage.Category{Name: "c"}, ev()))
	for _, room := range []string{"a", "b"} {
		must(s.CreateRoom(ctx, storage.Room{Name: room, Category: "c"}, nil, ev()))
		var posts []storage.PostWrite
		for i := range 50 {
			posts = append(posts, storage.PostWrite{
				History: &storage.HistoryMessage{Room: room, StanzaID: fmt.Sprint(i), Kind: storage.KindPost, Body: fmt.Sprintf("word%d café 🦊 %s", i, room)},
				Event:   ev(),
			})
		}
		_, err := s.AppendHistory(ctx, posts)
		must(err)
		must(s.Tombstone(ctx, room, "7", "gone", nil, ev()))
		must(s.Tombstone(ctx, room, "7", "gone again", nil, ev()))
	}
	must(s.DeleteRoom(ctx, "a", ev()))

	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// rank 1: compare the index with the content table too.
	if _, err := db.ExecContext(ctx, `INSERT INTO history_fts (history_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
		t.Errorf("FTS5 integrity-check: %v", err)
	}
	var docs int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM history_fts WHERE history_fts MATCH 'cafe'`).Scan(&docs); err != nil || docs != 49 {
		t.Errorf("index holds %d documents with cafe, %v; want 49 (room b's but its tombstone)", docs, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM history_fts WHERE history_fts MATCH 'gone'`).Scan(&docs); err != nil || docs != 1 {
		t.Errorf("index holds %d documents with gone, %v; want 1 (room b's tombstone)", docs, err)
	}
}
