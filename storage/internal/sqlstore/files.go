package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// CreateFileSlot implements storage.FileStore. With many writers (MySQL)
// the quota check first locks the owner's row in file_owners, so that
// concurrent slot requests of one user, on any node, are counted one after
// the other; one writer (SQLite) counts them one after the other anyway.
func (s *Store) CreateFileSlot(ctx context.Context, f storage.File, quota int64) error {
	if err := check.FileSlot(f); err != nil {
		return s.wrap(err, "create file slot")
	}
	f.Created = orNow(f.Created, time.Now())
	lockOwner := quota > 0 && !s.d.OneWriter
	if lockOwner {
		// Outside the transaction: concurrent inserts of the same key
		// in transactions deadlock on InnoDB's duplicate-key locks.
		if _, err := s.writes().ExecContext(ctx,
			`INSERT INTO file_owners (owner) VALUES (?) `+s.d.Upsert("owner", ""), f.Owner); err != nil {
			return s.wrap(err, "create file slot %s", f.ID)
		}
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if lockOwner {
			if err := s.lock(ctx, tx, "file_owners", "owner", f.Owner); err != nil {
				return err
			}
		}
		if quota > 0 {
			var used int64
			if err := tx.QueryRowContext(ctx, `
				SELECT COALESCE(SUM(size), 0) FROM files
				WHERE owner = ? AND (state = 'complete' OR expires_at > ?)`,
				f.Owner, s.t(f.Created)).Scan(&used); err != nil {
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
			f.ID, f.Owner, f.Name, f.Size, f.ContentType, s.t(f.Created), s.t(f.Expires))
		return s.mapError(err)
	})
	return s.wrap(err, "create file slot %s", f.ID)
}

// ClaimFileSlot implements storage.FileStore.
func (s *Store) ClaimFileSlot(ctx context.Context, id string, now time.Time) (storage.File, error) {
	var f storage.File
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		err := affected(tx.ExecContext(ctx, `
			UPDATE files SET state = 'uploading'
			WHERE id = ? AND state = 'slot' AND expires_at > ?`, id, s.t(now)))
		if err != nil {
			return fmt.Errorf("no open slot: %w", err)
		}
		f, err = scanFile(tx.QueryRowContext(ctx, fileSelect+` WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return storage.File{}, s.wrap(err, "claim file slot %s", id)
	}
	return f, nil
}

// AppendFileChunk implements storage.FileStore.
func (s *Store) AppendFileChunk(ctx context.Context, id string, seq int, data []byte) error {
	if err := check.FileChunk(id, seq, data); err != nil {
		return s.wrap(err, "append file chunk")
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM files WHERE id = ?`, id).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && state != storage.FileUploading) {
			return fmt.Errorf("no %s file: %w", storage.FileUploading, storage.ErrNotFound)
		} else if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO file_chunks (file, seq, data) VALUES (?, ?, ?)`, id, seq, data)
		return s.mapError(err)
	})
	return s.wrap(err, "append chunk %d of file %s", seq, id)
}

// CompleteFile implements storage.FileStore.
func (s *Store) CompleteFile(ctx context.Context, id string, sum []byte, ev storage.OutboxEvent) error {
	if err := errors.Join(check.SHA256(sum), check.Event(ev)); err != nil {
		return s.wrap(err, "complete file %s", id)
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
			sum, s.t(time.Now()), id); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "complete file %s", id)
}

const fileSelect = `SELECT id, owner, name, size, content_type, state, sha256, created_at, expires_at, uploaded_at, downloads FROM files`

func scanFile(row scanner) (storage.File, error) {
	var f storage.File
	err := row.Scan(&f.ID, &f.Owner, &f.Name, &f.Size, &f.ContentType, &f.State, &f.SHA256,
		scanTime(&f.Created), scanTime(&f.Expires), scanTime(&f.Uploaded), &f.Downloads)
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("file: %w", storage.ErrNotFound)
	}
	return f, err
}

// File implements storage.FileStore.
func (s *Store) File(ctx context.Context, id string) (storage.File, error) {
	f, err := scanFile(s.reads().QueryRowContext(ctx, fileSelect+` WHERE id = ?`, id))
	return f, s.wrap(err, "file %s", id)
}

// FileChunk implements storage.FileStore.
func (s *Store) FileChunk(ctx context.Context, id string, seq int) ([]byte, error) {
	var data []byte
	err := s.reads().QueryRowContext(ctx, `
		SELECT c.data FROM file_chunks c JOIN files f ON f.id = c.file
		WHERE c.file = ? AND c.seq = ? AND f.state = 'complete'`, id, seq).Scan(&data)
	if err != nil {
		return nil, s.wrap(notFound(err), "chunk %d of file %s", seq, id)
	}
	return data, nil
}

// RecordFileDownload implements storage.FileStore.
func (s *Store) RecordFileDownload(ctx context.Context, id string, ev storage.OutboxEvent) error {
	if err := check.Event(ev); err != nil {
		return s.wrap(err, "record download of file %s", id)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := affected(tx.ExecContext(ctx,
			`UPDATE files SET downloads = downloads + 1 WHERE id = ? AND state = 'complete'`, id)); err != nil {
			return fmt.Errorf("no complete file: %w", err)
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "record download of file %s", id)
}

// DeleteFile implements storage.FileStore.
func (s *Store) DeleteFile(ctx context.Context, id string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		return affected(tx.ExecContext(ctx, `DELETE FROM files WHERE id = ?`, id))
	})
	return s.wrap(err, "delete file %s", id)
}

// DeleteStaleFiles implements storage.FileStore.
func (s *Store) DeleteStaleFiles(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`DELETE FROM files WHERE state IN ('slot', 'uploading') AND expires_at < ?`, s.t(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), s.wrap(err, "delete stale files")
}
