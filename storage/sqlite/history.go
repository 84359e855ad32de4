package sqlite

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

// Rows per multi-row INSERT: SQLite binds at most 32766 parameters to one
// statement.
const (
	historyRowsPerInsert = 1000 // 15 parameters each
	eventRowsPerInsert   = 2000 // 6 parameters each
)

// AppendHistory implements storage.RoomStore. All posts share one write
// transaction, so one fsync commits them all (group commit). SQLite has one
// writer at a time, so reading and bumping rooms.last_seq cannot race.
func (s *Store) AppendHistory(ctx context.Context, posts []storage.PostWrite) ([]storage.PostWrite, error) {
	for _, p := range posts {
		if p.Fence != nil {
			return nil, errors.New("storage/sqlite: append history: a host fence needs a pool store (MySQL)")
		}
	}
	out, err := preparePosts(posts, time.Now())
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: append history: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		rooms := postRooms(out)
		if len(rooms) > 0 {
			if err := assignSeqs(ctx, tx, out, rooms); err != nil {
				return err
			}
			if err := insertHistory(ctx, tx, out); err != nil {
				return err
			}
		}
		if err := applyTombstones(ctx, tx, out); err != nil {
			return err
		}
		evs := make([]storage.OutboxEvent, len(out))
		for i := range out {
			evs[i] = out[i].Event
		}
		if err := insertEvents(ctx, tx, evs); err != nil {
			return err
		}
		for i := range out {
			out[i].Event = evs[i]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: append history: %w", err)
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

// applyTombstones tombstones the targets of the posts that have one, in
// slice order, after the batch's history rows are in. A missing target is
// storage.ErrNotFound.
func applyTombstones(ctx context.Context, tx *sql.Tx, posts []storage.PostWrite) error {
	for i, p := range posts {
		t := p.Tombstone
		if t == nil {
			continue
		}
		if err := tombstone(ctx, tx, postRoom(p), t.StanzaID, t.Body, t.Stanza); err != nil {
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
func assignSeqs(ctx context.Context, tx *sql.Tx, posts []storage.PostWrite, rooms []string) error {
	last := make(map[string]int64, len(rooms))
	rows, err := tx.QueryContext(ctx,
		`SELECT name, last_seq FROM rooms WHERE name IN (`+placeholders(len(rooms))+`)`, anys(rooms)...)
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
	_, err = tx.ExecContext(ctx, b.String(), args...)
	return err
}

const historyInsert = `INSERT INTO history (room, seq, stanza_id, origin_id, occupant_id, nick,
	real_jid, front_door, kind, target, body, symbols, stanza, posted_at, tombstone) VALUES `

// insertHistory inserts the history rows of posts, many to a statement.
func insertHistory(ctx context.Context, tx *sql.Tx, posts []storage.PostWrite) error {
	var hs []*storage.HistoryMessage
	for _, p := range posts {
		if p.History != nil {
			hs = append(hs, p.History)
		}
	}
	for chunk := range slices.Chunk(hs, historyRowsPerInsert) {
		args := make([]any, 0, 15*len(chunk))
		for _, h := range chunk {
			args = append(args, h.Room, h.Seq, h.StanzaID, h.OriginID, h.OccupantID, h.Nick,
				h.RealJID, h.FrontDoor, h.Kind, h.Target, h.Body, fulltext.Symbols(h.Body),
				nonNil(h.Stanza), unixMicro(h.Time), h.Tombstone)
		}
		_, err := tx.ExecContext(ctx, historyInsert+rowPlaceholders(len(chunk), 15), args...)
		if err != nil {
			return fmt.Errorf("history: %w", mapError(err))
		}
	}
	return nil
}

// Tombstone implements storage.RoomStore. The update trigger replaces the
// old body in the full-text index with the new one; queries leave
// tombstones out.
func (s *Store) Tombstone(ctx context.Context, room, stanzaID, body string, stanza []byte, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Body(body), check.Event(ev)); err != nil {
		return fmt.Errorf("storage/sqlite: tombstone %s in %s: %w", stanzaID, room, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := tombstone(ctx, tx, room, stanzaID, body, stanza); err != nil {
			return err
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/sqlite: tombstone %s in %s: %w", stanzaID, room, err)
	}
	return nil
}

// tombstone replaces a message's body and stanza within tx, for Tombstone
// and AppendHistory; storage.ErrNotFound if the room has no such message.
// SQLite counts the rows an UPDATE matched, changed or not, so a message
// tombstoned the same way before is found.
func tombstone(ctx context.Context, tx *sql.Tx, room, stanzaID, body string, stanza []byte) error {
	res, err := tx.ExecContext(ctx, `
		UPDATE history SET body = ?, symbols = ?, stanza = ?, tombstone = 1
		WHERE room = ? AND stanza_id = ?`,
		body, fulltext.Symbols(body), nonNil(stanza), room, stanzaID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

const historyColumns = `h.room, h.seq, h.stanza_id, h.origin_id, h.occupant_id, h.nick, h.real_jid,
	h.front_door, h.kind, h.target, h.body, h.stanza, h.posted_at, h.tombstone`

func scanHistory(row interface{ Scan(...any) error }) (storage.HistoryMessage, error) {
	var (
		m    storage.HistoryMessage
		when int64
	)
	err := row.Scan(&m.Room, &m.Seq, &m.StanzaID, &m.OriginID, &m.OccupantID, &m.Nick, &m.RealJID,
		&m.FrontDoor, &m.Kind, &m.Target, &m.Body, &m.Stanza, &when, &m.Tombstone)
	m.Time = fromUnixMicro(when)
	return m, err
}

// historySelect builds the FROM and WHERE clauses of q, and the column to
// order by. When limit > 0 the caller reads at most limit rows in q's
// direction, which lets the With query stop early. ok is false when q's
// full-text search has nothing searchable in it, so that nothing matches.
//
// A full-text search starts from the FTS5 index (CROSS JOIN makes SQLite
// keep that order) and looks each hit up in history: a word posted once
// is found at once however long the room's history is. The hits come in
// rowid order, which within a room is seq order (the one writer appends a
// room's rows in seq order, and a new rowid is always above every rowid
// in the table), so LIMIT stops the scan there too instead of sorting all
// hits of a common word.
//
// With (nick or real JID) reads each of the two from its own index, each
// in seq order and limited, and merges the few rows: one OR would make
// SQLite scan the whole room.
//
// Otherwise the (room, seq) index yields the rows in order, or, with a
// time bound, the (room, posted_at) index the rows to sort.
func historySelect(q storage.HistoryQuery, limit int) (from, order string, args []any, ok bool) {
	bounds, boundArgs := historyBounds(q)
	switch {
	case q.FullText != "":
		terms := fulltext.Parse(q.FullText)
		if len(terms) == 0 {
			return "", "", nil, false
		}
		from = ` FROM history_fts CROSS JOIN history AS h ON h.id = history_fts.rowid
			WHERE history_fts MATCH ? AND h.room = ? AND NOT h.tombstone` + bounds
		args = append([]any{ftsMatch(terms), q.Room}, boundArgs...)
		if q.With != "" {
			from += ` AND (h.nick = ? OR h.real_jid = ?)`
			args = append(args, q.With, q.With)
		}
		return from, "history_fts.rowid", args, true

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
			return `SELECT id FROM (SELECT id FROM history AS h WHERE room = ? AND ` + column + ` = ?` + bounds + page + `)`
		}
		from = ` FROM history AS h WHERE h.id IN (` + arm("nick") + ` UNION ALL ` + arm("real_jid") + `)`
		return from, "h.seq", args, true
	}
	return ` FROM history AS h WHERE h.room = ?` + bounds, "h.seq", append([]any{q.Room}, boundArgs...), true
}

// historyBounds returns the conditions on seq and time of q, on the table
// alias h.
func historyBounds(q storage.HistoryQuery) (string, []any) {
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
		args = append(args, unixMicro(q.Start))
	}
	if !q.End.IsZero() {
		b.WriteString(` AND h.posted_at <= ?`)
		args = append(args, unixMicro(q.End))
	}
	return b.String(), args
}

// ftsMatch writes terms as an FTS5 query: every term required, each word
// a quoted phrase matched as a prefix ("deploy"* finds "deployment"), each
// symbol word exactly. A phrase is tokenized like the body, so a word that
// FTS5 splits (snake_case) matches its parts in a row.
func ftsMatch(terms []fulltext.Term) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = `"` + strings.ReplaceAll(t.Word, `"`, `""`) + `"`
		if !t.Symbol {
			parts[i] += "*"
		}
	}
	return strings.Join(parts, " AND ")
}

// QueryHistory implements storage.RoomStore. It asks for one row more than
// q.Limit to learn whether the page is the last one in its direction.
func (s *Store) QueryHistory(ctx context.Context, q storage.HistoryQuery) ([]storage.HistoryMessage, bool, error) {
	if err := check.HistoryQuery(q); err != nil {
		return nil, false, fmt.Errorf("storage/sqlite: history of %s: %w", q.Room, err)
	}
	limit := min(q.Limit, math.MaxInt32-1)
	from, order, args, ok := historySelect(q, limit+1)
	if !ok {
		return nil, true, nil
	}
	if q.Last {
		order += " DESC"
	}
	rows, err := s.read.QueryContext(ctx,
		`SELECT `+historyColumns+from+` ORDER BY `+order+` LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("storage/sqlite: history of %s: %w", q.Room, err)
	}
	defer rows.Close()
	var msgs []storage.HistoryMessage
	for rows.Next() {
		m, err := scanHistory(rows)
		if err != nil {
			return nil, false, fmt.Errorf("storage/sqlite: history of %s: %w", q.Room, err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("storage/sqlite: history of %s: %w", q.Room, err)
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
	from, _, args, ok := historySelect(q, 0)
	if !ok {
		return 0, nil
	}
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*)`+from, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage/sqlite: count history of %s: %w", q.Room, err)
	}
	return n, nil
}

// HistoryByStanzaID implements storage.RoomStore.
func (s *Store) HistoryByStanzaID(ctx context.Context, room, stanzaID string) (storage.HistoryMessage, error) {
	m, err := scanHistory(s.read.QueryRowContext(ctx,
		`SELECT `+historyColumns+` FROM history AS h WHERE h.room = ? AND h.stanza_id = ?`, room, stanzaID))
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.HistoryMessage{}, fmt.Errorf("storage/sqlite: message %s in %s: %w", stanzaID, room, err)
	}
	return m, nil
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
