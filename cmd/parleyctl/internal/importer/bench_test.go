package importer

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleychat/parley/cmd/parleyctl/internal/importer/importertest"
	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/internal/mysqltest"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
	"github.com/parleychat/parley/storage/sqlite"
)

// BenchmarkImport measures the import rate of a Prosody data directory
// (internal store) holding one room with 10,000 archived messages, into
// SQLite and into MariaDB: go test -bench Import -benchtime 1x
// ./cmd/parleyctl/internal/importer. The rate is reported as messages/s.
func BenchmarkImport(b *testing.B) {
	dir := b.TempDir()
	importertest.WriteProsody(b, dir, 10000)
	for _, backend := range []string{"sqlite", "mysql"} {
		b.Run(backend, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				store := benchStore(b, backend)
				e, err := muc.New(context.Background(), muc.Config{Store: store, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				src, err := OpenProsody(dir)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				o := options(store, e)
				o.Batch = benchBatch
				sum, err := Run(context.Background(), src, o)
				b.StopTimer()
				src.Close()
				if err != nil || sum.Messages != 10000 {
					b.Fatalf("%+v, %v", sum, err)
				}
				total += sum.Took
				store.Close()
			}
			b.ReportMetric(float64(10000*b.N)/total.Seconds(), "messages/s")
		})
	}
}

func benchStore(b *testing.B, backend string) storage.Store {
	ctx := context.Background()
	if backend == "sqlite" {
		s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "parley.db"), contentrules.Rules{})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	s, err := mysql.Open(ctx, mysqltest.Database(b, "import_bench_"), contentrules.Rules{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchBatch is --batch's default.
const benchBatch = 1000
