package compliance

import (
	"database/sql"
	"slices"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
)

// TestWorkerCopiesAnEventThatCommitsLate, on MariaDB: an outbox row whose
// transaction took its auto-increment id first but commits after a later
// one (id 1 commits after id 2) is copied all the same, by the next pass
// after it commits: the worker reads the outbox from the start every pass
// and deletes exactly what it copied, never "everything up to the highest
// id seen".
func TestWorkerCopiesAnEventThatCommitsLate(t *testing.T) {
	server := mysqlServer(t)
	dsn := newMySQLDatabase(t, server, "parley_ctest_late_")
	content, err := mysql.Open(t.Context(), dsn, contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	defer content.Close()
	cstore, err := mysql.OpenCompliance(t.Context(), newMySQLDatabase(t, server, "parley_ctest_late_c_"))
	if err != nil {
		t.Fatal(err)
	}
	defer cstore.Close()
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime = true
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw := sql.OpenDB(connector)
	defer raw.Close()

	// A room engine transaction that took its id and has not committed
	// yet (as muc's would, between its inserts and its commit).
	ctx := t.Context()
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO outbox (event_id, type, room, actor, occurred_at, payload)
		VALUES ('late', 'post', 'lobby', 'alice@localhost', NOW(6), '{}')`)
	if err != nil {
		t.Fatal(err)
	}
	lateID, _ := res.LastInsertId()
	early := storage.OutboxEvent{EventID: "early", Type: "post", Room: "lobby", Actor: "bob@localhost"}
	if err := content.AppendOutbox(ctx, early); err != nil {
		t.Fatal(err)
	}
	w := newTestWorker(t, content, cstore, "node-a", nil)
	if n, err := w.Drain(ctx); err != nil || n != 1 {
		t.Fatalf("Drain while 'late' (id %d) is uncommitted = %d, %v; want 'early' alone", lateID, n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Drain(ctx); err != nil || n != 1 {
		t.Fatalf("Drain after 'late' committed = %d, %v; want it", n, err)
	}
	if got := captured(t, cstore); !slices.Equal(got, []string{"early", "late"}) {
		t.Fatalf("captured %v, want [early late]: each once, in commit order", got)
	}
	if l := outboxLen(t, content); l != 0 {
		t.Errorf("outbox keeps %d events", l)
	}
}
