package muc

import (
	"context"
	"fmt"

	"github.com/parleychat/parley/storage"
)

// MayRead reports whether user may read a room's history: not when the room
// is disabled, the user banned or walled off by the category, and for a
// members-only room only its members and managers (issue 3: "no one who
// may not read a room reads its archive").
func (e *Engine) MayRead(ctx context.Context, room, user string) error {
	r, err := e.room(ctx, room)
	if err != nil || isAdmin(user) {
		return err
	}
	cat, err := e.category(ctx, r.Category)
	if err != nil {
		return err
	}
	st, err := e.standingOf(ctx, room, user)
	if err != nil {
		return err
	}
	return e.mayReadWith(ctx, r, cat, st, user)
}

// History answers an archive query (XEP-0313) for user, after checking
// they may read the room. The read is captured for compliance (a
// "backchat"), and so is a search.
func (e *Engine) History(ctx context.Context, user, via string, q storage.HistoryQuery) ([]storage.HistoryMessage, bool, error) {
	if err := e.MayRead(ctx, q.Room, user); err != nil {
		return nil, false, err
	}
	rate := e.archiveRate
	if q.FullText != "" {
		rate = e.searchRate
	}
	if err := e.rateLimited(rate, user); err != nil {
		return nil, false, err
	}
	if q.Limit <= 0 || q.Limit > e.cfg.MaxHistory {
		q.Limit = e.cfg.MaxHistory
	}
	msgs, complete, err := e.cfg.Store.QueryHistory(ctx, q)
	if err != nil {
		return nil, false, fmt.Errorf("muc: querying history of %s: %w", q.Room, err)
	}
	detail := map[string]any{"via": via, "count": len(msgs), "with": q.With,
		"start": q.Start, "end": q.End, "after_seq": q.AfterSeq, "before_seq": q.BeforeSeq}
	if len(msgs) > 0 {
		detail["from_seq"], detail["to_seq"] = msgs[0].Seq, msgs[len(msgs)-1].Seq
	}
	evs := []storage.OutboxEvent{e.event("history.read", q.Room, user, detail)}
	if q.FullText != "" {
		evs = append(evs, e.event("search", q.Room, user, map[string]any{"via": via, "text": q.FullText, "hits": len(msgs)}))
	}
	if err := e.cfg.Store.AppendOutbox(ctx, evs...); err != nil {
		return nil, false, fmt.Errorf("muc: recording history read: %w", err)
	}
	return msgs, complete, nil
}

// Message returns one archived message by its stanza-id, for user.
func (e *Engine) Message(ctx context.Context, user, room, stanzaID string) (storage.HistoryMessage, error) {
	if err := e.MayRead(ctx, room, user); err != nil {
		return storage.HistoryMessage{}, err
	}
	m, err := e.cfg.Store.HistoryByStanzaID(ctx, room, stanzaID)
	if err != nil {
		return m, fmt.Errorf("muc: reading message %s: %w", stanzaID, err)
	}
	return m, nil
}

// ResolveOwnMessage maps an id a client uses for one of its own recent
// messages — the room's stanza-id, the client's origin-id (XEP-0359) or
// its message id — to the stanza-id, for corrections (XEP-0308). Unknown
// ids come back unchanged.
func (e *Engine) ResolveOwnMessage(ctx context.Context, room, user, id string, idOf func(stanza []byte) string) string {
	if id == "" {
		return ""
	}
	if _, err := e.cfg.Store.HistoryByStanzaID(ctx, room, id); err == nil {
		return id
	}
	msgs, _, err := e.cfg.Store.QueryHistory(ctx, storage.HistoryQuery{Room: room, With: user, Limit: 50, Last: true})
	if err != nil {
		return id
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].OriginID == id || idOf(msgs[i].Stanza) == id {
			return msgs[i].StanzaID
		}
	}
	return id
}

// CountHistory counts the messages a query matches, for an RSM <count/>
// (XEP-0059 §2.6), after the same access check as History.
func (e *Engine) CountHistory(ctx context.Context, user string, q storage.HistoryQuery) (int, error) {
	if err := e.MayRead(ctx, q.Room, user); err != nil {
		return 0, err
	}
	n, err := e.cfg.Store.CountHistory(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("muc: counting history of %s: %w", q.Room, err)
	}
	return n, nil
}
