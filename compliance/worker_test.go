package compliance

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
	"github.com/parleychat/parley/storage/sqlite"
)

// The worker is tested on real databases: SQLite files, and a real MySQL or
// MariaDB server (PARLEY_TEST_MYSQL_DSN, default root@tcp(127.0.0.1:3306)/)
// on which each test creates and drops databases of its own.

// contentStore is a content database with its outbox.
type contentStore interface {
	storage.Store
	storage.ComplianceOutbox
}

// dbs opens a fresh content database and a fresh compliance database.
type dbs struct {
	name string
	open func(t *testing.T) (contentStore, func() storage.ComplianceStore)
}

func backends() []dbs {
	return []dbs{
		{"sqlite", func(t *testing.T) (contentStore, func() storage.ComplianceStore) {
			dir := t.TempDir()
			content, err := sqlite.Open(t.Context(), filepath.Join(dir, "parley.db"), contentrules.Rules{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { content.Close() })
			return content, func() storage.ComplianceStore {
				s, err := sqlite.OpenCompliance(t.Context(), filepath.Join(dir, "compliance.db"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		}},
		{"mysql", func(t *testing.T) (contentStore, func() storage.ComplianceStore) {
			server := mysqlServer(t)
			content, err := mysql.Open(t.Context(), newMySQLDatabase(t, server, "parley_ctest_"), contentrules.Rules{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { content.Close() })
			dsn := newMySQLDatabase(t, server, "parley_ctest_compliance_")
			return content, func() storage.ComplianceStore {
				s, err := mysql.OpenCompliance(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		}},
	}
}

// forEachBackend runs test on SQLite and on MySQL.
func forEachBackend(t *testing.T, test func(t *testing.T, content contentStore, openCompliance func() storage.ComplianceStore)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			content, open := b.open(t)
			test(t, content, open)
		})
	}
}

// mysqlServer connects to the test server; a missing server fails the test:
// the MySQL back end is the one a pool runs on.
func mysqlServer(t *testing.T) *gomysql.Config {
	t.Helper()
	dsn := os.Getenv("PARLEY_TEST_MYSQL_DSN")
	if dsn == "" {
		dsn = "root@tcp(127.0.0.1:3306)/"
	}
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("PARLEY_TEST_MYSQL_DSN: %v", err)
	}
	cfg.DBName = ""
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	return cfg
}

// newMySQLDatabase returns the DSN of a database that does not exist yet
// and drops it when the test ends.
func newMySQLDatabase(t *testing.T, server *gomysql.Config, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	t.Cleanup(func() {
		connector, err := gomysql.NewConnector(server)
		if err != nil {
			t.Error(err)
			return
		}
		admin := sql.OpenDB(connector)
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg := server.Clone()
	cfg.DBName = name
	return cfg.FormatDSN()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestWorker(t *testing.T, content contentStore, store storage.ComplianceStore, holder string, reg prometheus.Registerer) *Worker {
	t.Helper()
	w, err := NewWorker(WorkerConfig{
		Outbox: content, Store: store, Holder: holder, Logger: quietLogger(), Registerer: reg,
		BatchSize:     100,
		LeaseTTL:      time.Second,
		RenewInterval: 200 * time.Millisecond,
		RetryInterval: 50 * time.Millisecond,
		PollInterval:  20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// appendEvents writes n events to the outbox, some alone and some in
// batches, and returns their event ids in outbox order.
func appendEvents(t *testing.T, content contentStore, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; {
		size := min(1+i%7, n-i)
		evs := make([]storage.OutboxEvent, size)
		for j := range evs {
			evs[j] = storage.OutboxEvent{
				EventID: fmt.Sprintf("%s-%05d", prefix, i+j), Type: "post", Room: "lobby",
				Actor: "alice@localhost", Payload: []byte(fmt.Sprintf(`{"n":%d}`, i+j)),
			}
			ids = append(ids, evs[j].EventID)
		}
		if err := content.AppendOutbox(t.Context(), evs...); err != nil {
			t.Fatal(err)
		}
		i += size
	}
	return ids
}

// captured returns the event ids in the compliance database, in Seq order.
func captured(t *testing.T, store storage.ComplianceStore) []string {
	t.Helper()
	var ids []string
	after := int64(0)
	for {
		evs, err := store.ComplianceEvents(t.Context(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			ids = append(ids, ev.EventID)
			after = ev.Seq
		}
		if len(evs) < 1000 {
			return ids
		}
	}
}

func outboxLen(t *testing.T, content contentStore) int64 {
	t.Helper()
	st, err := content.OutboxStats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st.Events
}

// eventually polls cond until it holds or the time is up.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDrainCopiesOnceInOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, content contentStore, openCompliance func() storage.ComplianceStore) {
		store := openCompliance()
		w := newTestWorker(t, content, store, "node-a", nil)
		want := appendEvents(t, content, "e", 1234)
		n, err := w.Drain(t.Context())
		if err != nil || n != len(want) {
			t.Fatalf("Drain = %d, %v; want %d", n, err, len(want))
		}
		if got := captured(t, store); !slices.Equal(got, want) {
			t.Fatalf("captured %d events, want the %d in outbox order, once each", len(got), len(want))
		}
		if l := outboxLen(t, content); l != 0 {
			t.Errorf("outbox keeps %d events after the copy", l)
		}
		if n, err := w.Drain(t.Context()); err != nil || n != 0 {
			t.Errorf("second Drain = %d, %v; want nothing", n, err)
		}
		// Payload and times arrive as written.
		evs, err := store.ComplianceEvents(t.Context(), 0, 1)
		if err != nil || len(evs) != 1 || string(evs[0].Payload) != `{"n":0}` || evs[0].Time.IsZero() || evs[0].OutboxID == 0 {
			t.Errorf("first captured event = %+v, %v", evs, err)
		}
	})
}

func TestCrashBetweenCopyAndDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, content contentStore, openCompliance func() storage.ComplianceStore) {
		store := openCompliance()
		first := appendEvents(t, content, "before", 150)
		// A worker copies a batch and dies before deleting it from
		// the outbox.
		evs, err := content.ReadOutbox(t.Context(), 0, 120)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := store.CaptureEvents(t.Context(), evs); err != nil || n != 120 {
			t.Fatalf("CaptureEvents = %d, %v", n, err)
		}
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		more := appendEvents(t, content, "after", 40)

		// The next worker, after a restart, copies it all again.
		store = openCompliance()
		w := newTestWorker(t, content, store, "node-b", nil)
		n, err := w.Drain(t.Context())
		if err != nil || n != 30+40 {
			t.Fatalf("Drain = %d, %v; want the 70 not yet captured", n, err)
		}
		want := append(slices.Clone(first), more...)
		if got := captured(t, store); !slices.Equal(got, want) {
			t.Fatalf("captured %v\nwant %v", got, want)
		}
		if l := outboxLen(t, content); l != 0 {
			t.Errorf("outbox keeps %d events", l)
		}
	})
}

// runWorker runs w until the test ends (or stop is called) and checks that
// Run returns nil when stopped.
func runWorker(t *testing.T, w *Worker) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestOneWorkerHoldsTheLease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, content contentStore, openCompliance func() storage.ComplianceStore) {
		// Two nodes, each with its own connection to the compliance
		// database.
		storeA, storeB := openCompliance(), openCompliance()
		a := newTestWorker(t, content, storeA, "node-a", nil)
		b := newTestWorker(t, content, storeB, "node-b", nil)
		runWorker(t, a)
		runWorker(t, b)

		var want []string
		for i := range 5 {
			want = append(want, appendEvents(t, content, fmt.Sprintf("r%d", i), 60)...)
			time.Sleep(30 * time.Millisecond)
		}
		eventually(t, 10*time.Second, "outbox not drained", func() bool { return outboxLen(t, content) == 0 })
		held := testutil.ToFloat64(a.m.leaseHeld) + testutil.ToFloat64(b.m.leaseHeld)
		if held != 1 {
			t.Errorf("%v workers hold the lease, want exactly 1", held)
		}
		copiedA, copiedB := testutil.ToFloat64(a.m.copied), testutil.ToFloat64(b.m.copied)
		if copiedA > 0 && copiedB > 0 {
			t.Errorf("both workers copied (%v and %v), want only the lease holder", copiedA, copiedB)
		}
		if copiedA+copiedB != float64(len(want)) {
			t.Errorf("copied %v events in all, want %d", copiedA+copiedB, len(want))
		}
		if got := captured(t, storeA); !slices.Equal(got, want) {
			t.Errorf("captured %d events, want %d in order once each", len(got), len(want))
		}
	})
}

func TestLeaseTakeover(t *testing.T) {
	forEachBackend(t, func(t *testing.T, content contentStore, openCompliance func() storage.ComplianceStore) {
		store := openCompliance()
		ctx := t.Context()
		// A node took the lease and died without giving it up.
		const ttl = 3 * time.Second
		dead, held, err := store.AcquireLease(ctx, LeaseName, "dead-node", ttl)
		if err != nil || !held {
			t.Fatalf("dead-node AcquireLease: %v, %v", held, err)
		}
		want := appendEvents(t, content, "t", 30)
		w := newTestWorker(t, content, store, "node-b", nil)
		runWorker(t, w)

		// While dead-node's lease is valid node-b copies nothing. The check
		// counts only if the lease was still valid after it was made (on a
		// loaded machine the set-up alone may outlast the lease), so the
		// test asserts the rule, not the machine's speed.
		time.Sleep(ttl / 4)
		got := captured(t, store)
		if time.Now().Before(dead.Expires) && len(got) != 0 {
			t.Fatalf("node-b copied %d events while dead-node's lease was valid", len(got))
		}
		eventually(t, 30*time.Second, "node-b never took over", func() bool { return outboxLen(t, content) == 0 })
		if l, _, err := store.Lease(ctx, LeaseName); err != nil || l.Holder != "node-b" {
			t.Errorf("lease = %+v, %v; want node-b's", l, err)
		}
		if got := captured(t, store); !slices.Equal(got, want) {
			t.Errorf("captured %v, want %v", got, want)
		}
	})
}

func TestStopReleasesTheLease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, content contentStore, openCompliance func() storage.ComplianceStore) {
		storeA, storeB := openCompliance(), openCompliance()
		a := newTestWorker(t, content, storeA, "node-a", nil)
		stopA := runWorker(t, a)
		eventually(t, 5*time.Second, "node-a never took the lease", func() bool {
			return testutil.ToFloat64(a.m.leaseHeld) == 1
		})
		stopA()
		if v := testutil.ToFloat64(a.m.leaseHeld); v != 0 {
			t.Errorf("lease_held = %v after stop", v)
		}
		if l, _, err := storeA.Lease(t.Context(), LeaseName); err != nil || l.Holder != "" {
			t.Fatalf("lease after a clean stop = %+v, %v; want free", l, err)
		}
		// So node-b takes over at once, not after the TTL.
		if _, held, err := storeB.AcquireLease(t.Context(), LeaseName, "node-b", time.Minute); err != nil || !held {
			t.Errorf("node-b after node-a stopped: %v, %v", held, err)
		}
	})
}

