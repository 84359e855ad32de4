package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
	"github.com/parleychat/parley/storage/internal/fulltext"
)

// Multi-row INSERTs into history: SQLite binds at most 32766 parameters to
// one statement and MySQL 65535, and one statement's bodies and stanzas
// are kept well below the smallest default max_allowed_packet (16 MiB on
// MariaDB).
const (
	historyRowsPerInsert  = 1000 // 15 parameters each
	historyBytesPerInsert = 4 << 20
)

// AppendHistory implements storage.RoomStore. All posts share one write
// transaction, so one commit (one fsync, one redo log flush) covers them
// all (group commit). The rooms' rows are locked in name order before
// anything is written, so two batches to overlapping rooms, on this node or
// another, queue behind each other instead of deadlocking.
func (s *Store) AppendHistory(ctx context.Context, posts []storage.PostWrite) ([]storage.PostWrite, error) {
	out, err := preparePosts(posts, time.Now())
	if err != nil {
		return nil, s.wrap(err, "append history")
	}
	if len(out) == 0 {
		return out, nil
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkFences(ctx, tx, out); err != nil {
			return err
		}
		if rooms := postRooms(out); len(rooms) > 0 {
			if err := s.assignSeqs(ctx, tx, out, rooms); err != nil {
				return err
			}
			if err := s.insertHistory(ctx, tx, out); err != nil {
				return err
			}
		}
		if err := s.applyTombstones(ctx, tx, out); err != nil {
			return err
		}
		evs := make([]storage.OutboxEvent, len(out))
		for i := range out {
			evs[i] = out[i].Event
		}
		if err := s.insertEvents(ctx, tx, evs); err != nil {
			return err
		}
		for i := range out {
			out[i].Event = evs[i]
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap(err, "append history")
	}
	return out, nil
}

// ImportHistory implements storage.RoomStore: AppendHistory's sequence
// numbers and rows without an event per message.
func (s *Store) ImportHistory(ctx context.Context, msgs []storage.HistoryMessage, ev *storage.OutboxEvent) ([]storage.HistoryMessage, error) {
	posts := make([]storage.PostWrite, len(msgs))
	for i := range msgs {
		h := msgs[i]
		if h.Time.IsZero() {
			return nil, s.wrap(fmt.Errorf("message %d (%s): an imported message needs its time", i, h.StanzaID), "import history")
		}
		if err := check.History(&h); err != nil {
			return nil, s.wrap(fmt.Errorf("message %d: %w", i, err), "import history")
		}
		h.Time, h.Seq = h.Time.UTC().Truncate(time.Microsecond), 0
		posts[i].History = &h
	}
	if ev != nil {
		if err := check.Event(*ev); err != nil {
			return nil, s.wrap(err, "import history")
		}
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if rooms := postRooms(posts); len(rooms) > 0 {
			if err := s.assignSeqs(ctx, tx, posts, rooms); err != nil {
				return err
			}
			if err := s.insertHistory(ctx, tx, posts); err != nil {
				return err
			}
		}
		if ev != nil {
			return s.writeEvent(ctx, tx, *ev)
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap(err, "import history")
	}
	out := make([]storage.HistoryMessage, len(posts))
	for i := range posts {
		out[i] = *posts[i].History
	}
	return out, nil
}

// preparePosts checks a batch and returns the copies AppendHistory
// fills in, with zero times set to now and all times as they will be
// stored: UTC, whole microseconds.
func preparePosts(posts []storage.PostWrite, now time.Time) ([]storage.PostWrite, error) {
	out := make([]storage.PostWrite, len(posts))
	for i, p := range posts {
		if p.History != nil {
			h := *p.History
			if err := check.History(&h); err != nil {
				return nil, fmt.Errorf("post %d: %w", i, err)
			}
			h.Time = orNow(h.Time, now).UTC().Truncate(time.Microsecond)
			h.Seq = 0
			p.History = &h
		}
		if err := check.Event(p.Event); err != nil {
			return nil, fmt.Errorf("post %d: %w", i, err)
		}
		if p.Tombstone != nil {
			t := *p.Tombstone
			if err := check.Tombstone(postRoom(p), t); err != nil {
				return nil, fmt.Errorf("post %d: %w", i, err)
			}
			p.Tombstone = &t
		}
		p.Event.Time = orNow(p.Event.Time, now).UTC().Truncate(time.Microsecond)
		out[i] = p
	}
	return out, nil
}

// postRoom returns the room of a post: its history row's, or its
// event's when it has none.
func postRoom(p storage.PostWrite) string {
	if p.History != nil {
		return p.History.Room
	}
	return p.Event.Room
}

// checkFences fails with storage.ErrFenced if any post's fence no longer
// matches its room's host record (a pool's, so only on MySQL). The records
// are read in share mode, so a concurrent claim waits until this
// transaction ends.
func (s *Store) checkFences(ctx context.Context, tx *sql.Tx, posts []storage.PostWrite) error {
	for _, p := range posts {
		if p.Fence == nil {
			continue
		}
		room := postRoom(p)
		var f storage.HostFence
		err := tx.QueryRowContext(ctx,
			`SELECT node, epoch FROM room_hosts WHERE room = ?`+s.d.ForShare, room).Scan(&f.Node, &f.Epoch)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && f != *p.Fence) {
			return fmt.Errorf("room %q (fence %s/%d): %w", room, p.Fence.Node, p.Fence.Epoch, storage.ErrFenced)
		}
		if err != nil {
			return fmt.Errorf("room %q: host record: %w", room, err)
		}
	}
	return nil
}

// applyTombstones tombstones the targets of the posts that have one, in
// slice order, after the batch's history rows are in. A missing target is
// storage.ErrNotFound.
func (s *Store) applyTombstones(ctx context.Context, tx *sql.Tx, posts []storage.PostWrite) error {
	for i, p := range posts {
		t := p.Tombstone
		if t == nil {
			continue
		}
		if err := s.tombstone(ctx, tx, postRoom(p), t.StanzaID, t.Body, t.Stanza); err != nil {
			return fmt.Errorf("post %d: tombstone %s in %s: %w", i, t.StanzaID, postRoom(p), err)
		}
	}
	return nil
}

// postRooms returns the rooms of the batch's history rows, sorted and each
// once.
func postRooms(posts []storage.PostWrite) []string {
	var rooms []string
	for _, p := range posts {
		if p.History != nil {
			rooms = append(rooms, p.History.Room)
		}
	}
	slices.Sort(rooms)
	return slices.Compact(rooms)
}

// assignSeqs gives each history row of posts the next Seq of its room and
// stores the rooms' new last_seq. An unknown room is storage.ErrNotFound.
func (s *Store) assignSeqs(ctx context.Context, tx *sql.Tx, posts []storage.PostWrite, rooms []string) error {
	last := make(map[string]int64, len(rooms))
	rows, err := s.txQuery(ctx, tx, `
		SELECT name, last_seq FROM rooms
		WHERE name IN (`+placeholders(len(rooms))+`)
		ORDER BY name`+s.d.ForUpdate, anys(rooms)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name string
			seq  int64
		)
		if err := rows.Scan(&name, &seq); err != nil {
			return err
		}
		last[name] = seq
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range posts {
		h := posts[i].History
		if h == nil {
			continue
		}
		seq, ok := last[h.Room]
		if !ok {
			return fmt.Errorf("post %d: room %s: %w", i, h.Room, storage.ErrNotFound)
		}
		h.Seq = seq + 1
		last[h.Room] = h.Seq
	}
	// One UPDATE for all rooms: CASE name WHEN ? THEN ? ... END.
	var (
		b    strings.Builder
		args = make([]any, 0, 3*len(rooms))
	)
	b.WriteString(`UPDATE rooms SET last_seq = CASE name`)
	for _, r := range rooms {
		b.WriteString(` WHEN ? THEN ?`)
		args = append(args, r, last[r])
	}
	b.WriteString(` END WHERE name IN (` + placeholders(len(rooms)) + `)`)
	args = append(args, anys(rooms)...)
	_, err = s.txExec(ctx, tx, b.String(), args...)
	return err
}

// searchExtra is what the symbols column holds for h, indexed for
// full-text search beside the body: the symbol words of all its text
// (fulltext.Symbols) and the text of its other bodies (AltBodies), so that
// a word in a second <body xml:lang/> finds the message too.
func searchExtra(h *storage.HistoryMessage) string {
	if h.AltBodies == "" {
		return fulltext.Symbols(h.Body)
	}
	sym := fulltext.Symbols(h.Body + "\n" + h.AltBodies)
	if sym == "" {
		return h.AltBodies
	}
	return sym + "\n" + h.AltBodies
}

const historyInsert = `INSERT INTO history (room, seq, stanza_id, origin_id, occupant_id, nick,
	real_jid, front_door, kind, target, body, symbols, stanza, posted_at, tombstone) VALUES `

// insertHistory inserts the history rows of posts, many to a statement.
func (s *Store) insertHistory(ctx context.Context, tx *sql.Tx, posts []storage.PostWrite) error {
	var hs []*storage.HistoryMessage
	for _, p := range posts {
		if p.History != nil {
			hs = append(hs, p.History)
		}
	}
	for len(hs) > 0 {
		n, size := 0, 0
		for n < len(hs) && n < historyRowsPerInsert && (n == 0 || size+len(hs[n].Body)+len(hs[n].Stanza) <= historyBytesPerInsert) {
			size += len(hs[n].Body) + len(hs[n].Stanza)
			n++
		}
		chunk := hs[:n]
		hs = hs[n:]
		args := make([]any, 0, 15*len(chunk))
		for _, h := range chunk {
			args = append(args, h.Room, h.Seq, h.StanzaID, h.OriginID, h.OccupantID, h.Nick,
				h.RealJID, h.FrontDoor, h.Kind, h.Target, h.Body, searchExtra(h),
				nonNil(h.Stanza), s.t(h.Time), h.Tombstone)
		}
		_, err := s.txExec(ctx, tx, historyInsert+rowPlaceholders(len(chunk), 15), args...)
		if err != nil {
			return fmt.Errorf("history: %w", s.mapError(err))
		}
	}
	return nil
}

// Tombstone implements storage.RoomStore. The full-text index (InnoDB at
// commit, SQLite's update trigger at once) replaces the row's words with
// the new body's; queries leave tombstones out.
func (s *Store) Tombstone(ctx context.Context, room, stanzaID, body string, stanza []byte, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Body(body), check.Event(ev)); err != nil {
		return s.wrap(err, "tombstone %s in %s", stanzaID, room)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.tombstone(ctx, tx, room, stanzaID, body, stanza); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, ev)
	})
	return s.wrap(err, "tombstone %s in %s", stanzaID, room)
}

