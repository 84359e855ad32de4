package mysql_test

import (
	"testing"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
	"github.com/parleychat/parley/storage/storagetest"
)

// BenchmarkStore runs the storage benchmarks on MySQL or MariaDB, each on a
// database of its own (parley_bench_…) that is dropped afterwards:
//
//	go test -run '^$' -bench . ./storage/mysql
func BenchmarkStore(b *testing.B) {
	server := newTestServer(b)
	storagetest.Bench(b, func(b *testing.B) storage.Store {
		dsn := server.newDatabaseNamed(b, "parley_bench_")
		s, err := mysql.Open(b.Context(), dsn, contentrules.Rules{})
		if err != nil {
			b.Fatalf("mysql.Open: %v", err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}
