package mysql_test

import (
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
	"github.com/parleychat/parley/storage/storagetest"
)

// TestComplianceConformance runs the compliance database's conformance
// suite on a fresh MySQL database per subtest, which OpenCompliance
// creates.
func TestComplianceConformance(t *testing.T) {
	server := newTestServer(t)
	storagetest.RunCompliance(t, func(t *testing.T) func() storage.ComplianceStore {
		dsn := server.newDatabaseNamed(t, "parley_compliance_test_")
		return func() storage.ComplianceStore {
			s, err := mysql.OpenCompliance(t.Context(), dsn)
			if err != nil {
				t.Fatalf("mysql.OpenCompliance: %v", err)
			}
			return s
		}
	})
}

// TestComplianceSharesDatabaseWithContent: the two schemas keep their own
// version tables, so one database can hold both.
func TestComplianceSharesDatabaseWithContent(t *testing.T) {
	server := newTestServer(t)
	dsn := server.newDatabase(t)
	content := open(t, dsn)
	defer content.Close()
	comp, err := mysql.OpenCompliance(t.Context(), dsn)
	if err != nil {
		t.Fatalf("OpenCompliance on the content database: %v", err)
	}
	defer comp.Close()
	if _, held, err := comp.AcquireLease(t.Context(), "x", "me", 1e9); err != nil || !held {
		t.Fatalf("AcquireLease: %v, %v", held, err)
	}
}

// TestCapturesCommitInSeqOrder: InnoDB hands auto-increment seqs out at
// insert time, so two overlapping captures (two workers while the lease
// changes hands) could commit their seqs out of order, and an adapter that
// read past the higher seq ("seq > my position") would never see the
// lower one. A capture that stalls before its commit must therefore hold
// back every later capture: a reader sees, at every moment, a prefix of
// the final Seq order.
func TestCapturesCommitInSeqOrder(t *testing.T) {
	server := newTestServer(t)
	s, err := mysql.OpenCompliance(t.Context(), server.newDatabaseNamed(t, "parley_compliance_order_"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	inside, release := make(chan struct{}), make(chan struct{})
	mysql.SetBeforeCaptureCommit(s, func(evs []storage.OutboxEvent) {
		if evs[0].EventID == "slow" {
			close(inside)
			<-release
		}
	})
	event := func(id string, outboxID int64) []storage.OutboxEvent {
		return []storage.OutboxEvent{{ID: outboxID, EventID: id, Type: "post", Room: "r", Actor: "a@example.org",
			Time: time.Now().UTC()}}
	}
	slowDone, fastDone := make(chan error, 1), make(chan error, 1)
	go func() { _, err := s.CaptureEvents(ctx, event("slow", 1)); slowDone <- err }()
	<-inside // the slow capture has its seq and has not committed
	go func() { _, err := s.CaptureEvents(ctx, event("fast", 2)); fastDone <- err }()

	// While the slow one stalls, a reader must not see the fast one.
	var seen [][]string
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		evs, err := s.ComplianceEvents(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, ev := range evs {
			ids = append(ids, ev.EventID)
		}
		seen = append(seen, ids)
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	if err := <-slowDone; err != nil {
		t.Fatalf("slow capture: %v", err)
	}
	if err := <-fastDone; err != nil {
		t.Fatalf("fast capture: %v", err)
	}
	evs, err := s.ComplianceEvents(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var final []string
	for _, ev := range evs {
		final = append(final, ev.EventID)
	}
	if !slices.Equal(final, []string{"slow", "fast"}) {
		t.Fatalf("captured in Seq order: %v, want [slow fast]", final)
	}
	for _, ids := range seen {
		if !slices.Equal(ids, final[:len(ids)]) {
			t.Fatalf("while the slow capture stalled a reader saw %v: not a prefix of the final order %v, "+
				"so a reader going by seq would have skipped an event", ids, final)
		}
	}
}
