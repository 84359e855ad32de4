package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// PutCategory implements storage.RoomStore.
func (s *Store) PutCategory(ctx context.Context, c storage.Category, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Category(c), check.Event(ev)); err != nil {
		return fmt.Errorf("storage/sqlite: put category: %w", err)
	}
	lists, err := encodeLists(c.AllowedMembers, c.DeniedMembers, c.Creators)
	if err != nil {
		return fmt.Errorf("storage/sqlite: put category %s: %w", c.Name, err)
	}
	now := time.Now()
	created, updated := orNow(c.Created, now), orNow(c.Updated, now)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO categories (name, description, allowed_members, denied_members, creators,
				file_upload, invitations, chat_history, retention_days, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET
				description = excluded.description,
				allowed_members = excluded.allowed_members,
				denied_members = excluded.denied_members,
				creators = excluded.creators,
				file_upload = excluded.file_upload,
				invitations = excluded.invitations,
				chat_history = excluded.chat_history,
				retention_days = excluded.retention_days,
				updated_at = excluded.updated_at`,
			c.Name, c.Description, lists[0], lists[1], lists[2],
			c.FileUpload, c.Invitations, c.ChatHistory, c.RetentionDays, unixMicro(created), unixMicro(updated))
		if err != nil {
			return mapError(err)
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: put category %s: %w", c.Name, err)
	}
	return nil
}

const categoryColumns = `name, description, allowed_members, denied_members, creators,
	file_upload, invitations, chat_history, retention_days, created_at, updated_at`

func scanCategory(row interface{ Scan(...any) error }) (storage.Category, error) {
	var (
		c                        storage.Category
		allowed, denied, creator string
		created, updated         int64
	)
	err := row.Scan(&c.Name, &c.Description, &allowed, &denied, &creator,
		&c.FileUpload, &c.Invitations, &c.ChatHistory, &c.RetentionDays, &created, &updated)
	if err != nil {
		return c, err
	}
	c.Created, c.Updated = fromUnixMicro(created), fromUnixMicro(updated)
	if c.AllowedMembers, err = decodeList(allowed); err != nil {
		return c, fmt.Errorf("allowed members: %w", err)
	}
	if c.DeniedMembers, err = decodeList(denied); err != nil {
		return c, fmt.Errorf("denied members: %w", err)
	}
	if c.Creators, err = decodeList(creator); err != nil {
		return c, fmt.Errorf("creators: %w", err)
	}
	return c, nil
}

// Category implements storage.RoomStore.
func (s *Store) Category(ctx context.Context, name string) (storage.Category, error) {
	c, err := scanCategory(s.read.QueryRowContext(ctx,
		`SELECT `+categoryColumns+` FROM categories WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.Category{}, fmt.Errorf("storage/sqlite: category %s: %w", name, err)
	}
	return c, nil
}

