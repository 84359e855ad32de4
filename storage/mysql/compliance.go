package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// complianceMigrations is the compliance database's schema for MySQL.
// storage/sqlite/compliance_migrations is the same schema for SQLite;
// change both in the same commit.
//
//go:embed compliance_migrations/*.sql
var complianceMigrations embed.FS

// ComplianceVersionTable is the table in which goose records the applied
// migrations of the compliance schema, apart from the content schema's
// (VersionTable), so that both may share a database.
const ComplianceVersionTable = "parley_compliance_migrations"

// capturedRowsPerInsert bounds the rows of one CaptureEvents statement
// (9 parameters each, far under the 65535 of a prepared statement).
const capturedRowsPerInsert = 1000

// complianceMaxOpenConns is per node: the compliance database has one
// writer per pool and a few readers (status, export).
const complianceMaxOpenConns = 4

// ComplianceStore is a storage.ComplianceStore on a MySQL or MariaDB
// database, which may be another database on the content server or on
// another server. It is safe for concurrent use, also by several processes.
type ComplianceStore struct {
	db    *sql.DB
	where string // user@net(addr)/dbname, never the password
	// beforeCaptureCommit, set by tests only, runs inside a capture
	// transaction just before its commit.
	beforeCaptureCommit func(evs []storage.OutboxEvent)
}

var _ storage.ComplianceStore = (*ComplianceStore)(nil)

// OpenCompliance connects to the compliance database that dsn names (a
// go-sql-driver/mysql DSN, with the settings Open forces), creating the
// database if it does not exist, and brings its schema up to date. Errors
// never show the password.
func OpenCompliance(ctx context.Context, dsn string) (*ComplianceStore, error) {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: parse compliance DSN: %w", withoutPassword(err, dsn))
	}
	where := describe(cfg)
	if cfg.DBName == "" {
		return nil, fmt.Errorf("storage/mysql: compliance DSN %s names no database; want user:password@tcp(host:3306)/parley_compliance", where)
	}
	if err := configure(cfg); err != nil {
		return nil, fmt.Errorf("storage/mysql: configure %s: %w", where, err)
	}
	if err := createDatabaseIfMissing(ctx, cfg); err != nil {
		return nil, fmt.Errorf("storage/mysql: %w", err)
	}
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: connect to %s: %w", where, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(complianceMaxOpenConns)
	db.SetMaxIdleConns(complianceMaxOpenConns)
	db.SetConnMaxLifetime(connMaxLifetime)
	if err := migrateCompliance(ctx, db, cfg.DBName); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage/mysql: migrate compliance database %s: %w", where, err)
	}
	return &ComplianceStore{db: db, where: where}, nil
}

// migrateCompliance applies the compliance migrations db has not seen yet,
// under the same lock as migrate (see there why).
func migrateCompliance(ctx context.Context, db *sql.DB, dbName string) error {
	fsys, err := fs.Sub(complianceMigrations, "compliance_migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectMySQL, db, fsys,
		goose.WithTableName(ComplianceVersionTable),
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(dbName))
	lock := migrationLockPrefix + hex.EncodeToString(sum[:8])
	return withLock(ctx, db, lock, migrationLockWait, func() error {
		_, err := p.Up(ctx)
		return err
	})
}

// Ping implements storage.ComplianceStore.
func (s *ComplianceStore) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("storage/mysql: ping compliance database %s: %w", s.where, err)
	}
	return nil
}

// Close implements storage.ComplianceStore.
func (s *ComplianceStore) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("storage/mysql: close compliance database %s: %w", s.where, err)
	}
	return nil
}

// writeTx runs fn in a READ COMMITTED transaction, again if InnoDB picks it
// as a deadlock victim.
func (s *ComplianceStore) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for range deadlockRetries {
		err = inTx(ctx, s.db, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, fn)
		var me *gomysql.MySQLError
		if !errors.As(err, &me) || me.Number != erLockDeadlock {
			return err
		}
	}
	return err
}

func inTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// capturedInsert skips an event already stored with ON DUPLICATE KEY UPDATE
// of nothing, not INSERT IGNORE, which would also turn a value that does
// not fit into a warning and store it truncated. Without CLIENT_FOUND_ROWS
// such a row counts 0 affected rows, a new one 1.
const capturedInsert = `INSERT INTO compliance_events
	(event_id, outbox_id, type, room, actor, target, occurred_at, payload, captured_at) VALUES `

