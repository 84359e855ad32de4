package muc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
)

// Administrators' removal of content and legal holds (issue 5 item 5).
// Each change is written with its compliance event, in one transaction.

// ClearBatch is how many history rows ClearRoom deletes per transaction, so
// that posting to the room is never locked out for long.
const ClearBatch = 1000

// retention returns the store's retention side.
func (e *Engine) retention() (storage.RetentionStore, error) {
	r, ok := e.cfg.Store.(storage.RetentionStore)
	if !ok {
		return nil, fmt.Errorf("muc: the store (%T) keeps no legal holds", e.cfg.Store)
	}
	return r, nil
}

// ClearRoom deletes the room's history posted before before, except what a
// legal hold covers (all of it for a held room, the rows of held users
// otherwise), ClearBatch rows per transaction, each batch captured as a
// "room.clear" event (room, rows deleted, the newest time deleted). It
// returns how many rows it deleted.
func (e *Engine) ClearRoom(ctx context.Context, actor, room string, before time.Time) (int, error) {
	r, err := e.retention()
	if err != nil {
		return 0, err
	}
	if _, err := e.room(ctx, room); err != nil {
		return 0, err
	}
	total := 0
	for {
		n, err := r.PurgeHistory(ctx, storage.HistoryPurge{Room: room, Before: before, Limit: ClearBatch,
			Event: func(n int, newest time.Time) storage.OutboxEvent {
				return e.event("room.clear", room, actor, map[string]any{
					"before": before.UTC(), "deleted": n, "through": newest})
			}})
		total += n
		if err != nil {
			return total, fmt.Errorf("muc: clearing %s: %w", room, err)
		}
		if n < ClearBatch {
			e.log.Info("admin action", "action", "room.clear", "room", room, "actor", actor, "deleted", total)
			return total, nil
		}
	}
}

// RemoveMessage replaces a message's text with replacement (a default
// notice when empty) and marks it a tombstone, as a moderation does, with a
// "message.remove" event that keeps the original for compliance.
func (e *Engine) RemoveMessage(ctx context.Context, actor, room, stanzaID, replacement string) error {
	if replacement == "" {
		replacement = "This message was removed by an administrator."
	}
	h := e.lockHost(room)
	defer e.unlockHost(h)
	if _, err := e.room(ctx, room); err != nil {
		return err
	}
	m, err := e.cfg.Store.HistoryByStanzaID(ctx, room, stanzaID)
	if errors.Is(err, storage.ErrNotFound) {
		return refuse(CodeNotFound, "no message %q in %q", stanzaID, room)
	}
	if err != nil {
		return fmt.Errorf("muc: reading message %s in %s: %w", stanzaID, room, err)
	}
	ev := e.event("message.remove", room, actor, map[string]string{
		"stanza_id": stanzaID, "replacement": replacement,
		"original_body": m.Body, "original_sender": m.RealJID, "original_nick": m.Nick})
	if err := e.cfg.Store.Tombstone(ctx, room, stanzaID, replacement, nil, ev); err != nil {
		return fmt.Errorf("muc: removing message %s in %s: %w", stanzaID, room, err)
	}
	e.logAdmin(ev, "stanza_id", stanzaID)
	return nil
}

// PutHold places a legal hold (a "hold.add" event).
func (e *Engine) PutHold(ctx context.Context, actor string, h storage.Hold) error {
	r, err := e.retention()
	if err != nil {
		return err
	}
	h.Actor = recordedActor(actor)
	ev := e.event("hold.add", holdRoom(h.Kind, h.Name), actor, h)
	if err := r.PutHold(ctx, h, ev); err != nil {
		return fmt.Errorf("muc: placing hold: %w", err)
	}
	e.logAdmin(ev, "kind", h.Kind, "name", h.Name)
	return nil
}

// DeleteHold lifts a legal hold (a "hold.remove" event).
func (e *Engine) DeleteHold(ctx context.Context, actor, kind, name, reason string) error {
	r, err := e.retention()
	if err != nil {
		return err
	}
	ev := e.event("hold.remove", holdRoom(kind, name), actor, map[string]string{"kind": kind, "name": name, "reason": reason})
	err = r.DeleteHold(ctx, kind, name, ev)
	if errors.Is(err, storage.ErrNotFound) {
		return refuse(CodeNotFound, "no hold on %s %q", kind, name)
	}
	if err != nil {
		return fmt.Errorf("muc: lifting hold: %w", err)
	}
	e.logAdmin(ev, "kind", kind, "name", name)
	return nil
}

// Holds lists the legal holds.
func (e *Engine) Holds(ctx context.Context) ([]storage.Hold, error) {
	r, err := e.retention()
	if err != nil {
		return nil, err
	}
	return r.Holds(ctx)
}

// holdRoom is the room a hold event is about: the held room, or none.
func holdRoom(kind, name string) string {
	if kind == storage.HoldRoom {
		return name
	}
	return ""
}
