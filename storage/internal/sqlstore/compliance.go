package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// ComplianceStore is a storage.ComplianceStore and
// storage.ComplianceRetention on one compliance database, which may be the
// content database itself or another one.
type ComplianceStore struct {
	db
	// beforeCaptureCommit, set by tests only, runs inside a capture
	// transaction just before its commit.
	beforeCaptureCommit func(evs []storage.OutboxEvent)
}

var (
	_ storage.ComplianceStore     = (*ComplianceStore)(nil)
	_ storage.ComplianceRetention = (*ComplianceStore)(nil)
)

// NewCompliance returns the store on a compliance database whose schema is
// up to date, as New does for a content database.
func NewCompliance(d *Dialect, write, read *sql.DB, where string) *ComplianceStore {
	return &ComplianceStore{db: db{d: d, write: write, read: read, where: where}}
}

// SetBeforeCaptureCommit makes s call f inside each capture transaction,
// just before its commit (tests only).
func SetBeforeCaptureCommit(s *ComplianceStore, f func(evs []storage.OutboxEvent)) {
	s.beforeCaptureCommit = f
}

// capturedRowsPerInsert bounds the rows of one CaptureEvents statement, 9
// parameters each, far under the 32766 of SQLite and the 65535 of MySQL.
const capturedRowsPerInsert = 1000

const capturedInsert = `INSERT INTO compliance_events
	(event_id, outbox_id, type, room, actor, target, occurred_at, payload, captured_at) VALUES `

// CaptureEvents implements storage.ComplianceStore. An event already
// stored is skipped (an upsert that changes nothing) and not counted. The
// rows of one statement get ascending seqs in their order, and captures
// commit one at a time in the order they take their seqs: SQLite's one
// writer does that by itself; on MySQL each capture first locks the one
// row of compliance_capture_lock, because InnoDB hands auto-increment
// values out at insert time, and two overlapping captures (two workers
// while the lease changes hands) could otherwise commit seqs out of order,
// and an adapter that had read past the higher one would never see the
// lower.
func (s *ComplianceStore) CaptureEvents(ctx context.Context, evs []storage.OutboxEvent) (int, error) {
	for i, ev := range evs {
		if err := check.CapturedEvent(ev); err != nil {
			return 0, s.wrap(err, "capture events: event %d", i)
		}
	}
	if len(evs) == 0 {
		return 0, nil
	}
	inserted := 0
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		inserted = 0
		if !s.d.OneWriter {
			if err := s.lock(ctx, tx, "compliance_capture_lock", "id", "1"); err != nil {
				return fmt.Errorf("capture lock: %w", err)
			}
		}
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		for chunk := range slices.Chunk(evs, capturedRowsPerInsert) {
			args := make([]any, 0, 9*len(chunk))
			for _, ev := range chunk {
				args = append(args, ev.EventID, ev.ID, ev.Type, ev.Room, ev.Actor, ev.Target,
					s.t(ev.Time), nonNil(ev.Payload), s.t(now))
			}
			res, err := tx.ExecContext(ctx,
				capturedInsert+rowPlaceholders(len(chunk), 9)+` `+s.d.Upsert("event_id", ""), args...)
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
		return 0, s.wrap(err, "capture %d events in %s", len(evs), s.where)
	}
	return inserted, nil
}

const complianceEventColumns = `seq, outbox_id, event_id, type, room, actor, target, occurred_at, payload, captured_at`

func scanComplianceEvent(row scanner) (ev storage.ComplianceEvent, err error) {
	return ev, row.Scan(&ev.Seq, &ev.OutboxID, &ev.EventID, &ev.Type, &ev.Room, &ev.Actor,
		&ev.Target, scanTime(&ev.Time), &ev.Payload, scanTime(&ev.CapturedAt))
}

// ComplianceEvents implements storage.ComplianceStore.
func (s *ComplianceStore) ComplianceEvents(ctx context.Context, after int64, limit int) ([]storage.ComplianceEvent, error) {
	if limit <= 0 {
		return nil, s.wrap(fmt.Errorf("limit %d is not positive", limit), "read compliance events")
	}
	out, err := collect(ctx, s.reads(), scanComplianceEvent, `
		SELECT `+complianceEventColumns+`
		FROM compliance_events
		WHERE seq > ?
		ORDER BY seq
		LIMIT ?`, after, limit)
	if err != nil {
		return nil, s.wrap(err, "read compliance events from %s", s.where)
	}
	return out, nil
}