// tombstone replaces a message's body and stanza within tx, for Tombstone
// and AppendHistory; storage.ErrNotFound if the room has no such message.
// The row is locked first: MySQL's UPDATE reports only rows it changed, so
// it cannot tell an unknown message from one tombstoned the same way
// before.
func (s *Store) tombstone(ctx context.Context, tx *sql.Tx, room, stanzaID, body string, stanza []byte) error {
	var seq int64
	err := tx.QueryRowContext(ctx,
		`SELECT seq FROM history WHERE room = ? AND stanza_id = ?`+s.d.ForUpdate, room, stanzaID).Scan(&seq)
	if err != nil {
		return notFound(err)
	}
	_, err = tx.ExecContext(ctx, `
		UPDATE history SET body = ?, symbols = ?, stanza = ?, tombstone = TRUE
		WHERE room = ? AND seq = ?`,
		body, fulltext.Symbols(body), nonNil(stanza), room, seq)
	return err
}

const historyColumns = `h.room, h.seq, h.stanza_id, h.origin_id, h.occupant_id, h.nick, h.real_jid,
	h.front_door, h.kind, h.target, h.body, h.stanza, h.posted_at, h.tombstone`

func scanHistory(row scanner) (m storage.HistoryMessage, err error) {
	return m, row.Scan(&m.Room, &m.Seq, &m.StanzaID, &m.OriginID, &m.OccupantID, &m.Nick, &m.RealJID,
		&m.FrontDoor, &m.Kind, &m.Target, &m.Body, &m.Stanza, scanTime(&m.Time), &m.Tombstone)
}

