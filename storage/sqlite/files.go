package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// CreateFileSlot implements storage.FileStore. The single writer
// connection serialises quota checks.
func (s *Store) CreateFileSlot(ctx context.Context, f storage.File, quota int64) error {
	if err := check.FileSlot(f); err != nil {
		return fmt.Errorf("storage/sqlite: create file slot: %w", err)
	}
	f.Created = orNow(f.Created, time.Now())
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if quota > 0 {
			var used int64
			if err := tx.QueryRowContext(ctx, `
				SELECT COALESCE(SUM(size), 0) FROM files
				WHERE owner = ? AND (state = 'complete' OR expires_at > ?)`,
				f.Owner, unixMicro(f.Created)).Scan(&used); err != nil {
				return err
			}
			if used+f.Size > quota {
				return fmt.Errorf("%s uses %d of %d bytes, %d more do not fit: %w",
					f.Owner, used, quota, f.Size, storage.ErrQuotaExceeded)
			}
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO files (id, owner, name, size, content_type, state, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, 'slot', ?, ?)`,
			f.ID, f.Owner, f.Name, f.Size, f.ContentType, unixMicro(f.Created), unixMicro(f.Expires))
		return mapError(err)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: create file slot %s: %w", f.ID, err)
	}
	return nil
}

// ClaimFileSlot implements storage.FileStore.
func (s *Store) ClaimFileSlot(ctx context.Context, id string, now time.Time) (storage.File, error) {
	var f storage.File
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE files SET state = 'uploading'
			WHERE id = ? AND state = 'slot' AND expires_at > ?`, id, unixMicro(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("no open slot: %w", storage.ErrNotFound)
		}
		f, err = scanFile(tx.QueryRowContext(ctx, fileSelect+` WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return storage.File{}, fmt.Errorf("storage/sqlite: claim file slot %s: %w", id, err)
	}
	return f, nil
}

// AppendFileChunk implements storage.FileStore.
func (s *Store) AppendFileChunk(ctx context.Context, id string, seq int, data []byte) error {
	if err := check.FileChunk(id, seq, data); err != nil {
		return fmt.Errorf("storage/sqlite: append file chunk: %w", err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := fileInState(ctx, tx, id, storage.FileUploading); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO file_chunks (file, seq, data) VALUES (?, ?, ?)`, id, seq, data)
		return mapError(err)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: append chunk %d of file %s: %w", seq, id, err)
	}
	return nil
}

// fileInState returns ErrNotFound unless file id exists in state.
func fileInState(ctx context.Context, tx *sql.Tx, id, state string) error {
	var got string
	err := tx.QueryRowContext(ctx, `SELECT state FROM files WHERE id = ?`, id).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && got != state) {
		return fmt.Errorf("no %s file: %w", state, storage.ErrNotFound)
	}
	return err
}

// CompleteFile implements storage.FileStore.
func (s *Store) CompleteFile(ctx context.Context, id string, sum []byte, ev storage.OutboxEvent) error {
	if err := check.SHA256(sum); err != nil {
		return fmt.Errorf("storage/sqlite: complete file %s: %w", id, err)
	}
	if err := check.Event(ev); err != nil {
		return fmt.Errorf("storage/sqlite: complete file %s: %w", id, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var size, stored int64
		var state string
		err := tx.QueryRowContext(ctx, `
			SELECT size, state, (SELECT COALESCE(SUM(LENGTH(data)), 0) FROM file_chunks WHERE file = files.id)
			FROM files WHERE id = ?`, id).Scan(&size, &state, &stored)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && state != storage.FileUploading) {
			return fmt.Errorf("no file being uploaded: %w", storage.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if stored != size {
			return fmt.Errorf("%d bytes stored, %d declared", stored, size)
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE files SET state = 'complete', sha256 = ?, uploaded_at = ? WHERE id = ?`,
			sum, unixMicro(time.Now()), id); err != nil {
			return err
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: complete file %s: %w", id, err)
	}
	return nil
}

const fileSelect = `SELECT id, owner, name, size, content_type, state, sha256, created_at, expires_at, uploaded_at, downloads FROM files`

func scanFile(row interface{ Scan(...any) error }) (storage.File, error) {
	var (
		f                storage.File
		created, expires int64
		uploaded         sql.NullInt64
	)
	err := row.Scan(&f.ID, &f.Owner, &f.Name, &f.Size, &f.ContentType, &f.State, &f.SHA256,
		&created, &expires, &uploaded, &f.Downloads)
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("file: %w", storage.ErrNotFound)
	}
	if err != nil {
		return f, err
	}
	f.Created, f.Expires = fromUnixMicro(created), fromUnixMicro(expires)
	if uploaded.Valid {
		f.Uploaded = fromUnixMicro(uploaded.Int64)
	}
	return f, nil
}

// File implements storage.FileStore.
func (s *Store) File(ctx context.Context, id string) (storage.File, error) {
	f, err := scanFile(s.read.QueryRowContext(ctx, fileSelect+` WHERE id = ?`, id))
	if err != nil {
		return f, fmt.Errorf("storage/sqlite: file %s: %w", id, err)
	}
	return f, nil
}

// FileChunk implements storage.FileStore.
func (s *Store) FileChunk(ctx context.Context, id string, seq int) ([]byte, error) {
	var data []byte
	err := s.read.QueryRowContext(ctx, `
		SELECT c.data FROM file_chunks c JOIN files f ON f.id = c.file
		WHERE c.file = ? AND c.seq = ? AND f.state = 'complete'`, id, seq).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: chunk %d of file %s: %w", seq, id, err)
	}
	return data, nil
}

// RecordFileDownload implements storage.FileStore.
func (s *Store) RecordFileDownload(ctx context.Context, id string, ev storage.OutboxEvent) error {
	if err := check.Event(ev); err != nil {
		return fmt.Errorf("storage/sqlite: record download of file %s: %w", id, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE files SET downloads = downloads + 1 WHERE id = ? AND state = 'complete'`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("no complete file: %w", storage.ErrNotFound)
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: record download of file %s: %w", id, err)
	}
	return nil
}

// DeleteFile implements storage.FileStore.
func (s *Store) DeleteFile(ctx context.Context, id string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM files WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storage.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: delete file %s: %w", id, err)
	}
	return nil
}

// DeleteStaleFiles implements storage.FileStore.
func (s *Store) DeleteStaleFiles(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`DELETE FROM files WHERE state IN ('slot', 'uploading') AND expires_at < ?`, unixMicro(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("storage/sqlite: delete stale files: %w", err)
	}
	return int(n), nil
}