// CountComplianceEvents implements storage.ComplianceStore.
func (s *ComplianceStore) CountComplianceEvents(ctx context.Context) (int64, error) {
	var n int64
	err := s.reads().QueryRowContext(ctx, `SELECT COUNT(*) FROM compliance_events`).Scan(&n)
	return n, s.wrap(err, "count compliance events in %s", s.where)
}

// AcquireLease implements storage.ComplianceStore. The lease row is created
// free if missing, then locked, so that concurrent takers on any node queue
// and only the first finds it free; times are the dialect's clock (on
// MySQL the server's, read after the lock).
func (s *ComplianceStore) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (storage.Lease, bool, error) {
	if err := errors.Join(check.Lease(name, holder), check.LeaseTTL(ttl)); err != nil {
		return storage.Lease{}, false, s.wrap(err, "acquire lease")
	}
	var (
		l    storage.Lease
		held bool
	)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		l, held = storage.Lease{Name: name}, false
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO compliance_lease (name, holder, expires_at) VALUES (?, '', ?) `+s.d.Upsert("name", ""),
			name, s.t(time.Now())); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT holder, expires_at FROM compliance_lease WHERE name = ?`+s.d.ForUpdate,
			name).Scan(&l.Holder, scanTime(&l.Expires)); err != nil {
			return err
		}
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		if l.Holder != "" && l.Holder != holder && now.Before(l.Expires) {
			return nil // someone else's, still valid
		}
		l.Holder, l.Expires = holder, now.Add(ttl).Truncate(time.Microsecond)
		if _, err := tx.ExecContext(ctx, `UPDATE compliance_lease SET holder = ?, expires_at = ? WHERE name = ?`,
			l.Holder, s.t(l.Expires), name); err != nil {
			return err
		}
		held = true
		return nil
	})
	if err != nil {
		return storage.Lease{}, false, s.wrap(err, "acquire lease %s for %s in %s", name, holder, s.where)
	}
	return l, held, nil
}

// ReleaseLease implements storage.ComplianceStore.
func (s *ComplianceStore) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := check.Lease(name, holder); err != nil {
		return s.wrap(err, "release lease")
	}
	_, err := s.writes().ExecContext(ctx,
		`UPDATE compliance_lease SET holder = '' WHERE name = ? AND holder = ?`, name, holder)
	return s.wrap(err, "release lease %s of %s in %s", name, holder, s.where)
}

// Lease implements storage.ComplianceStore.
func (s *ComplianceStore) Lease(ctx context.Context, name string) (storage.Lease, time.Time, error) {
	l := storage.Lease{Name: name}
	now, err := s.now(ctx, s.reads())
	if err == nil {
		err = s.reads().QueryRowContext(ctx, `SELECT holder, expires_at FROM compliance_lease WHERE name = ?`,
			name).Scan(&l.Holder, scanTime(&l.Expires))
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.Lease{Name: name}, now, nil
	case err != nil:
		return storage.Lease{}, time.Time{}, s.wrap(err, "read lease %s in %s", name, s.where)
	case l.Holder == "":
		l.Expires = time.Time{}
	}
	return l, now, nil
}

// complianceWhere builds the WHERE clause of q (without the cursor) and
// its arguments.
func (s *ComplianceStore) complianceWhere(q storage.ComplianceQuery) (string, []any) {
	where, args := "1 = 1", []any{}
	if !q.From.IsZero() {
		where += " AND occurred_at >= ?"
		args = append(args, s.t(q.From))
	}
	if !q.To.IsZero() {
		where += " AND occurred_at < ?"
		args = append(args, s.t(q.To))
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
		return nil, s.wrap(err, "query compliance events")
	}
	if q.AfterSeq > 0 && q.AfterTime.After(q.From) {
		// The cursor is also the lower bound of the index range, so
		// that each page starts at the cursor instead of scanning
		// from From again (an export of a million events would
		// otherwise take quadratic time).
		q.From = q.AfterTime
	}
	where, args := s.complianceWhere(q)
	if q.AfterSeq > 0 {
		at := s.t(q.AfterTime)
		where += " AND (occurred_at > ? OR (occurred_at = ? AND seq > ?))"
		args = append(args, at, at, q.AfterSeq)
	}
	out, err := collect(ctx, s.reads(), scanComplianceEvent, `
		SELECT `+complianceEventColumns+`
		FROM compliance_events
		WHERE `+where+`
		ORDER BY occurred_at, seq
		LIMIT ?`, append(args, q.Limit)...)
	if err != nil {
		return nil, s.wrap(err, "query compliance events in %s", s.where)
	}
	return out, nil
}