// CaptureEvents implements storage.ComplianceStore. The rows of one
// statement get ascending seqs in their order. Each capture first locks
// the one row of compliance_capture_lock, so captures commit one at a time
// in the order they take their seqs: InnoDB hands auto-increment values out
// at insert time, and two overlapping captures (two workers while the lease
// changes hands) could otherwise commit seqs out of order, and an adapter
// that had read past the higher one would never see the lower.
func (s *ComplianceStore) CaptureEvents(ctx context.Context, evs []storage.OutboxEvent) (int, error) {
	for i, ev := range evs {
		if err := check.CapturedEvent(ev); err != nil {
			return 0, fmt.Errorf("storage/mysql: capture events: event %d: %w", i, err)
		}
	}
	if len(evs) == 0 {
		return 0, nil
	}
	inserted := 0
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		inserted = 0
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT id FROM compliance_capture_lock WHERE id = 1 FOR UPDATE`).Scan(&one); err != nil {
			return fmt.Errorf("capture lock: %w", err)
		}
		var now time.Time
		if err := tx.QueryRowContext(ctx, `SELECT NOW(6)`).Scan(&now); err != nil {
			return err
		}
		for start := 0; start < len(evs); start += capturedRowsPerInsert {
			chunk := evs[start:min(start+capturedRowsPerInsert, len(evs))]
			args := make([]any, 0, 9*len(chunk))
			for _, ev := range chunk {
				args = append(args, ev.EventID, ev.ID, ev.Type, ev.Room, ev.Actor, ev.Target,
					ev.Time.UTC(), nonNil(ev.Payload), now)
			}
			res, err := tx.ExecContext(ctx,
				capturedInsert+rowPlaceholders(len(chunk), 9)+` ON DUPLICATE KEY UPDATE event_id = event_id`, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			inserted += int(n)
		}
		if s.beforeCaptureCommit != nil {
			s.beforeCaptureCommit(evs)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage/mysql: capture %d events in %s: %w", len(evs), s.where, err)
	}
	return inserted, nil
}

// ComplianceEvents implements storage.ComplianceStore.
func (s *ComplianceStore) ComplianceEvents(ctx context.Context, after int64, limit int) ([]storage.ComplianceEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("storage/mysql: read compliance events: limit %d is not positive", limit)
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT seq, outbox_id, event_id, type, room, actor, target, occurred_at, payload, captured_at
		FROM compliance_events
		WHERE seq > ?
		ORDER BY seq
		LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: read compliance events from %s: %w", s.where, err)
	}
	defer rows.Close()
	var out []storage.ComplianceEvent
	for rows.Next() {
		var ev storage.ComplianceEvent
		if err := rows.Scan(&ev.Seq, &ev.OutboxID, &ev.EventID, &ev.Type, &ev.Room, &ev.Actor,
			&ev.Target, &ev.Time, &ev.Payload, &ev.CapturedAt); err != nil {
			return nil, fmt.Errorf("storage/mysql: read compliance events from %s: %w", s.where, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/mysql: read compliance events from %s: %w", s.where, err)
	}
	return out, nil
}

// CountComplianceEvents implements storage.ComplianceStore.
func (s *ComplianceStore) CountComplianceEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM compliance_events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage/mysql: count compliance events in %s: %w", s.where, err)
	}
	return n, nil
}

// AcquireLease implements storage.ComplianceStore. The lease row is created
// free if missing, then locked (FOR UPDATE), so that concurrent takers on
// any node queue and only the first finds it free; times are the server's.
func (s *ComplianceStore) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (storage.Lease, bool, error) {
	if err := errors.Join(check.Lease(name, holder), check.LeaseTTL(ttl)); err != nil {
		return storage.Lease{}, false, fmt.Errorf("storage/mysql: acquire lease: %w", err)
	}
	var (
		l    storage.Lease
		held bool
	)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		l, held = storage.Lease{Name: name}, false
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO compliance_lease (name, holder, expires_at) VALUES (?, '', NOW(6))
			ON DUPLICATE KEY UPDATE name = name`, name); err != nil {
			return err
		}
		var now time.Time
		if err := tx.QueryRowContext(ctx, `
			SELECT holder, expires_at, NOW(6) FROM compliance_lease WHERE name = ? FOR UPDATE`,
			name).Scan(&l.Holder, &l.Expires, &now); err != nil {
			return err
		}
		if l.Holder != "" && l.Holder != holder && now.Before(l.Expires) {
			return nil // someone else's, still valid
		}
		l.Holder, l.Expires = holder, now.Add(ttl).Truncate(time.Microsecond)
		if _, err := tx.ExecContext(ctx, `UPDATE compliance_lease SET holder = ?, expires_at = ? WHERE name = ?`,
			l.Holder, l.Expires, name); err != nil {
			return err
		}
		held = true
		return nil
	})
	if err != nil {
		return storage.Lease{}, false, fmt.Errorf("storage/mysql: acquire lease %s for %s in %s: %w", name, holder, s.where, err)
	}
	return l, held, nil
}

