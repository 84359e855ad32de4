package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/sqlite"
	"github.com/parleychat/parley/storage/storagetest"
)

// BenchmarkStore runs the storage benchmarks on SQLite files in a
// temporary directory:
//
//	go test -run '^$' -bench . ./storage/sqlite
func BenchmarkStore(b *testing.B) {
	storagetest.Bench(b, func(b *testing.B) storage.Store {
		path := filepath.Join(b.TempDir(), "parley.db")
		s, err := sqlite.Open(b.Context(), path, contentrules.Rules{})
		if err != nil {
			b.Fatalf("sqlite.Open(%s): %v", path, err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}
