package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// complianceMigrations is the compliance database's schema for SQLite.
// storage/mysql/compliance_migrations is the same schema for MySQL; change
// both in the same commit.
//
//go:embed compliance_migrations/*.sql
var complianceMigrations embed.FS

// ComplianceVersionTable is the table in which goose records the applied
// migrations of the compliance schema, apart from the content schema's
// (VersionTable), so that both may share a file.
const ComplianceVersionTable = "parley_compliance_migrations"

// capturedRowsPerInsert keeps a CaptureEvents statement under SQLite's
// 32766 parameters.
const capturedRowsPerInsert = 1000 // 9 parameters each

// ComplianceStore is a storage.ComplianceStore on one SQLite file, for a
// single node (a pool keeps its compliance database on MySQL). It is safe
// for concurrent use, as Store is, with the same single writer connection
// and read-only connections.
type ComplianceStore struct {
	path  string
	write *sql.DB
	read  *sql.DB
}

var _ storage.ComplianceStore = (*ComplianceStore)(nil)

// OpenCompliance opens the compliance database at path, creating the file
// (mode 0600) and its directories if they are missing, and brings its
// schema up to date.
func OpenCompliance(ctx context.Context, path string) (*ComplianceStore, error) {
	if path == "" {
		return nil, errors.New("storage/sqlite: open compliance database: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: open compliance database %s: %w", path, err)
	}
	if err := createFile(abs); err != nil {
		return nil, fmt.Errorf("storage/sqlite: open compliance database %s: %w", abs, err)
	}
	s := &ComplianceStore{path: abs}
	if s.write, err = sql.Open("sqlite", dsn(abs, true)); err != nil {
		return nil, fmt.Errorf("storage/sqlite: open compliance database %s: %w", abs, err)
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	if err := s.write.PingContext(ctx); err != nil {
		s.write.Close()
		return nil, fmt.Errorf("storage/sqlite: open compliance database %s: %w", abs, err)
	}
	if err := migrateCompliance(ctx, s.write); err != nil {
		s.write.Close()
		return nil, fmt.Errorf("storage/sqlite: migrate compliance database %s: %w", abs, err)
	}
	if s.read, err = sql.Open("sqlite", dsn(abs, false)); err != nil {
		s.write.Close()
		return nil, fmt.Errorf("storage/sqlite: open compliance database %s for reading: %w", abs, err)
	}
	s.read.SetMaxOpenConns(2)
	s.read.SetMaxIdleConns(2)
	if err := s.read.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("storage/sqlite: open compliance database %s for reading: %w", abs, err)
	}
	return s, nil
}