// Categories implements storage.RoomStore.
func (s *Store) Categories(ctx context.Context) ([]storage.Category, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+categoryColumns+` FROM categories ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: categories: %w", err)
	}
	defer rows.Close()
	var out []storage.Category
	for rows.Next() {
		c, err := scanCategory(rows)
		if err != nil {
			return nil, fmt.Errorf("storage/sqlite: categories: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/sqlite: categories: %w", err)
	}
	return out, nil
}

// DeleteCategory implements storage.RoomStore.
func (s *Store) DeleteCategory(ctx context.Context, name string, ev storage.OutboxEvent) error {
	if err := check.Event(ev); err != nil {
		return fmt.Errorf("storage/sqlite: delete category %s: %w", name, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var rooms int
		if err := tx.QueryRowContext(ctx,
			`SELECT count(*) FROM rooms WHERE category = ?`, name).Scan(&rooms); err != nil {
			return err
		}
		if rooms > 0 {
			return fmt.Errorf("%d rooms are still in it: %w", rooms, storage.ErrNotEmpty)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM categories WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storage.ErrNotFound
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: delete category %s: %w", name, err)
	}
	return nil
}

// CreateRoom implements storage.RoomStore.
func (s *Store) CreateRoom(ctx context.Context, r storage.Room, affs []storage.Affiliation, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Room(r), check.Event(ev)); err != nil {
		return fmt.Errorf("storage/sqlite: create room: %w", err)
	}
	affs, err := roomAffiliations(r.Name, affs)
	if err != nil {
		return fmt.Errorf("storage/sqlite: create room %s: %w", r.Name, err)
	}
	r.Created = orNow(r.Created, time.Now())
	r.Updated = orNow(r.Updated, r.Created)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := categoryExists(ctx, tx, r.Category); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO rooms (name, category, title, description, subject, subject_nick, subject_time,
				public, members_only, moderated, password, whois, max_users, change_subject, allow_pm,
				allow_invites, disabled, add_in_url, creator, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Name, r.Category, r.Title, r.Description, r.Subject, r.SubjectNick, nullTime(r.SubjectTime),
			r.Public, r.MembersOnly, r.Moderated, r.Password, r.WhoIs, r.MaxUsers, r.ChangeSubject, r.AllowPM,
			r.AllowInvites, r.Disabled, r.AddInURL, r.Creator, unixMicro(r.Created), unixMicro(r.Updated))
		if err != nil {
			return mapError(err)
		}
		for _, a := range affs {
			if err := putAffiliation(ctx, tx, a); err != nil {
				return err
			}
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: create room %s: %w", r.Name, err)
	}
	return nil
}

// roomAffiliations checks the initial affiliations of room and returns
// them with Room filled in.
func roomAffiliations(room string, affs []storage.Affiliation) ([]storage.Affiliation, error) {
	out := make([]storage.Affiliation, len(affs))
	seen := make(map[string]bool, len(affs))
	for i, a := range affs {
		switch {
		case a.Room == "":
			a.Room = room
		case a.Room != room:
			return nil, fmt.Errorf("affiliation of %s is for room %s", a.JID, a.Room)
		}
		if err := check.Affiliation(a, false); err != nil {
			return nil, err
		}
		if seen[a.JID] {
			return nil, fmt.Errorf("affiliation of %s given twice", a.JID)
		}
		seen[a.JID] = true
		out[i] = a
	}
	return out, nil
}

// categoryExists returns storage.ErrNotFound unless the category exists.
func categoryExists(ctx context.Context, tx *sql.Tx, name string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM categories WHERE name = ?`, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("category %s: %w", name, storage.ErrNotFound)
	}
	return err
}

// roomExists returns storage.ErrNotFound unless the room exists.
func roomExists(ctx context.Context, tx *sql.Tx, name string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM rooms WHERE name = ?`, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("room %s: %w", name, storage.ErrNotFound)
	}
	return err
}

// UpdateRoom implements storage.RoomStore.
func (s *Store) UpdateRoom(ctx context.Context, r storage.Room, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Room(r), check.Event(ev)); err != nil {
		return fmt.Errorf("storage/sqlite: update room: %w", err)
	}
	r.Updated = orNow(r.Updated, time.Now())
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := roomExists(ctx, tx, r.Name); err != nil {
			return err
		}
		if err := categoryExists(ctx, tx, r.Category); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			UPDATE rooms SET category = ?, title = ?, description = ?, subject = ?, subject_nick = ?,
				subject_time = ?, public = ?, members_only = ?, moderated = ?, password = ?, whois = ?,
				max_users = ?, change_subject = ?, allow_pm = ?, allow_invites = ?, disabled = ?,
				add_in_url = ?, updated_at = ?
			WHERE name = ?`,
			r.Category, r.Title, r.Description, r.Subject, r.SubjectNick,
			nullTime(r.SubjectTime), r.Public, r.MembersOnly, r.Moderated, r.Password, r.WhoIs,
			r.MaxUsers, r.ChangeSubject, r.AllowPM, r.AllowInvites, r.Disabled,
			r.AddInURL, unixMicro(r.Updated), r.Name)
		if err != nil {
			return mapError(err)
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: update room %s: %w", r.Name, err)
	}
	return nil
}

const roomColumns = `name, category, title, description, subject, subject_nick, subject_time,
	public, members_only, moderated, password, whois, max_users, change_subject, allow_pm,
	allow_invites, disabled, add_in_url, creator, created_at, updated_at`

func scanRoom(row interface{ Scan(...any) error }) (storage.Room, error) {
	var (
		r                storage.Room
		subjectTime      sql.NullInt64
		created, updated int64
	)
	err := row.Scan(&r.Name, &r.Category, &r.Title, &r.Description, &r.Subject, &r.SubjectNick, &subjectTime,
		&r.Public, &r.MembersOnly, &r.Moderated, &r.Password, &r.WhoIs, &r.MaxUsers, &r.ChangeSubject, &r.AllowPM,
		&r.AllowInvites, &r.Disabled, &r.AddInURL, &r.Creator, &created, &updated)
	if subjectTime.Valid {
		r.SubjectTime = fromUnixMicro(subjectTime.Int64)
	}
	r.Created, r.Updated = fromUnixMicro(created), fromUnixMicro(updated)
	return r, err
}

