package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/sqlstore"
	"github.com/parleychat/parley/storage/sqlite"
)

// TestCanceledTransaction: database/sql rolls a transaction back from a
// goroutine of its own once its context is canceled, and the statement
// or Commit that comes after finds it done (sql.ErrTxDone). The store
// says it was canceled, which is what parleyctl import stops on
// ("interrupted"); TestImportInterrupted failed now and then with "sql:
// transaction has already been committed or rolled back" when the
// rollback won the race. Nothing is committed.
func TestCanceledTransaction(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, returnDone := range []bool{false, true} {
		ctx, cancel := context.WithCancel(t.Context())
		err := sqlstore.WriteTx(ctx, s.Store, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (username, created_at) VALUES ('alice', 0)`); err != nil {
				return err
			}
			cancel()
			// Until database/sql has rolled it back: a statement
			// under a context that has not ended then finds it done.
			for {
				_, err := tx.ExecContext(context.Background(), `SELECT 1`)
				switch {
				case errors.Is(err, sql.ErrTxDone) && returnDone:
					return err // a statement after the rollback
				case errors.Is(err, sql.ErrTxDone):
					return nil // then Commit
				case err != nil:
					return err
				}
				runtime.Gosched()
			}
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("transaction rolled back for its canceled context (statement after it: %v): %v, want context.Canceled", returnDone, err)
		}
		if _, err := s.Account(t.Context(), "alice"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the canceled transaction's account: %v, want ErrNotFound", err)
		}
	}
}