// TallyComplianceEvents implements storage.ComplianceStore.
func (s *ComplianceStore) TallyComplianceEvents(ctx context.Context, q storage.ComplianceQuery) ([]storage.ComplianceTally, error) {
	q.Limit = 1 // not used
	if err := check.ComplianceQuery(q); err != nil {
		return nil, s.wrap(err, "tally compliance events")
	}
	where, args := s.complianceWhere(q)
	out, err := collect(ctx, s.reads(), func(row scanner) (t storage.ComplianceTally, err error) {
		return t, row.Scan(&t.Room, &t.Actor, &t.Events)
	}, `
		SELECT room, actor, COUNT(*) FROM compliance_events
		WHERE `+where+`
		GROUP BY room, actor
		ORDER BY room, actor`, args...)
	if err != nil {
		return nil, s.wrap(err, "tally compliance events in %s", s.where)
	}
	return out, nil
}

// adapterPositionColumns are the columns scanAdapterPosition reads.
const adapterPositionColumns = `name, seq, pending, updated_at, last_run_at, last_events, last_file, last_error`

func scanAdapterPosition(row scanner) (p storage.AdapterPosition, err error) {
	return p, row.Scan(&p.Name, &p.Seq, &p.Pending, scanTime(&p.Updated), scanTime(&p.LastRun.At),
		&p.LastRun.Events, &p.LastRun.File, &p.LastRun.Error)
}

// AdapterPosition implements storage.ComplianceStore.
func (s *ComplianceStore) AdapterPosition(ctx context.Context, name string) (storage.AdapterPosition, error) {
	p, err := scanAdapterPosition(s.reads().QueryRowContext(ctx,
		`SELECT `+adapterPositionColumns+` FROM compliance_adapter_positions WHERE name = ?`, name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.AdapterPosition{Name: name}, nil
	case err != nil:
		return storage.AdapterPosition{}, s.wrap(err, "read adapter position %s in %s", name, s.where)
	}
	return p, nil
}

// AdapterPositions implements storage.ComplianceStore.
func (s *ComplianceStore) AdapterPositions(ctx context.Context) ([]storage.AdapterPosition, error) {
	out, err := collect(ctx, s.reads(), scanAdapterPosition,
		`SELECT `+adapterPositionColumns+` FROM compliance_adapter_positions ORDER BY name`)
	if err != nil {
		return nil, s.wrap(err, "read adapter positions in %s", s.where)
	}
	return out, nil
}

// SetAdapterPosition implements storage.ComplianceStore.
func (s *ComplianceStore) SetAdapterPosition(ctx context.Context, p storage.AdapterPosition) error {
	if err := check.AdapterPosition(p); err != nil {
		return s.wrap(err, "store adapter position")
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO compliance_adapter_positions (`+adapterPositionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) `+
			s.upsert("name", "seq", "pending", "updated_at", "last_run_at", "last_events", "last_file", "last_error"),
			p.Name, p.Seq, p.Pending, s.t(now), s.nullTime(p.LastRun.At), p.LastRun.Events, p.LastRun.File, p.LastRun.Error)
		return err
	})
	return s.wrap(err, "store adapter position %s in %s", p.Name, s.where)
}

// PurgeComplianceEvents implements storage.ComplianceRetention.
func (s *ComplianceStore) PurgeComplianceEvents(ctx context.Context, p storage.ComplianceEventPurge) (int, time.Time, error) {
	if p.Limit <= 0 || p.Before.IsZero() {
		return 0, time.Time{}, s.wrap(fmt.Errorf("limit %d and time %v required", p.Limit, p.Before), "purge compliance events")
	}
	var (
		n      int
		newest time.Time
	)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		q := `SELECT seq, occurred_at FROM compliance_events WHERE occurred_at < ?`
		args := []any{s.t(p.Before)}
		if len(p.KeepRooms) > 0 {
			q += ` AND room NOT IN (` + placeholders(len(p.KeepRooms)) + `)`
			args = append(args, anys(p.KeepRooms)...)
		}
		if len(p.KeepActors) > 0 {
			q += ` AND actor NOT IN (` + placeholders(len(p.KeepActors)) + `)`
			args = append(args, anys(p.KeepActors)...)
		}
		var err error
		n, newest, err = s.purgeBatch(ctx, tx, q+` ORDER BY occurred_at, seq LIMIT ?`, append(args, p.Limit),
			`DELETE FROM compliance_events WHERE seq`)
		return err
	})
	if err != nil {
		return 0, time.Time{}, s.wrap(err, "purge compliance events")
	}
	return n, newest, nil
}
