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

// PutCategory implements storage.RoomStore.
func (s *Store) PutCategory(ctx context.Context, c storage.Category, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Category(c), check.Event(ev)); err != nil {
		return s.wrap(err, "put category")
	}
	lists, err := encodeLists(c.AllowedMembers, c.DeniedMembers, c.Creators)
	if err != nil {
		return s.wrap(err, "put category %s", c.Name)
	}
	now := time.Now()
	created, updated := orNow(c.Created, now), orNow(c.Updated, now)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO categories (`+categoryColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) `+
			s.upsert("name", "description", "allowed_members", "denied_members", "creators",
				"file_upload", "invitations", "chat_history", "retention_days", "local_only", "updated_at"),
			c.Name, c.Description, lists[0], lists[1], lists[2],
			c.FileUpload, c.Invitations, c.ChatHistory, c.RetentionDays, c.LocalOnly, s.t(created), s.t(updated))
		if err != nil {
			return s.mapError(err)
		}
		if err := s.recordRoomChange(ctx, tx, "", c.Name); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "put category %s", c.Name)
}

const categoryColumns = `name, description, allowed_members, denied_members, creators,
	file_upload, invitations, chat_history, retention_days, local_only, created_at, updated_at`

func scanCategory(row scanner) (storage.Category, error) {
	var (
		c                        storage.Category
		allowed, denied, creator string
	)
	err := row.Scan(&c.Name, &c.Description, &allowed, &denied, &creator,
		&c.FileUpload, &c.Invitations, &c.ChatHistory, &c.RetentionDays, &c.LocalOnly, scanTime(&c.Created), scanTime(&c.Updated))
	if err != nil {
		return c, err
	}
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
	c, err := scanCategory(s.reads().queryRowPrepared(ctx,
		`SELECT `+categoryColumns+` FROM categories WHERE name = ?`, name))
	if err != nil {
		return storage.Category{}, s.wrap(notFound(err), "category %s", name)
	}
	return c, nil
}

// Categories implements storage.RoomStore.
func (s *Store) Categories(ctx context.Context) ([]storage.Category, error) {
	out, err := collect(ctx, s.reads(), scanCategory, `SELECT `+categoryColumns+` FROM categories ORDER BY name`)
	if err != nil {
		return nil, s.wrap(err, "categories")
	}
	return out, nil
}

