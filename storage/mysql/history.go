package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
	"github.com/parleychat/parley/storage/internal/fulltext"
)

// Multi-row INSERTs: MySQL binds at most 65535 parameters to one
// statement, and one statement's bodies and stanzas are kept well below
// the smallest default max_allowed_packet (16 MiB on MariaDB).
const (
	historyRowsPerInsert  = 1000 // 15 parameters each
	historyBytesPerInsert = 4 << 20
	eventRowsPerInsert    = 2000 // 6 parameters each
)

// AppendHistory implements storage.RoomStore. All posts share one write
// transaction, so one commit (one redo log flush) covers them all (group
// commit). The rooms' rows are locked in name order before anything is
// written, so two batches to overlapping rooms, on this node or another,
// queue behind each other instead of deadlocking.
func (s *Store) AppendHistory(ctx context.Context, posts []storage.PostWrite) ([]storage.PostWrite, error) {
	out, err := preparePosts(posts, time.Now())
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: append history: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := checkFences(ctx, tx, out); err != nil {
			return err
		}
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
		return nil, fmt.Errorf("storage/mysql: append history: %w", err)
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
	rows, err := tx.QueryContext(ctx, `
		SELECT name, last_seq FROM rooms
		WHERE name IN (`+placeholders(len(rooms))+`)
		ORDER BY name
		FOR UPDATE`, anys(rooms)...)
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
				h.RealJID, h.FrontDoor, h.Kind, h.Target, h.Body, fulltext.Symbols(h.Body),
				nonNil(h.Stanza), h.Time.UTC(), h.Tombstone)
		}
		_, err := tx.ExecContext(ctx, historyInsert+rowPlaceholders(len(chunk), 15), args...)
		if err != nil {
			return fmt.Errorf("history: %w", mapError(err))
		}
	}
	return nil
}

// Tombstone implements storage.RoomStore. InnoDB replaces the row's words
// in the full-text index (at commit); queries leave tombstones out.
func (s *Store) Tombstone(ctx context.Context, room, stanzaID, body string, stanza []byte, ev storage.OutboxEvent) error {
	if err := errors.Join(check.Body(body), check.Event(ev)); err != nil {
		return fmt.Errorf("storage/mysql: tombstone %s in %s: %w", stanzaID, room, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := tombstone(ctx, tx, room, stanzaID, body, stanza); err != nil {
			return err
		}
		return writeEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage/mysql: tombstone %s in %s: %w", stanzaID, room, err)
	}
	return nil
}

// tombstone replaces a message's body and stanza within tx, for Tombstone
// and AppendHistory; storage.ErrNotFound if the room has no such message.
// The row is locked first: UPDATE reports only rows it changed, so it
// cannot tell an unknown message from one tombstoned the same way before.
func tombstone(ctx context.Context, tx *sql.Tx, room, stanzaID, body string, stanza []byte) error {
	var seq int64
	err := tx.QueryRowContext(ctx,
		`SELECT seq FROM history WHERE room = ? AND stanza_id = ? FOR UPDATE`, room, stanzaID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	} else if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `
		UPDATE history SET body = ?, symbols = ?, stanza = ?, tombstone = TRUE
		WHERE room = ? AND seq = ?`,
		body, fulltext.Symbols(body), nonNil(stanza), room, seq)
	return err
}

const historyColumns = `h.room, h.seq, h.stanza_id, h.origin_id, h.occupant_id, h.nick, h.real_jid,
	h.front_door, h.kind, h.target, h.body, h.stanza, h.posted_at, h.tombstone`

func scanHistory(row interface{ Scan(...any) error }) (storage.HistoryMessage, error) {
	var m storage.HistoryMessage
	err := row.Scan(&m.Room, &m.Seq, &m.StanzaID, &m.OriginID, &m.OccupantID, &m.Nick, &m.RealJID,
		&m.FrontDoor, &m.Kind, &m.Target, &m.Body, &m.Stanza, &m.Time, &m.Tombstone)
	return m, err
}