func TestMetrics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, content contentStore, openCompliance func() storage.ComplianceStore) {
		store := openCompliance()
		reg := prometheus.NewPedanticRegistry()
		w := newTestWorker(t, content, store, "node-a", reg)
		appendEvents(t, content, "m", 42)
		time.Sleep(20 * time.Millisecond)
		gauge := func(name string) float64 {
			t.Helper()
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range families {
				if f.GetName() == name {
					m := f.GetMetric()[0]
					if m.Gauge != nil {
						return m.Gauge.GetValue()
					}
					return m.Counter.GetValue()
				}
			}
			t.Fatalf("no metric %s", name)
			return 0
		}
		if v := gauge("parley_compliance_outbox_backlog"); v != 42 {
			t.Errorf("backlog = %v, want 42", v)
		}
		if v := gauge("parley_compliance_outbox_lag_seconds"); v <= 0 || v > 60 {
			t.Errorf("lag = %v, want a little over 0", v)
		}
		if v := gauge("parley_compliance_last_run_timestamp_seconds"); v != 0 {
			t.Errorf("last run = %v before any", v)
		}
		runWorker(t, w)
		eventually(t, 5*time.Second, "outbox not drained", func() bool { return outboxLen(t, content) == 0 })
		eventually(t, 5*time.Second, "metrics not updated", func() bool {
			return gauge("parley_compliance_events_copied_total") == 42 && gauge("parley_compliance_lease_held") == 1
		})
		if v := gauge("parley_compliance_outbox_backlog"); v != 0 {
			t.Errorf("backlog = %v after the copy", v)
		}
		if v := gauge("parley_compliance_outbox_lag_seconds"); v != 0 {
			t.Errorf("lag = %v with an empty outbox", v)
		}
		if v := gauge("parley_compliance_last_run_timestamp_seconds"); time.Since(time.Unix(int64(v), 0)) > time.Minute {
			t.Errorf("last run = %v, want about now", v)
		}
	})
}

func TestNewWorkerChecksConfig(t *testing.T) {
	content, open := backends()[0].open(t)
	store := open()
	for _, cfg := range []WorkerConfig{
		{Store: store, Holder: "x"},
		{Outbox: content, Holder: "x"},
		{Outbox: content, Store: store},
		{Outbox: content, Store: store, Holder: "x", LeaseTTL: time.Second, RenewInterval: time.Second},
	} {
		if _, err := NewWorker(cfg); err == nil {
			t.Errorf("NewWorker(%+v): no error", cfg)
		}
	}
}
