package interop

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	storebackend "github.com/parleychat/parley/storage/backend"
)

// killEvents is how many outbox events the kill -9 test copies.
const killEvents = 100_000

// TestComplianceWorkerSurvivesKill9 is issue 5's crash test: 100,000
// events wait in the outbox when parleyd starts; once its compliance worker
// has copied some of them and before it has copied them all, the process
// is killed with SIGKILL (no clean stop, no lease release, perhaps between
// a batch's copy and its delete from the outbox). A restart on the same
// data must finish the copy with no event missing and none twice, in the
// order they were written. On SQLite and on MariaDB.
func TestComplianceWorkerSurvivesKill9(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		killDuringCopy(t, "", "")
	})
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		killDuringCopy(t, mysqlStorage(t), mysqlStorage(t))
	})
}

func killDuringCopy(t *testing.T, content, cstorage string) {
	s := newServer(t, content)
	if content == "" {
		content = "sqlite:" + filepath.Join(s.data, "parley.db")
	}
	if cstorage == "" {
		cstorage = "sqlite:" + filepath.Join(s.data, "compliance.db")
	}
	s.args = []string{"--compliance-storage", cstorage, "--compliance-adapter", "none"}
	// A deadline for a stuck worker, not a speed requirement: on a loaded
	// machine copying 100,000 events into MariaDB twice takes minutes.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	began := time.Now()
	store, err := storebackend.Open(ctx, content, contentrules.Rules{})
	if err != nil {
		t.Fatalf("open the content store: %v", err)
	}
	outbox := store.(storage.ComplianceOutbox)
	const batch = 5000
	at := time.Now().UTC().Truncate(time.Second)
	for start := 0; start < killEvents; start += batch {
		evs := make([]storage.OutboxEvent, 0, batch)
		for i := start; i < start+batch; i++ {
			evs = append(evs, storage.OutboxEvent{EventID: fmt.Sprintf("kill9-%06d", i), Type: "test.bulk",
				Room: "bulk", Actor: "tester@" + domain, Time: at, Payload: []byte(`{"i":` + strconv.Itoa(i) + `}`)})
		}
		if err := outbox.AppendOutbox(ctx, evs...); err != nil {
			t.Fatalf("fill the outbox: %v", err)
		}
	}
	store.Close()
	t.Logf("%d events written to the outbox in %v", killEvents, time.Since(began).Round(time.Millisecond))

	cstore, err := storebackend.OpenCompliance(ctx, cstorage)
	if err != nil {
		t.Fatalf("open the compliance database: %v", err)
	}
	defer cstore.Close()

	s.start()
	copying := time.Now()
	var copied int64
	for {
		if copied, err = cstore.CountComplianceEvents(ctx); err != nil {
			t.Fatal(err)
		}
		if copied >= killEvents/10 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the worker copied only %d events in %v", copied, time.Since(copying))
		}
		// No pause: the sooner the kill follows a batch's copy, the
		// likelier it falls before that batch's delete.
	}
	s.kill()
	after, err := cstore.CountComplianceEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed parleyd with SIGKILL %v after its start, %d events copied (%d after the kill)",
		time.Since(copying).Round(time.Millisecond), copied, after)
	if after >= killEvents {
		t.Fatalf("the copy had finished (%d events) before the kill: the test proves nothing", after)
	}
	if store, err = storebackend.Open(ctx, content, contentrules.Rules{}); err != nil {
		t.Fatalf("open the content store after the kill: %v", err)
	}
	waiting, err := store.(storage.ComplianceOutbox).OutboxStats(ctx)
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Events both copied and still in the outbox: the kill fell between
	// a batch's copy and its delete, and the restart must skip them.
	t.Logf("after the kill: %d events in the outbox, %d both copied and waiting",
		waiting.Events, max(0, waiting.Events+after-killEvents-2))

	restarted := time.Now()
	s.start()
	var evs []storage.ComplianceEvent
	for {
		// Count (cheap) until the copy may be complete; read it all only then.
		n, err := cstore.CountComplianceEvents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n < killEvents {
			if ctx.Err() != nil {
				t.Fatalf("after the restart the compliance database holds %d events, want at least %d", n, killEvents)
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		evs = evs[:0]
		for after := int64(0); ; {
			page, err := cstore.ComplianceEvents(ctx, after, 20_000)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, page...)
			if len(page) < 20_000 {
				break
			}
			after = page[len(page)-1].Seq
		}
		if bulk(evs) >= killEvents {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("after the restart the compliance database holds %d of the %d events", bulk(evs), killEvents)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("after the restart the copy finished in %v", time.Since(restarted).Round(time.Millisecond))

	// Every event once, in the order written (Seq order), nothing else
	// doubled.
	next := 0
	ids := map[string]bool{}
	for _, ev := range evs {
		if ids[ev.EventID] {
			t.Fatalf("event %s captured twice", ev.EventID)
		}
		ids[ev.EventID] = true
		if ev.Type != "test.bulk" {
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(ev.EventID, "kill9-"))
		if err != nil || i != next {
			t.Fatalf("seq %d holds event %s, want kill9-%06d next: a gap or a reordering", ev.Seq, ev.EventID, next)
		}
		next++
	}
	if next != killEvents {
		t.Fatalf("%d bulk events captured, want %d", next, killEvents)
	}
}

// bulk counts the test's events among evs.
func bulk(evs []storage.ComplianceEvent) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == "test.bulk" {
			n++
		}
	}
	return n
}