// historySelect builds the FROM and WHERE clauses of q. When limit > 0 the
// caller reads at most limit rows in q's direction, which lets the With
// query stop early. ok is false when q's full-text search has nothing
// searchable in it, so that nothing matches.
//
// A full-text search is a MATCH … AGAINST in BOOLEAN MODE with every word
// required (+word*, matched as a word or the start of one) and every
// symbol word required exactly: natural-language mode would rank messages
// with any of the words and drop words found in half the rows. MySQL
// answers it from the FULLTEXT index first, so a word posted once is found
// at once however long the room's history is. Words the index does not
// hold (shorter than innodb_ft_min_token_size or longer than
// innodb_ft_max_token_size) are required with LIKE, which the body's
// collation makes case- and accent-insensitive; a search of only such
// words scans the room's history, newest or oldest first, until the page
// is full.
//
// With (nick or real JID) reads each of the two from its own index, each
// in seq order and limited, and joins the few rows found: with one OR,
// MySQL would read them all and sort.
//
// Otherwise the primary key yields the room's rows in order and LIMIT
// stops the scan.
func (s *Store) historySelect(q storage.HistoryQuery, limit int) (from string, args []any, ok bool) {
	bounds, boundArgs := historyBounds(q)
	switch {
	case q.FullText != "":
		terms := fulltext.Parse(q.FullText)
		if len(terms) == 0 {
			return "", nil, false
		}
		var (
			b     strings.Builder
			match []string
		)
		b.WriteString(` FROM history AS h WHERE h.room = ? AND NOT h.tombstone`)
		args = append(args, q.Room)
		for _, t := range terms {
			if n := utf8.RuneCountInString(t.Word); n >= s.ftMin && n <= s.ftMax {
				if t.Symbol {
					match = append(match, "+"+t.Word)
				} else {
					match = append(match, "+"+t.Word+"*")
				}
				continue
			}
			like := t.Word
			if t.Symbol {
				like = t.Raw
			}
			b.WriteString(` AND h.body LIKE ? ESCAPE '!'`)
			args = append(args, "%"+escapeLike(like)+"%")
		}
		if len(match) > 0 {
			b.WriteString(` AND MATCH (h.body, h.symbols) AGAINST (? IN BOOLEAN MODE)`)
			args = append(args, strings.Join(match, " "))
		}
		b.WriteString(bounds)
		args = append(args, boundArgs...)
		if q.With != "" {
			b.WriteString(` AND (h.nick = ? OR h.real_jid = ?)`)
			args = append(args, q.With, q.With)
		}
		return b.String(), args, true

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
			return `(SELECT seq FROM history AS h WHERE room = ? AND ` + column + ` = ?` + bounds + page + `)`
		}
		from = ` FROM (` + arm("nick") + ` UNION ` + arm("real_jid") + `) AS w
			JOIN history AS h ON h.room = ? AND h.seq = w.seq`
		return from, append(args, q.Room), true
	}
	return ` FROM history AS h WHERE h.room = ?` + bounds, append([]any{q.Room}, boundArgs...), true
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
		args = append(args, q.Start.UTC())
	}
	if !q.End.IsZero() {
		b.WriteString(` AND h.posted_at <= ?`)
		args = append(args, q.End.UTC())
	}
	return b.String(), args
}

// escapeLike escapes LIKE's wildcards in s for ESCAPE '!'.
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// QueryHistory implements storage.RoomStore. It asks for one row more than
// q.Limit to learn whether the page is the last one in its direction.
func (s *Store) QueryHistory(ctx context.Context, q storage.HistoryQuery) ([]storage.HistoryMessage, bool, error) {
	if err := check.HistoryQuery(q); err != nil {
		return nil, false, fmt.Errorf("storage/mysql: history of %s: %w", q.Room, err)
	}
	limit := min(q.Limit, math.MaxInt32-1)
	from, args, ok := s.historySelect(q, limit+1)
	if !ok {
		return nil, true, nil
	}
	order := "ASC"
	if q.Last {
		order = "DESC"
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+historyColumns+from+` ORDER BY h.seq `+order+` LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("storage/mysql: history of %s: %w", q.Room, err)
	}
	defer rows.Close()
	var msgs []storage.HistoryMessage
	for rows.Next() {
		m, err := scanHistory(rows)
		if err != nil {
			return nil, false, fmt.Errorf("storage/mysql: history of %s: %w", q.Room, err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("storage/mysql: history of %s: %w", q.Room, err)
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
	from, args, ok := s.historySelect(q, 0)
	if !ok {
		return 0, nil
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*)`+from, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage/mysql: count history of %s: %w", q.Room, err)
	}
	return n, nil
}

// HistoryByStanzaID implements storage.RoomStore.
func (s *Store) HistoryByStanzaID(ctx context.Context, room, stanzaID string) (storage.HistoryMessage, error) {
	m, err := scanHistory(s.db.QueryRowContext(ctx,
		`SELECT `+historyColumns+` FROM history AS h WHERE h.room = ? AND h.stanza_id = ?`, room, stanzaID))
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.HistoryMessage{}, fmt.Errorf("storage/mysql: message %s in %s: %w", stanzaID, room, err)
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
