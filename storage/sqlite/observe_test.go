package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
)

// observed records what a store's QueryObserver is told.
type observed struct {
	mu  sync.Mutex
	ops map[string][]error
}

func (o *observed) observe(op string, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ops == nil {
		o.ops = map[string][]error{}
	}
	o.ops[op] = append(o.ops[op], err)
}

// TestQueriesObserved checks that every transaction and query of both
// stores reaches the observer named by the store method that ran it, with
// its error (parleyd's parley_storage_query_seconds).
func TestQueriesObserved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := Open(ctx, filepath.Join(dir, "parley.db"), contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	compliance, err := OpenCompliance(ctx, filepath.Join(dir, "compliance.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer compliance.Close()
	var content, captured observed
	store.ObserveQueries(content.observe)
	compliance.ObserveQueries(captured.observe)

	if err := store.CreateAccount(ctx, "alice", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Account(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Account(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Account(nobody) = %v, want ErrNotFound", err)
	}
	if _, err := store.Blocklist(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := compliance.CountComplianceEvents(ctx); err != nil {
		t.Fatal(err)
	}

	if got := content.ops["CreateAccount"]; len(got) != 1 || got[0] != nil {
		t.Errorf("CreateAccount observed as %v, want one success", got)
	}
	if got := content.ops["Account"]; len(got) != 2 || got[0] != nil || got[1] == nil {
		t.Errorf("Account observed as %v, want a success then an error", got)
	}
	if got := content.ops["Blocklist"]; len(got) != 1 {
		t.Errorf("Blocklist observed %d times, want 1", len(got))
	}
	if got := captured.ops["CountComplianceEvents"]; len(got) != 1 || got[0] != nil {
		t.Errorf("CountComplianceEvents observed as %v, want one success", got)
	}
	if len(content.ops["other"]) > 0 || len(captured.ops["other"]) > 0 {
		t.Errorf("queries observed without an operation: content %v, compliance %v", content.ops, captured.ops)
	}

	store.ObserveQueries(nil)
	if _, err := store.Account(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := content.ops["Account"]; len(got) != 2 {
		t.Errorf("observed after ObserveQueries(nil): %v", got)
	}
}
