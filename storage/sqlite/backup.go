package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database file at path into out
// (which must not exist) with VACUUM INTO: one read transaction, so the
// copy is the database as of one commit, while parleyd keeps writing (WAL).
// The copy is compact and has no WAL of its own.
func Backup(ctx context.Context, path, out string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("storage/sqlite: backup %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("storage/sqlite: backup: %w", err)
	}
	// Not the store's query-only reader DSN: VACUUM INTO writes (the
	// copy), though it changes nothing in the database it reads.
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}).String())
	if err != nil {
		return fmt.Errorf("storage/sqlite: backup %s: %w", abs, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", out); err != nil {
		return fmt.Errorf("storage/sqlite: backup %s: VACUUM INTO: %w", abs, err)
	}
	return nil
}

// Restore puts the database copy from (made by Backup) at path, which must
// not exist yet (nor its WAL): a restore goes into an empty data directory.
// The schema is brought up to date by the next Open.
func Restore(from io.Reader, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("storage/sqlite: restore %s: %w", path, err)
	}
	for _, p := range []string{abs, abs + "-wal", abs + "-shm"} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("storage/sqlite: restore: %s exists; restore into an empty data directory", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("storage/sqlite: restore: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return fmt.Errorf("storage/sqlite: restore: %w", err)
	}
	tmp := abs + ".restoring"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600) // it holds credentials
	if err != nil {
		return fmt.Errorf("storage/sqlite: restore: %w", err)
	}
	_, err = io.Copy(f, from)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, abs)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage/sqlite: restore %s: %w", abs, err)
	}
	return nil
}