// historySelect builds the FROM and WHERE clauses of q, and the expression
// to order by. When limit > 0 the caller reads at most limit rows in q's
// direction, which lets the With query stop early. ok is false when q's
// full-text search has nothing searchable in it, so that nothing matches.
//
// A full-text search is the dialect's (Dialect.MatchHistory): both start
// from their full-text index, so that a word posted once is found at once
// however long the room's history is.
//
// With (nick or real JID) reads each of the two from its own index, each
// in seq order and limited, and joins the few rows found to history: one OR
// would make either database read the whole room and sort. CROSS JOIN
// keeps SQLite from reading history first; MySQL chooses that order by
// itself.
//
// Otherwise the (room, seq) key yields the room's rows in order and LIMIT
// stops the scan, or, with a time bound, the (room, posted_at) index the
// rows to sort.
func (s *Store) historySelect(q storage.HistoryQuery, limit int) (from, order string, args []any, ok bool) {
	bounds, boundArgs := s.historyBounds(q)
	switch {
	case q.FullText != "":
		terms := fulltext.Parse(q.FullText)
		if len(terms) == 0 {
			return "", "", nil, false
		}
		m := s.d.MatchHistory(terms)
		from = ` FROM ` + m.From + ` WHERE ` + m.Where + ` AND h.room = ? AND NOT h.tombstone` + bounds
		args = append(append(m.Args, q.Room), boundArgs...)
		if q.With != "" {
			from += ` AND (h.nick = ? OR h.real_jid = ?)`
			args = append(args, q.With, q.With)
		}
		return from, m.Order, args, true

	case q.With != "":
		page := ""
		if limit > 0 {
			page = ` ORDER BY seq LIMIT ?`
			if q.Last {
				page = ` ORDER BY seq DESC LIMIT ?`
			}
		}
		arm := func(column string) string {
			args = append(args, q.Room, q.With)
			args = append(args, boundArgs...)
			if limit > 0 {
				args = append(args, limit)
			}
			return `SELECT seq FROM (SELECT seq FROM history AS h WHERE room = ? AND ` + column + ` = ?` + bounds + page + `) AS by_` + column
		}
		from = ` FROM (` + arm("nick") + ` UNION ` + arm("real_jid") + `) AS w
			CROSS JOIN history AS h ON h.room = ? AND h.seq = w.seq`
		return from, "h.seq", append(args, q.Room), true
	}
	return ` FROM history AS h WHERE h.room = ?` + bounds, "h.seq", append([]any{q.Room}, boundArgs...), true
}