// DeleteCategory implements storage.RoomStore. It locks the category first,
// so that a concurrent CreateRoom in it, whose foreign key check waits for
// that lock, cannot slip in between the count of its rooms and the delete.
func (s *Store) DeleteCategory(ctx context.Context, name string, ev storage.OutboxEvent) error {
	if err := check.Event(ev); err != nil {
		return s.wrap(err, "delete category %s", name)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.lock(ctx, tx, "categories", "name", name); err != nil {
			return err
		}
		var rooms int
		if err := tx.QueryRowContext(ctx,
			`SELECT count(*) FROM rooms WHERE category = ?`, name).Scan(&rooms); err != nil {
			return err
		}
		if rooms > 0 {
			return fmt.Errorf("%d rooms are still in it: %w", rooms, storage.ErrNotEmpty)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM categories WHERE name = ?`, name); err != nil {
			return s.mapError(err)
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "delete category %s", name)
}

// CreateRoom implements storage.RoomStore.
func (s *Store) CreateRoom(ctx context.Context, r storage.Room, affs []storage.Affiliation, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Room(r), check.Event(ev)); err != nil {
		return s.wrap(err, "create room")
	}
	affs, err := roomAffiliations(r.Name, affs)
	if err != nil {
		return s.wrap(err, "create room %s", r.Name)
	}
	r.Created = orNow(r.Created, time.Now())
	r.Updated = orNow(r.Updated, r.Created)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := categoryExists(ctx, tx, r.Category); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO rooms (`+roomColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Name, r.Category, r.Title, r.Description, r.Subject, r.SubjectNick, s.nullTime(r.SubjectTime),
			r.Public, r.MembersOnly, r.Moderated, r.Password, r.WhoIs, r.MaxUsers, r.ChangeSubject, r.AllowPM,
			r.AllowInvites, r.Disabled, r.AddInURL, r.PresenceBroadcast, r.Creator, s.t(r.Created), s.t(r.Updated))
		if err != nil {
			return s.mapError(err)
		}
		for _, a := range affs {
			if err := s.putAffiliation(ctx, tx, a); err != nil {
				return err
			}
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "create room %s", r.Name)
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

// UpdateRoom implements storage.RoomStore. It locks the room's row first.
func (s *Store) UpdateRoom(ctx context.Context, r storage.Room, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Room(r), check.Event(ev)); err != nil {
		return s.wrap(err, "update room")
	}
	r.Updated = orNow(r.Updated, time.Now())
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.lock(ctx, tx, "rooms", "name", r.Name); err != nil {
			return fmt.Errorf("room %s: %w", r.Name, err)
		}
		if err := categoryExists(ctx, tx, r.Category); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			UPDATE rooms SET category = ?, title = ?, description = ?, subject = ?, subject_nick = ?,
				subject_time = ?, public = ?, members_only = ?, moderated = ?, password = ?, whois = ?,
				max_users = ?, change_subject = ?, allow_pm = ?, allow_invites = ?, disabled = ?,
				add_in_url = ?, presence_broadcast = ?, updated_at = ?
			WHERE name = ?`,
			r.Category, r.Title, r.Description, r.Subject, r.SubjectNick,
			s.nullTime(r.SubjectTime), r.Public, r.MembersOnly, r.Moderated, r.Password, r.WhoIs,
			r.MaxUsers, r.ChangeSubject, r.AllowPM, r.AllowInvites, r.Disabled,
			r.AddInURL, r.PresenceBroadcast, s.t(r.Updated), r.Name)
		if err != nil {
			return s.mapError(err)
		}
		if err := s.recordRoomChange(ctx, tx, r.Name, ""); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "update room %s", r.Name)
}

const roomColumns = `name, category, title, description, subject, subject_nick, subject_time,
	public, members_only, moderated, password, whois, max_users, change_subject, allow_pm,
	allow_invites, disabled, add_in_url, presence_broadcast, creator, created_at, updated_at`

func scanRoom(row scanner) (r storage.Room, err error) {
	return r, row.Scan(&r.Name, &r.Category, &r.Title, &r.Description, &r.Subject, &r.SubjectNick, scanTime(&r.SubjectTime),
		&r.Public, &r.MembersOnly, &r.Moderated, &r.Password, &r.WhoIs, &r.MaxUsers, &r.ChangeSubject, &r.AllowPM,
		&r.AllowInvites, &r.Disabled, &r.AddInURL, &r.PresenceBroadcast, &r.Creator, scanTime(&r.Created), scanTime(&r.Updated))
}

// Room implements storage.RoomStore.
func (s *Store) Room(ctx context.Context, name string) (storage.Room, error) {
	r, err := scanRoom(s.reads().queryRowPrepared(ctx, `SELECT `+roomColumns+` FROM rooms WHERE name = ?`, name))
	if err != nil {
		return storage.Room{}, s.wrap(notFound(err), "room %s", name)
	}
	return r, nil
}

// Rooms implements storage.RoomStore.
func (s *Store) Rooms(ctx context.Context) ([]storage.Room, error) {
	out, err := collect(ctx, s.reads(), scanRoom, `SELECT `+roomColumns+` FROM rooms ORDER BY name`)
	if err != nil {
		return nil, s.wrap(err, "rooms")
	}
	return out, nil
}

// DeleteRoom implements storage.RoomStore. ON DELETE CASCADE removes the
// affiliations and the history, and the full-text index (InnoDB itself,
// SQLite's delete trigger) the history's entries.
func (s *Store) DeleteRoom(ctx context.Context, name string, ev storage.OutboxEvent) error {
	if err := check.Event(ev); err != nil {
		return s.wrap(err, "delete room %s", name)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := affected(tx.ExecContext(ctx, `DELETE FROM rooms WHERE name = ?`, name)); err != nil {
			return err
		}
		if err := s.recordRoomChange(ctx, tx, name, ""); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "delete room %s", name)
}

// SetAffiliation implements storage.RoomStore.
func (s *Store) SetAffiliation(ctx context.Context, a storage.Affiliation, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Affiliation(a, true), check.Event(ev)); err != nil {
		return s.wrap(err, "set affiliation")
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
		} else if err := s.putAffiliation(ctx, tx, a); err != nil {
			return err
		}
		if err := s.recordRoomChange(ctx, tx, a.Room, ""); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "set affiliation of %s in %s", a.JID, a.Room)
}

func (s *Store) putAffiliation(ctx context.Context, tx *sql.Tx, a storage.Affiliation) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO affiliations (room, jid, affiliation, presenter, reason)
		VALUES (?, ?, ?, ?, ?) `+s.upsert("room, jid", "affiliation", "presenter", "reason"),
		a.Room, a.JID, a.Affiliation, a.Presenter, a.Reason)
	if err != nil {
		return fmt.Errorf("affiliation of %s: %w", a.JID, s.mapError(err))
	}
	return nil
}

// Affiliations implements storage.RoomStore.
func (s *Store) Affiliations(ctx context.Context, room string) ([]storage.Affiliation, error) {
	out, err := collect(ctx, s.reads(), func(row scanner) (storage.Affiliation, error) {
		a := storage.Affiliation{Room: room}
		return a, row.Scan(&a.JID, &a.Affiliation, &a.Presenter, &a.Reason)
	}, `
		SELECT jid, affiliation, presenter, reason
		FROM affiliations
		WHERE room = ?
		ORDER BY jid`, room)
	if err != nil {
		return nil, s.wrap(err, "affiliations in %s", room)
	}
	return out, nil
}

// encodeLists encodes JID lists as the JSON arrays the categories table
// keeps (like roster groups).
func encodeLists(lists ...[]string) ([]string, error) {
	out := make([]string, len(lists))
	for i, l := range lists {
		var err error
		if out[i], err = encodeList(l); err != nil {
			return nil, err
		}
	}
	return out, nil
}
