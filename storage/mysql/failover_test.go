package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/internal/mysqltest"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
)

// TestFailover: a store opened on a DSN listing a primary and its replica
// writes to the primary; once the primary is killed (SIGKILL) every write
// fails at once with storage.ErrUnavailable, nothing hangs; once the
// replica is promoted the store writes to it, and everything written
// before is there. Then the new primary is made read-only while the store
// holds connections to it: the next write is refused as unavailable (the
// connections are dropped, the other server is dead), and once it is
// writable again writes go on.
func TestFailover(t *testing.T) {
	t.Parallel()
	pair := mysqltest.StartPair(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s, err := mysql.Open(ctx, pair.DSN("parley_failover"), contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var written []string
	write := func() error {
		name := fmt.Sprintf("user%03d", len(written))
		err := s.CreateAccount(ctx, name, nil, nil, nil)
		if err == nil {
			written = append(written, name)
		}
		return err
	}
	for range 20 {
		if err := write(); err != nil {
			t.Fatalf("write to the primary: %v", err)
		}
	}

	pair.KillPrimary()
	killed := time.Now()
	for i := range 5 {
		err := write()
		if err == nil {
			t.Fatalf("write %d after the primary was killed succeeded; the replica is read-only", i)
		}
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("write %d after the kill: %v; want storage.ErrUnavailable", i, err)
		}
		if i == 0 {
			t.Logf("refused: %v", err)
		}
	}
	if d := time.Since(killed); d > 30*time.Second {
		t.Errorf("5 refusals took %v: a refusal must come at once", d)
	}

	pair.Promote()
	if err := write(); err != nil {
		t.Fatalf("write after the replica was promoted: %v", err)
	}
	got, err := s.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, written) {
		t.Fatalf("after the failover the accounts are %v, want %v", got, written)
	}

	// The new primary turns read-only under the store's connections.
	admin, err := sql.Open("mysql", pair.Replica.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "SET GLOBAL read_only = 1"); err != nil {
		t.Fatal(err)
	}
	if err := write(); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("write to a server turned read-only: %v; want storage.ErrUnavailable", err)
	}
	if _, err := admin.ExecContext(ctx, "SET GLOBAL read_only = 0"); err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil {
		t.Fatalf("write once the server is writable again: %v", err)
	}
}
