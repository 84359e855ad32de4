package importer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	writeProsodyArchive(b, dir, 10000)
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
		s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "parley.db"))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	s, err := mysql.Open(ctx, mysqltest.Database(b, "import_bench_"))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// writeProsodyArchive writes a Prosody data directory with one account,
// one room and n archived messages in it, as mod_storage_internal does.
func writeProsodyArchive(b *testing.B, dir string, n int) {
	write := func(path, text string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write(filepath.Join(dir, "old%2etest", "accounts", "alice.dat"), `return { ["iteration_count"] = 10000; ["stored_key"] = "45c1c9fa2ad6086abedd1bd4c7bdd2feb47282ac"; ["salt"] = "6958890e"; ["server_key"] = "920af650d46ee6c9d8fecc7b7d809803edf91be7"; };`)
	write(filepath.Join(dir, "rooms%2eold%2etest", "config", "big.dat"), `return { ["alice@old.test"] = "owner"; ["_data"] = { ["name"] = "Big"; ["persistent"] = true; }; };`)
	var s strings.Builder
	start := int64(1700000000)
	for i := range n {
		fmt.Fprintf(&s, `item({
	{
		"message number %d from Alice, with some words to index: the quick brown fox jumps over the lazy dog";
		["name"] = "body";
		["attr"] = {};
	};
	["attr"] = {
		["type"] = "groupchat";
		["id"] = "origin%d";
		["from"] = "big@rooms.old.test/Alice";
	};
	["with"] = "message<groupchat";
	["when"] = %d;
	["key"] = "key-%08d";
	["name"] = "message";
});
`, i, i, start+int64(i), i)
	}
	write(filepath.Join(dir, "rooms%2eold%2etest", "muc_log", "big.list"), s.String())
}

// benchBatch is --batch's default.
const benchBatch = 1000