// migrateCompliance applies the compliance migrations db has not seen yet.
func migrateCompliance(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(complianceMigrations, "compliance_migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys,
		goose.WithTableName(ComplianceVersionTable),
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Ping implements storage.ComplianceStore.
func (s *ComplianceStore) Ping(ctx context.Context) error {
	if err := errors.Join(s.write.PingContext(ctx), s.read.PingContext(ctx)); err != nil {
		return fmt.Errorf("storage/sqlite: ping compliance database %s: %w", s.path, err)
	}
	return nil
}

// Close implements storage.ComplianceStore.
func (s *ComplianceStore) Close() error {
	var errs []error
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	errs = append(errs, s.write.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage/sqlite: close compliance database %s: %w", s.path, err)
	}
	return nil
}

const capturedInsert = `INSERT INTO compliance_events
	(event_id, outbox_id, type, room, actor, target, occurred_at, payload, captured_at) VALUES `

// CaptureEvents implements storage.ComplianceStore. The single writer and
// AUTOINCREMENT give the rows seqs in the order of evs.
func (s *ComplianceStore) CaptureEvents(ctx context.Context, evs []storage.OutboxEvent) (int, error) {
	for i, ev := range evs {
		if err := check.CapturedEvent(ev); err != nil {
			return 0, fmt.Errorf("storage/sqlite: capture events: event %d: %w", i, err)
		}
	}
	if len(evs) == 0 {
		return 0, nil
	}
	now := unixMicro(time.Now())
	inserted := 0
	err := inTx(ctx, s.write, func(tx *sql.Tx) error {
		inserted = 0
		for start := 0; start < len(evs); start += capturedRowsPerInsert {
			chunk := evs[start:min(start+capturedRowsPerInsert, len(evs))]
			args := make([]any, 0, 9*len(chunk))
			for _, ev := range chunk {
				args = append(args, ev.EventID, ev.ID, ev.Type, ev.Room, ev.Actor, ev.Target,
					unixMicro(ev.Time), nonNil(ev.Payload), now)
			}
			res, err := tx.ExecContext(ctx,
				capturedInsert+rowPlaceholders(len(chunk), 9)+` ON CONFLICT (event_id) DO NOTHING`, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			inserted += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage/sqlite: capture %d events: %w", len(evs), err)
	}
	return inserted, nil
}

// ComplianceEvents implements storage.ComplianceStore.
func (s *ComplianceStore) ComplianceEvents(ctx context.Context, after int64, limit int) ([]storage.ComplianceEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("storage/sqlite: read compliance events: limit %d is not positive", limit)
	}
	rows, err := s.read.QueryContext(ctx, `
		SELECT seq, outbox_id, event_id, type, room, actor, target, occurred_at, payload, captured_at
		FROM compliance_events
		WHERE seq > ?
		ORDER BY seq
		LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: read compliance events: %w", err)
	}
	defer rows.Close()
	var out []storage.ComplianceEvent
	for rows.Next() {
		var (
			ev             storage.ComplianceEvent
			when, captured int64
		)
		if err := rows.Scan(&ev.Seq, &ev.OutboxID, &ev.EventID, &ev.Type, &ev.Room, &ev.Actor,
			&ev.Target, &when, &ev.Payload, &captured); err != nil {
			return nil, fmt.Errorf("storage/sqlite: read compliance events: %w", err)
		}
		ev.Time, ev.CapturedAt = fromUnixMicro(when), fromUnixMicro(captured)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/sqlite: read compliance events: %w", err)
	}
	return out, nil
}

// CountComplianceEvents implements storage.ComplianceStore.
func (s *ComplianceStore) CountComplianceEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM compliance_events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage/sqlite: count compliance events: %w", err)
	}
	return n, nil
}

// AcquireLease implements storage.ComplianceStore in one statement: the
// write transactions of SQLite are serial, and the upsert changes the row
// only if the lease is free, expired or already holder's.
func (s *ComplianceStore) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (storage.Lease, bool, error) {
	if err := errors.Join(check.Lease(name, holder), check.LeaseTTL(ttl)); err != nil {
		return storage.Lease{}, false, fmt.Errorf("storage/sqlite: acquire lease: %w", err)
	}
	now := time.Now()
	l := storage.Lease{Name: name}
	err := inTx(ctx, s.write, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO compliance_lease (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE compliance_lease.holder IN ('', excluded.holder) OR compliance_lease.expires_at <= ?`,
			name, holder, unixMicro(now.Add(ttl)), unixMicro(now)); err != nil {
			return err
		}
		var expires int64
		if err := tx.QueryRowContext(ctx, `SELECT holder, expires_at FROM compliance_lease WHERE name = ?`,
			name).Scan(&l.Holder, &expires); err != nil {
			return err
		}
		l.Expires = fromUnixMicro(expires)
		return nil
	})
	if err != nil {
		return storage.Lease{}, false, fmt.Errorf("storage/sqlite: acquire lease %s for %s: %w", name, holder, err)
	}
	return l, l.Held(holder, now), nil
}

// ReleaseLease implements storage.ComplianceStore.
func (s *ComplianceStore) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := check.Lease(name, holder); err != nil {
		return fmt.Errorf("storage/sqlite: release lease: %w", err)
	}
	err := inTx(ctx, s.write, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`UPDATE compliance_lease SET holder = '', expires_at = 0 WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: release lease %s of %s: %w", name, holder, err)
	}
	return nil
}

// Lease implements storage.ComplianceStore.
func (s *ComplianceStore) Lease(ctx context.Context, name string) (storage.Lease, time.Time, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	l := storage.Lease{Name: name}
	var expires int64
	err := s.read.QueryRowContext(ctx, `SELECT holder, expires_at FROM compliance_lease WHERE name = ?`,
		name).Scan(&l.Holder, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return l, now, nil
	case err != nil:
		return storage.Lease{}, time.Time{}, fmt.Errorf("storage/sqlite: read lease %s: %w", name, err)
	}
	if l.Holder != "" {
		l.Expires = fromUnixMicro(expires)
	}
	return l, now, nil
}

// complianceWhere builds the WHERE clause of q (without the cursor) and
// its arguments.
func complianceWhere(q storage.ComplianceQuery) (string, []any) {
	where, args := "1 = 1", []any{}
	if !q.From.IsZero() {
		where += " AND occurred_at >= ?"
		args = append(args, unixMicro(q.From))
	}
	if !q.To.IsZero() {
		where += " AND occurred_at < ?"
		args = append(args, unixMicro(q.To))
	}
	if q.Room != "" {
		where += " AND room = ?"
		args = append(args, q.Room)
	}
	if q.OutsideRooms {
		where += " AND room = ''"
	}
	if q.Actor != "" {
		where += " AND actor = ?"
		args = append(args, q.Actor)
	}
	if q.User != "" {
		where += " AND (actor = ? OR target = ?)"
		args = append(args, q.User, q.User)
	}
	return where, args
}

// QueryComplianceEvents implements storage.ComplianceStore, on the indexes
// by time and by room and time.
func (s *ComplianceStore) QueryComplianceEvents(ctx context.Context, q storage.ComplianceQuery) ([]storage.ComplianceEvent, error) {
	if err := check.ComplianceQuery(q); err != nil {
		return nil, fmt.Errorf("storage/sqlite: query compliance events: %w", err)
	}
	if q.AfterSeq > 0 && q.AfterTime.After(q.From) {
		// The cursor is also the lower bound of the index range, so
		// that each page starts at the cursor instead of scanning
		// from From again (an export of a million events would
		// otherwise take quadratic time).
		q.From = q.AfterTime
	}
	where, args := complianceWhere(q)
	if q.AfterSeq > 0 {
		at := unixMicro(q.AfterTime)
		where += " AND (occurred_at > ? OR (occurred_at = ? AND seq > ?))"
		args = append(args, at, at, q.AfterSeq)
	}
	rows, err := s.read.QueryContext(ctx, `
		SELECT seq, outbox_id, event_id, type, room, actor, target, occurred_at, payload, captured_at
		FROM compliance_events
		WHERE `+where+`
		ORDER BY occurred_at, seq
		LIMIT ?`, append(args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: query compliance events: %w", err)
	}
	defer rows.Close()
	var out []storage.ComplianceEvent
	for rows.Next() {
		var (
			ev             storage.ComplianceEvent
			when, captured int64
		)
		if err := rows.Scan(&ev.Seq, &ev.OutboxID, &ev.EventID, &ev.Type, &ev.Room, &ev.Actor,
			&ev.Target, &when, &ev.Payload, &captured); err != nil {
			return nil, fmt.Errorf("storage/sqlite: query compliance events: %w", err)
		}
		ev.Time, ev.CapturedAt = fromUnixMicro(when), fromUnixMicro(captured)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/sqlite: query compliance events: %w", err)
	}
	return out, nil
}

// TallyComplianceEvents implements storage.ComplianceStore.
func (s *ComplianceStore) TallyComplianceEvents(ctx context.Context, q storage.ComplianceQuery) ([]storage.ComplianceTally, error) {
	q.Limit = 1 // not used
	if err := check.ComplianceQuery(q); err != nil {
		return nil, fmt.Errorf("storage/sqlite: tally compliance events: %w", err)
	}
	where, args := complianceWhere(q)
	rows, err := s.read.QueryContext(ctx, `
		SELECT room, actor, COUNT(*) FROM compliance_events
		WHERE `+where+`
		GROUP BY room, actor
		ORDER BY room, actor`, args...)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: tally compliance events: %w", err)
	}
	defer rows.Close()
	var out []storage.ComplianceTally
	for rows.Next() {
		var t storage.ComplianceTally
		if err := rows.Scan(&t.Room, &t.Actor, &t.Events); err != nil {
			return nil, fmt.Errorf("storage/sqlite: tally compliance events: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/sqlite: tally compliance events: %w", err)
	}
	return out, nil
}

// adapterPositionColumns are the columns scanAdapterPosition reads.
const adapterPositionColumns = `name, seq, pending, updated_at, last_run_at, last_events, last_file, last_error`

func scanAdapterPosition(row interface{ Scan(...any) error }) (storage.AdapterPosition, error) {
	var (
		p       storage.AdapterPosition
		updated int64
		ran     sql.NullInt64
	)
	err := row.Scan(&p.Name, &p.Seq, &p.Pending, &updated, &ran, &p.LastRun.Events, &p.LastRun.File, &p.LastRun.Error)
	p.Updated = fromUnixMicro(updated)
	if ran.Valid {
		p.LastRun.At = fromUnixMicro(ran.Int64)
	}
	return p, err
}

// AdapterPosition implements storage.ComplianceStore.
func (s *ComplianceStore) AdapterPosition(ctx context.Context, name string) (storage.AdapterPosition, error) {
	p, err := scanAdapterPosition(s.read.QueryRowContext(ctx,
		`SELECT `+adapterPositionColumns+` FROM compliance_adapter_positions WHERE name = ?`, name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.AdapterPosition{Name: name}, nil
	case err != nil:
		return storage.AdapterPosition{}, fmt.Errorf("storage/sqlite: read adapter position %s: %w", name, err)
	}
	return p, nil
}

// AdapterPositions implements storage.ComplianceStore.
func (s *ComplianceStore) AdapterPositions(ctx context.Context) ([]storage.AdapterPosition, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+adapterPositionColumns+` FROM compliance_adapter_positions ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: read adapter positions: %w", err)
	}
	defer rows.Close()
	var out []storage.AdapterPosition
	for rows.Next() {
		p, err := scanAdapterPosition(rows)
		if err != nil {
			return nil, fmt.Errorf("storage/sqlite: read adapter positions: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/sqlite: read adapter positions: %w", err)
	}
	return out, nil
}

// SetAdapterPosition implements storage.ComplianceStore.
func (s *ComplianceStore) SetAdapterPosition(ctx context.Context, p storage.AdapterPosition) error {
	if err := check.AdapterPosition(p); err != nil {
		return fmt.Errorf("storage/sqlite: store adapter position: %w", err)
	}
	var ran any
	if !p.LastRun.At.IsZero() {
		ran = unixMicro(p.LastRun.At)
	}
	err := inTx(ctx, s.write, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO compliance_adapter_positions
				(name, seq, pending, updated_at, last_run_at, last_events, last_file, last_error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, pending = excluded.pending,
				updated_at = excluded.updated_at, last_run_at = excluded.last_run_at,
				last_events = excluded.last_events, last_file = excluded.last_file, last_error = excluded.last_error`,
			p.Name, p.Seq, p.Pending, unixMicro(time.Now()), ran, p.LastRun.Events, p.LastRun.File, p.LastRun.Error)
		return err
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: store adapter position %s: %w", p.Name, err)
	}
	return nil
}

// PurgeComplianceEvents implements storage.ComplianceRetention.
func (s *ComplianceStore) PurgeComplianceEvents(ctx context.Context, p storage.ComplianceEventPurge) (int, time.Time, error) {
	if p.Limit <= 0 || p.Before.IsZero() {
		return 0, time.Time{}, fmt.Errorf("storage/sqlite: purge compliance events: limit %d and time %v required", p.Limit, p.Before)
	}
	var (
		n      int
		newest int64
	)
	err := inTx(ctx, s.write, func(tx *sql.Tx) error {
		q := `SELECT seq, occurred_at FROM compliance_events WHERE occurred_at < ?`
		args := []any{unixMicro(p.Before)}
		if len(p.KeepRooms) > 0 {
			q += ` AND room NOT IN (` + placeholders(len(p.KeepRooms)) + `)`
			args = append(args, anys(p.KeepRooms)...)
		}
		if len(p.KeepActors) > 0 {
			q += ` AND actor NOT IN (` + placeholders(len(p.KeepActors)) + `)`
			args = append(args, anys(p.KeepActors)...)
		}
		rows, err := tx.QueryContext(ctx, q+` ORDER BY occurred_at, seq LIMIT ?`, append(args, p.Limit)...)
		if err != nil {
			return err
		}
		var seqs []string
		for rows.Next() {
			var seq, at int64
			if err := rows.Scan(&seq, &at); err != nil {
				rows.Close()
				return err
			}
			seqs = append(seqs, fmt.Sprint(seq))
			newest = max(newest, at)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(seqs) == 0 {
			return nil
		}
		// Integers from the table itself: safe to inline, and no
		// limit on bound parameters.
		res, err := tx.ExecContext(ctx, `DELETE FROM compliance_events WHERE seq IN (`+strings.Join(seqs, ",")+`)`)
		if err != nil {
			return err
		}
		deleted, err := res.RowsAffected()
		n = int(deleted)
		return err
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("storage/sqlite: purge compliance events: %w", err)
	}
	if n == 0 {
		return 0, time.Time{}, nil
	}
	return n, fromUnixMicro(newest), nil
}

// placeholders returns "?, ?, …" with n question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// rowPlaceholders returns "(?, …), (?, …)…": rows rows of cols each.
func rowPlaceholders(rows, cols int) string {
	row := "(" + placeholders(cols) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
