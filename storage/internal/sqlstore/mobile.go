package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// FAST tokens (XEP-0484) and push registrations (XEP-0357): the tables of
// migration 00019.

const fastColumns = `owner, agent_id, mechanism, hash, expires_at, prev_hash, prev_expires, last_count, software, device, created_at, used_at`

func scanFastToken(row scanner) (t storage.FastToken, err error) {
	return t, row.Scan(&t.Owner, &t.AgentID, &t.Mechanism, &t.Hash, scanTime(&t.Expires), &t.PrevHash, scanTime(&t.PrevExpires),
		&t.Count, &t.Software, &t.Device, scanTime(&t.Created), scanTime(&t.Used))
}

// FastToken implements storage.FastTokens.
func (s *Store) FastToken(ctx context.Context, owner, agentID string) (storage.FastToken, error) {
	t, err := scanFastToken(s.read.QueryRowContext(ctx,
		`SELECT `+fastColumns+` FROM fast_tokens WHERE owner = ? AND agent_id = ?`, owner, agentID))
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	return t, s.wrap(err, "FAST token of %s", owner)
}

// PutFastToken implements storage.FastTokens.
func (s *Store) PutFastToken(ctx context.Context, t storage.FastToken) error {
	if err := check.FastToken(t); err != nil {
		return s.wrap(err, "store FAST token")
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(ctx, tx, t.Owner); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO fast_tokens (`+fastColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) `+
			s.upsert("owner, agent_id", "mechanism", "hash", "expires_at", "prev_hash", "prev_expires", "last_count", "software", "device", "created_at", "used_at"),
			t.Owner, t.AgentID, t.Mechanism, t.Hash, s.t(t.Expires), nonNil(t.PrevHash), s.nullTime(t.PrevExpires),
			t.Count, t.Software, t.Device, s.t(orNow(t.Created, time.Now())), s.nullTime(t.Used))
		return s.mapError(err)
	})
	return s.wrap(err, "store FAST token of %s", t.Owner)
}

// FastTokens implements storage.FastTokens.
func (s *Store) FastTokens(ctx context.Context, owner string) ([]storage.FastToken, error) {
	out, err := collect(ctx, s.read, scanFastToken,
		`SELECT `+fastColumns+` FROM fast_tokens WHERE owner = ? ORDER BY agent_id`, owner)
	return out, s.wrap(err, "FAST tokens of %s", owner)
}

// DeleteFastTokens implements storage.FastTokens.
func (s *Store) DeleteFastTokens(ctx context.Context, owner, agentID string) (int, error) {
	q, args := `DELETE FROM fast_tokens WHERE owner = ?`, []any{owner}
	if agentID != "" {
		q, args = q+` AND agent_id = ?`, append(args, agentID)
	}
	n, err := rowsAffected(s.write.ExecContext(ctx, q, args...))
	return n, s.wrap(err, "delete FAST tokens of %s", owner)
}

// EnablePush implements storage.PushRegistrations.
func (s *Store) EnablePush(ctx context.Context, r storage.PushRegistration, ev *storage.OutboxEvent) error {
	errs := []error{check.PushRegistration(r)}
	if ev != nil {
		errs = append(errs, check.Event(*ev))
	}
	if err := errors.Join(errs...); err != nil {
		return s.wrap(err, "enable push")
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(ctx, tx, r.Owner); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO push_registrations (owner, jid, node, options, created_at) VALUES (?, ?, ?, ?, ?) `+
			s.upsert("owner, jid, node", "options", "created_at"),
			r.Owner, r.JID, r.Node, nonNil(r.Options), s.t(orNow(r.Created, time.Now()))); err != nil {
			return s.mapError(err)
		}
		if ev != nil {
			return s.writeEvent(ctx, tx, *ev)
		}
		return nil
	})
	return s.wrap(err, "enable push for %s", r.Owner)
}

// DisablePush implements storage.PushRegistrations.
func (s *Store) DisablePush(ctx context.Context, owner, jid, node string, ev *storage.OutboxEvent) (int, error) {
	if ev != nil {
		if err := check.Event(*ev); err != nil {
			return 0, s.wrap(err, "disable push")
		}
	}
	var n int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		q, args := `DELETE FROM push_registrations WHERE owner = ? AND jid = ?`, []any{owner, jid}
		if node != "" {
			q, args = q+` AND node = ?`, append(args, node)
		}
		var err error
		if n, err = rowsAffected(tx.ExecContext(ctx, q, args...)); err != nil || n == 0 || ev == nil {
			return err
		}
		return s.writeEvent(ctx, tx, *ev)
	})
	return n, s.wrap(err, "disable push for %s", owner)
}

// PushRegistrations implements storage.PushRegistrations.
func (s *Store) PushRegistrations(ctx context.Context, owner string) ([]storage.PushRegistration, error) {
	out, err := collect(ctx, s.read, func(row scanner) (r storage.PushRegistration, err error) {
		return r, row.Scan(&r.Owner, &r.JID, &r.Node, &r.Options, scanTime(&r.Created))
	}, `SELECT owner, jid, node, options, created_at FROM push_registrations WHERE owner = ? ORDER BY jid, node`, owner)
	return out, s.wrap(err, "push registrations of %s", owner)
}

// rowsAffected is the count of an Exec's result.
func rowsAffected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