// Room implements storage.RoomStore.
func (s *Store) Room(ctx context.Context, name string) (storage.Room, error) {
	r, err := scanRoom(s.read.QueryRowContext(ctx, `SELECT `+roomColumns+` FROM rooms WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.Room{}, fmt.Errorf("storage/sqlite: room %s: %w", name, err)
	}
	return r, nil
}

// Rooms implements storage.RoomStore.
func (s *Store) Rooms(ctx context.Context) ([]storage.Room, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+roomColumns+` FROM rooms ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: rooms: %w", err)
	}
	defer rows.Close()
	var out []storage.Room
	for rows.Next() {
		r, err := scanRoom(rows)
		if err != nil {
			return nil, fmt.Errorf("storage/sqlite: rooms: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/sqlite: rooms: %w", err)
	}
	return out, nil
}

// DeleteRoom implements storage.RoomStore. ON DELETE CASCADE removes the
// affiliations and the history, and the history's triggers its entries in
// the full-text index.
func (s *Store) DeleteRoom(ctx context.Context, name string, ev storage.OutboxEvent) error {
	if err := check.Event(ev); err != nil {
		return fmt.Errorf("storage/sqlite: delete room %s: %w", name, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM rooms WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storage.ErrNotFound
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: delete room %s: %w", name, err)
	}
	return nil
}

// SetAffiliation implements storage.RoomStore.
func (s *Store) SetAffiliation(ctx context.Context, a storage.Affiliation, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Affiliation(a, true), check.Event(ev)); err != nil {
		return fmt.Errorf("storage/sqlite: set affiliation: %w", err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := roomExists(ctx, tx, a.Room); err != nil {
			return err
		}
		if a.Affiliation == storage.AffiliationNone {
			if _, err := tx.ExecContext(ctx,
				`DELETE FROM affiliations WHERE room = ? AND jid = ?`, a.Room, a.JID); err != nil {
				return err
			}
		} else if err := putAffiliation(ctx, tx, a); err != nil {
			return err
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: set affiliation of %s in %s: %w", a.JID, a.Room, err)
	}
	return nil
}

func putAffiliation(ctx context.Context, tx *sql.Tx, a storage.Affiliation) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO affiliations (room, jid, affiliation, presenter, reason)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (room, jid) DO UPDATE SET
			affiliation = excluded.affiliation,
			presenter = excluded.presenter,
			reason = excluded.reason`,
		a.Room, a.JID, a.Affiliation, a.Presenter, a.Reason)
	if err != nil {
		return fmt.Errorf("affiliation of %s: %w", a.JID, mapError(err))
	}
	return nil
}

// Affiliations implements storage.RoomStore.
func (s *Store) Affiliations(ctx context.Context, room string) ([]storage.Affiliation, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT jid, affiliation, presenter, reason
		FROM affiliations
		WHERE room = ?
		ORDER BY jid`, room)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: affiliations in %s: %w", room, err)
	}
	defer rows.Close()
	var out []storage.Affiliation
	for rows.Next() {
		a := storage.Affiliation{Room: room}
		if err := rows.Scan(&a.JID, &a.Affiliation, &a.Presenter, &a.Reason); err != nil {
			return nil, fmt.Errorf("storage/sqlite: affiliations in %s: %w", room, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/sqlite: affiliations in %s: %w", room, err)
	}
	return out, nil
}

// encodeLists encodes JID lists as the JSON arrays the categories table
// keeps (like roster groups).
func encodeLists(lists ...[]string) ([]string, error) {
	out := make([]string, len(lists))
	for i, l := range lists {
		var err error
		if out[i], err = encodeGroups(l); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decodeList(s string) ([]string, error) { return decodeGroups(s) }

// orNow returns t, or now if t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: unixMicro(t), Valid: true}
}

// encodeGroups and decodeGroups convert lists to and from JSON arrays.
func encodeGroups(groups []string) (string, error) {
	if len(groups) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(groups)
	if err != nil {
		return "", fmt.Errorf("encode groups: %w", err)
	}
	return string(b), nil
}

func decodeGroups(s string) ([]string, error) {
	var groups []string
	if err := json.Unmarshal([]byte(s), &groups); err != nil {
		return nil, fmt.Errorf("decode groups %q: %w", s, err)
	}
	if len(groups) == 0 {
		return nil, nil
	}
	return groups, nil
}