// ReleaseLease implements storage.ComplianceStore.
func (s *ComplianceStore) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := check.Lease(name, holder); err != nil {
		return fmt.Errorf("storage/mysql: release lease: %w", err)
	}
	if _, err := s.db.ExecContext(ctx,
		`UPDATE compliance_lease SET holder = '' WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("storage/mysql: release lease %s of %s in %s: %w", name, holder, s.where, err)
	}
	return nil
}

// Lease implements storage.ComplianceStore.
func (s *ComplianceStore) Lease(ctx context.Context, name string) (storage.Lease, time.Time, error) {
	l := storage.Lease{Name: name}
	var (
		now     time.Time
		holder  sql.NullString
		expires sql.NullTime
	)
	err := s.db.QueryRowContext(ctx, `
		SELECT NOW(6), l.holder, l.expires_at
		FROM (SELECT 1 AS one) AS x
		LEFT JOIN compliance_lease AS l ON l.name = ?`, name).Scan(&now, &holder, &expires)
	if err != nil {
		return storage.Lease{}, time.Time{}, fmt.Errorf("storage/mysql: read lease %s in %s: %w", name, s.where, err)
	}
	if holder.String != "" {
		l.Holder, l.Expires = holder.String, expires.Time
	}
	return l, now, nil
}

// complianceWhere builds the WHERE clause of q (without the cursor) and
// its arguments.
func complianceWhere(q storage.ComplianceQuery) (string, []any) {
	where, args := "1 = 1", []any{}
	if !q.From.IsZero() {
		where += " AND occurred_at >= ?"
		args = append(args, q.From.UTC())
	}
	if !q.To.IsZero() {
		where += " AND occurred_at < ?"
		args = append(args, q.To.UTC())
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
// by time and by room and time (InnoDB's secondary indexes end with the
// primary key, seq, so both are in the order asked for).
func (s *ComplianceStore) QueryComplianceEvents(ctx context.Context, q storage.ComplianceQuery) ([]storage.ComplianceEvent, error) {
	if err := check.ComplianceQuery(q); err != nil {
		return nil, fmt.Errorf("storage/mysql: query compliance events: %w", err)
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
		at := q.AfterTime.UTC()
		where += " AND (occurred_at > ? OR (occurred_at = ? AND seq > ?))"
		args = append(args, at, at, q.AfterSeq)
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT seq, outbox_id, event_id, type, room, actor, target, occurred_at, payload, captured_at
		FROM compliance_events
		WHERE `+where+`
		ORDER BY occurred_at, seq
		LIMIT ?`, append(args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: query compliance events in %s: %w", s.where, err)
	}
	defer rows.Close()
	var out []storage.ComplianceEvent
	for rows.Next() {
		var ev storage.ComplianceEvent
		if err := rows.Scan(&ev.Seq, &ev.OutboxID, &ev.EventID, &ev.Type, &ev.Room, &ev.Actor,
			&ev.Target, &ev.Time, &ev.Payload, &ev.CapturedAt); err != nil {
			return nil, fmt.Errorf("storage/mysql: query compliance events in %s: %w", s.where, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/mysql: query compliance events in %s: %w", s.where, err)
	}
	return out, nil
}

// TallyComplianceEvents implements storage.ComplianceStore.
func (s *ComplianceStore) TallyComplianceEvents(ctx context.Context, q storage.ComplianceQuery) ([]storage.ComplianceTally, error) {
	q.Limit = 1 // not used
	if err := check.ComplianceQuery(q); err != nil {
		return nil, fmt.Errorf("storage/mysql: tally compliance events: %w", err)
	}
	where, args := complianceWhere(q)
	rows, err := s.db.QueryContext(ctx, `
		SELECT room, actor, COUNT(*) FROM compliance_events
		WHERE `+where+`
		GROUP BY room, actor
		ORDER BY room, actor`, args...)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: tally compliance events in %s: %w", s.where, err)
	}
	defer rows.Close()
	var out []storage.ComplianceTally
	for rows.Next() {
		var t storage.ComplianceTally
		if err := rows.Scan(&t.Room, &t.Actor, &t.Events); err != nil {
			return nil, fmt.Errorf("storage/mysql: tally compliance events in %s: %w", s.where, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/mysql: tally compliance events in %s: %w", s.where, err)
	}
	return out, nil
}

// adapterPositionColumns are the columns scanAdapterPosition reads.
const adapterPositionColumns = `name, seq, pending, updated_at, last_run_at, last_events, last_file, last_error`

func scanAdapterPosition(row interface{ Scan(...any) error }) (storage.AdapterPosition, error) {
	var (
		p   storage.AdapterPosition
		ran sql.NullTime
	)
	err := row.Scan(&p.Name, &p.Seq, &p.Pending, &p.Updated, &ran, &p.LastRun.Events, &p.LastRun.File, &p.LastRun.Error)
	p.LastRun.At = ran.Time
	return p, err
}

// AdapterPosition implements storage.ComplianceStore.
func (s *ComplianceStore) AdapterPosition(ctx context.Context, name string) (storage.AdapterPosition, error) {
	p, err := scanAdapterPosition(s.db.QueryRowContext(ctx,
		`SELECT `+adapterPositionColumns+` FROM compliance_adapter_positions WHERE name = ?`, name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.AdapterPosition{Name: name}, nil
	case err != nil:
		return storage.AdapterPosition{}, fmt.Errorf("storage/mysql: read adapter position %s in %s: %w", name, s.where, err)
	}
	return p, nil
}

// AdapterPositions implements storage.ComplianceStore.
func (s *ComplianceStore) AdapterPositions(ctx context.Context) ([]storage.AdapterPosition, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+adapterPositionColumns+` FROM compliance_adapter_positions ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: read adapter positions in %s: %w", s.where, err)
	}
	defer rows.Close()
	var out []storage.AdapterPosition
	for rows.Next() {
		p, err := scanAdapterPosition(rows)
		if err != nil {
			return nil, fmt.Errorf("storage/mysql: read adapter positions in %s: %w", s.where, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/mysql: read adapter positions in %s: %w", s.where, err)
	}
	return out, nil
}

// SetAdapterPosition implements storage.ComplianceStore.
func (s *ComplianceStore) SetAdapterPosition(ctx context.Context, p storage.AdapterPosition) error {
	if err := check.AdapterPosition(p); err != nil {
		return fmt.Errorf("storage/mysql: store adapter position: %w", err)
	}
	var ran any
	if !p.LastRun.At.IsZero() {
		ran = p.LastRun.At.UTC()
	}
	if _, err := s.db.ExecContext(ctx, `
		INSERT INTO compliance_adapter_positions
			(name, seq, pending, updated_at, last_run_at, last_events, last_file, last_error)
		VALUES (?, ?, ?, NOW(6), ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE seq = VALUES(seq), pending = VALUES(pending), updated_at = VALUES(updated_at),
			last_run_at = VALUES(last_run_at), last_events = VALUES(last_events),
			last_file = VALUES(last_file), last_error = VALUES(last_error)`,
		p.Name, p.Seq, p.Pending, ran, p.LastRun.Events, p.LastRun.File, p.LastRun.Error); err != nil {
		return fmt.Errorf("storage/mysql: store adapter position %s in %s: %w", p.Name, s.where, err)
	}
	return nil
}

// PurgeComplianceEvents implements storage.ComplianceRetention.
func (s *ComplianceStore) PurgeComplianceEvents(ctx context.Context, p storage.ComplianceEventPurge) (int, time.Time, error) {
	if p.Limit <= 0 || p.Before.IsZero() {
		return 0, time.Time{}, fmt.Errorf("storage/mysql: purge compliance events: limit %d and time %v required", p.Limit, p.Before)
	}
	var (
		n      int
		newest time.Time
	)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		n, newest = 0, time.Time{}
		q := `SELECT seq, occurred_at FROM compliance_events WHERE occurred_at < ?`
		args := []any{p.Before.UTC()}
		if len(p.KeepRooms) > 0 {
			q += ` AND room NOT IN (` + placeholders(len(p.KeepRooms)) + `)`
			args = append(args, anys(p.KeepRooms)...)
		}
		if len(p.KeepActors) > 0 {
			q += ` AND actor NOT IN (` + placeholders(len(p.KeepActors)) + `)`
			args = append(args, anys(p.KeepActors)...)
		}
		rows, err := tx.QueryContext(ctx, q+` ORDER BY occurred_at, seq LIMIT ? FOR UPDATE`, append(args, p.Limit)...)
		if err != nil {
			return err
		}
		var seqs []string
		for rows.Next() {
			var (
				seq int64
				at  time.Time
			)
			if err := rows.Scan(&seq, &at); err != nil {
				rows.Close()
				return err
			}
			seqs = append(seqs, fmt.Sprint(seq))
			if at.After(newest) {
				newest = at
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(seqs) == 0 {
			return nil
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM compliance_events WHERE seq IN (`+strings.Join(seqs, ",")+`)`)
		if err != nil {
			return err
		}
		deleted, err := res.RowsAffected()
		n = int(deleted)
		return err
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("storage/mysql: purge compliance events: %w", err)
	}
	return n, newest.UTC(), nil
}

// nonNil returns b, or an empty slice for nil: a nil []byte is sent as SQL
// NULL, which the NOT NULL BLOB columns refuse.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
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