// historyBounds returns the conditions on seq and time of q, on the table
// alias h.
func (s *Store) historyBounds(q storage.HistoryQuery) (string, []any) {
	var (
		b    strings.Builder
		args []any
	)
	if q.AfterSeq > 0 {
		b.WriteString(` AND h.seq > ?`)
		args = append(args, q.AfterSeq)
	}
	if q.BeforeSeq > 0 {
		b.WriteString(` AND h.seq < ?`)
		args = append(args, q.BeforeSeq)
	}
	if !q.Start.IsZero() {
		b.WriteString(` AND h.posted_at >= ?`)
		args = append(args, s.t(q.Start))
	}
	if !q.End.IsZero() {
		b.WriteString(` AND h.posted_at <= ?`)
		args = append(args, s.t(q.End))
	}
	return b.String(), args
}

// QueryHistory implements storage.RoomStore. It asks for one row more than
// q.Limit to learn whether the page is the last one in its direction.
func (s *Store) QueryHistory(ctx context.Context, q storage.HistoryQuery) ([]storage.HistoryMessage, bool, error) {
	if err := check.HistoryQuery(q); err != nil {
		return nil, false, s.wrap(err, "history of %s", q.Room)
	}
	limit := min(q.Limit, math.MaxInt32-1)
	from, order, args, ok := s.historySelect(q, limit+1)
	if !ok {
		return nil, true, nil
	}
	if q.Last {
		order += " DESC"
	}
	msgs, err := collect(ctx, s.reads(), scanHistory,
		`SELECT `+historyColumns+from+` ORDER BY `+order+` LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, false, s.wrap(err, "history of %s", q.Room)
	}
	complete := len(msgs) <= limit
	if !complete {
		msgs = msgs[:limit]
	}
	if q.Last {
		slices.Reverse(msgs)
	}
	return msgs, complete, nil
}

// CountHistory implements storage.RoomStore.
func (s *Store) CountHistory(ctx context.Context, q storage.HistoryQuery) (int, error) {
	from, _, args, ok := s.historySelect(q, 0)
	if !ok {
		return 0, nil
	}
	var n int
	err := s.reads().QueryRowContext(ctx, `SELECT count(*)`+from, args...).Scan(&n)
	return n, s.wrap(err, "count history of %s", q.Room)
}

// HistoryByStanzaID implements storage.RoomStore.
func (s *Store) HistoryByStanzaID(ctx context.Context, room, stanzaID string) (storage.HistoryMessage, error) {
	m, err := scanHistory(s.reads().QueryRowContext(ctx,
		`SELECT `+historyColumns+` FROM history AS h WHERE h.room = ? AND h.stanza_id = ?`, room, stanzaID))
	if err != nil {
		return storage.HistoryMessage{}, s.wrap(notFound(err), "message %s in %s", stanzaID, room)
	}
	return m, nil
}
