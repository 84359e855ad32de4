// Package roster owns users' rosters and presence subscriptions (RFC 6121
// §2, §3), apart from any wire format: the subscription state machine of
// RFC 6121 Appendix A, and roster sets and removals, each applied to the
// store in one transaction (storage.Rosters.UpdateRoster), so that two
// stanzas or requests about one contact never interleave their reads and
// writes — not on one node, not across a pool.
//
// Every operation takes the user (an account's localpart), the contact (a
// bare JID) and what happened, and returns an Outcome: what the front door
// must now send (the stanza passed on or not, stanzas sent on the user's
// behalf, roster pushes, presence). The front door (protocol/xmpp) turns
// the Outcome into stanzas and knows sessions; this package knows neither.
//
// "Outbound" is a stanza the user sends to the contact, processed by the
// user's server (Appendix A.2); "inbound" a stanza the contact sends to the
// user, processed by the user's server when it arrives (Appendix A.3). For
// two local users one stanza is both: outbound at the sender's roster, then
// inbound at the recipient's, two transactions on two rosters, as two
// servers would do it.
package roster

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/parleychat/parley/storage"
)

// ErrNotOnRoster is the refusal to remove a contact the user's roster does
// not have (RFC 6121 §2.5.3: item-not-found).
var ErrNotOnRoster = errors.New("roster: the contact is not on the roster")

// ErrRosterFull refuses a new contact to a user whose roster holds
// Limits.MaxItems (issue 18: subscribing to 2,000 unknown contacts left a
// 2,000-item roster). The XMPP front door answers policy-violation.
var ErrRosterFull = errors.New("roster: the roster is full")

// Limits bounds what one user's roster and requests may grow to; zero
// fields mean no limit.
type Limits struct {
	// MaxItems is the most contacts one roster holds: a subscription
	// request or roster set that would add one more is refused
	// (ErrRosterFull).
	MaxItems int
	// MaxPendingIn is the most unanswered subscription requests one user
	// keeps (RFC 6121 §3.1.3): a request from one more contact is dropped
	// (not stored, not delivered) until the user answers some.
	MaxPendingIn int
}

// Rosters applies roster and subscription changes to the store.
type Rosters struct {
	store  storage.Rosters
	limits Limits
}

// New returns Rosters over store, with no limits.
func New(store storage.Rosters) *Rosters {
	return &Rosters{store: store}
}

// NewLimited returns Rosters over store with limits.
func NewLimited(store storage.Rosters, limits Limits) *Rosters {
	return &Rosters{store: store, limits: limits}
}

// roomForItem refuses a new contact on a full roster: ErrRosterFull when
// contact is not on user's roster and it holds MaxItems already. It reads
// outside the change's transaction, so concurrent additions of one user
// may pass the limit by as many as run at once.
func (r *Rosters) roomForItem(ctx context.Context, user, contact string) error {
	if r.limits.MaxItems <= 0 {
		return nil
	}
	if _, err := r.store.RosterItem(ctx, user, contact); err == nil {
		return nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	items, _, err := r.store.Roster(ctx, user)
	if err != nil {
		return err
	}
	if len(items) >= r.limits.MaxItems {
		return fmt.Errorf("%w: %d contacts, the most allowed", ErrRosterFull, len(items))
	}
	return nil
}

// roomForRequest reports whether user may keep one more unanswered
// request (from a contact that has none pending yet).
func (r *Rosters) roomForRequest(ctx context.Context, user, contact string) (bool, error) {
	if r.limits.MaxPendingIn <= 0 {
		return true, nil
	}
	pending, err := r.store.PendingSubscriptions(ctx, user)
	if err != nil {
		return false, err
	}
	for _, p := range pending {
		if p.From == contact {
			return true, nil
		}
	}
	return len(pending) < r.limits.MaxPendingIn, nil
}

// Push is a changed roster item to push to the owner's interested
// resources (RFC 6121 §2.1.6), with the roster version it made.
type Push struct {
	Item storage.RosterItem
	// Removed: the item is gone (a push with subscription "remove").
	Removed bool
	Version int64
}

// Outcome is what one change asks of the front door, in this order: push
// the user's changed item, send the contact unavailable presence, pass the
// stanza on, send the subscription stanzas of Send, send the contact the
// user's presence.
type Outcome struct {
	// Before and After are the user's subscription states with the
	// contact around the change.
	Before, After State
	// Push is the user's changed roster item; nil when the roster did not
	// change (a pending request alone is not on the roster).
	Push *Push
	// Unavailable: the contact just lost its subscription to the user's
	// presence. Before anything else reaches the contact, it gets
	// unavailable presence from each of the user's available resources
	// (RFC 6121 §3.2.2, §3.3.3).
	Unavailable bool
	// Forward: pass the stanza on. An outbound stanza is routed to the
	// contact (who processes it inbound); an inbound one is delivered to
	// the user's available resources.
	Forward bool
	// Send lists subscription stanzas the server sends the contact from
	// the user, on the user's behalf: the answer to a subscribe the user
	// already approved or cannot receive (§3.1.3), the cancellations of a
	// removed item (§2.5.2). The contact processes them inbound.
	Send []Event
	// Presence: the contact just got a subscription to the user's
	// presence: send it the current presence of each of the user's
	// available resources (§3.1.5).
	Presence bool
	// Dropped: a new request was dropped, the user having
	// Limits.MaxPendingIn unanswered ones already.
	Dropped bool
}

// Outbound applies a subscription stanza user sends to contact (RFC 6121
// §3.1.2, §3.1.5, §3.2.2, §3.3.2; Appendix A.2) in one transaction. A
// subscribe or an approval puts the contact on the user's roster if it is
// not there; the other events only change items that exist. Answering a
// request (subscribed, unsubscribed) forgets it.
func (r *Rosters) Outbound(ctx context.Context, user, contact string, ev Event) (Outcome, error) {
	if ev == Subscribe || ev == Subscribed {
		if err := r.roomForItem(ctx, user, contact); err != nil {
			return Outcome{}, fmt.Errorf("roster: %s from %s to %s: %w", ev, user, contact, err)
		}
	}
	out, err := r.step(ctx, user, contact, outbound, ev, func(_ *storage.RosterState, out *Outcome) {
		out.Presence = !out.Before.From() && out.After.From()
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("roster: %s from %s to %s: %w", ev, user, contact, err)
	}
	return out, nil
}

// Inbound applies a subscription stanza contact sends to user (RFC 6121
// §3.1.3, §3.1.6, §3.2.3, §3.3.3; Appendix A.3) in one transaction; stanza
// is the stanza as received, kept with a subscription request until the
// user answers it (§3.1.3). A request from a contact the user already lets
// see their presence is answered with subscribed for the user, and one to
// a user with no account with unsubscribed (§3.1.3); any other stanza for
// a user with no account is dropped.
func (r *Rosters) Inbound(ctx context.Context, user, contact string, ev Event, stanza []byte) (Outcome, error) {
	if ev == Subscribe {
		ok, err := r.roomForRequest(ctx, user, contact)
		if err != nil {
			return Outcome{}, fmt.Errorf("roster: %s from %s to %s: %w", ev, contact, user, err)
		}
		if !ok {
			// Too many unanswered requests: this one is dropped, as a
			// repeated one is (Appendix A.3.1), until the user answers.
			return Outcome{Dropped: true}, nil
		}
	}
	out, err := r.step(ctx, user, contact, inbound, ev, func(st *storage.RosterState, out *Outcome) {
		if !out.Before.PendingIn && out.After.PendingIn {
			// A new request: keep it until the user answers.
			st.PendingIn = append([]byte{}, stanza...)
		}
		if ev == Subscribe && out.Before.From() {
			out.Send = []Event{Subscribed}
		}
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// No such account (the only ErrNotFound UpdateRoster gives).
		if ev == Subscribe {
			return Outcome{Before: None, After: None, Send: []Event{Unsubscribed}}, nil
		}
		return Outcome{Before: None, After: None}, nil
	case err != nil:
		return Outcome{}, fmt.Errorf("roster: %s from %s to %s: %w", ev, contact, user, err)
	}
	return out, nil
}

// step makes one transition of Appendix A in one transaction: the row of
// tables for ev and the stored state, with more of the direction's rules
// added by also, and the push for the item it changed.
func (r *Rosters) step(ctx context.Context, user, contact string, tables map[Event]map[State]transition, ev Event,
	also func(st *storage.RosterState, out *Outcome)) (Outcome, error) {
	table, ok := tables[ev]
	if !ok {
		return Outcome{}, fmt.Errorf("%q is not a subscription event", ev)
	}
	var out Outcome
	var item storage.RosterItem
	version, err := r.store.UpdateRoster(ctx, user, contact, func(st *storage.RosterState) error {
		out = Outcome{Before: stateOf(*st)}
		t := table[out.Before]
		out.After, out.Forward = t.next, t.forward
		out.Unavailable = out.Before.From() && !out.After.From()
		also(st, &out)
		apply(st, out.After)
		item = st.Item
		return nil
	})
	if err != nil {
		return Outcome{}, err
	}
	out.Push = push(user, contact, item, version)
	return out, nil
}

// Set adds contact to user's roster or updates its name and groups (RFC
// 6121 §2.3, §2.4), leaving its subscription state as it is.
func (r *Rosters) Set(ctx context.Context, user, contact, name string, groups []string) (Outcome, error) {
	if err := r.roomForItem(ctx, user, contact); err != nil {
		return Outcome{}, fmt.Errorf("roster: setting %s on %s's roster: %w", contact, user, err)
	}
	var out Outcome
	var item storage.RosterItem
	version, err := r.store.UpdateRoster(ctx, user, contact, func(st *storage.RosterState) error {
		out = Outcome{Before: stateOf(*st)}
		out.After = out.Before
		st.OnRoster = true
		st.Item.Name, st.Item.Groups = name, slices.Clone(groups)
		item = st.Item
		return nil
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("roster: setting %s on %s's roster: %w", contact, user, err)
	}
	out.Push = push(user, contact, item, version)
	return out, nil
}

// Remove takes contact off user's roster (RFC 6121 §2.5.2) in one
// transaction, with the contact's pending request, and cancels the
// subscriptions both ways: unsubscribe if the user had or asked for one to
// the contact, unsubscribed (after unavailable presence) if the contact had
// one to the user. ErrNotOnRoster if the contact is not on the roster.
func (r *Rosters) Remove(ctx context.Context, user, contact string) (Outcome, error) {
	var out Outcome
	var removed storage.RosterItem
	version, err := r.store.UpdateRoster(ctx, user, contact, func(st *storage.RosterState) error {
		if !st.OnRoster {
			return ErrNotOnRoster
		}
		out = Outcome{Before: stateOf(*st), After: None}
		removed = st.Item
		*st = storage.RosterState{Item: st.Item}
		if out.Before.To() || out.Before.PendingOut {
			out.Send = append(out.Send, Unsubscribe)
		}
		if out.Before.From() {
			out.Unavailable = true
			out.Send = append(out.Send, Unsubscribed)
		}
		return nil
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("roster: removing %s from %s's roster: %w", contact, user, err)
	}
	removed.Owner, removed.JID = user, contact
	removed.Subscription, removed.Ask, removed.Groups = storage.SubscriptionNone, false, nil
	out.Push = &Push{Item: removed, Removed: true, Version: version}
	return out, nil
}

// apply writes state s onto what the store keeps. A contact not on the
// roster is put on it when its subscription or ask changes (an outbound
// subscribe or approval); a pending request alone stays off the roster
// (Appendix A.1, "None + Pending In").
func apply(st *storage.RosterState, s State) {
	if s.Subscription != st.Item.Subscription || s.PendingOut != st.Item.Ask {
		st.OnRoster = true
	}
	if st.OnRoster {
		st.Item.Subscription, st.Item.Ask = s.Subscription, s.PendingOut
	}
	if !s.PendingIn {
		st.PendingIn = nil
	}
}

// push is the roster push for the item a change wrote; nil when the change
// did not touch the roster (version 0).
func push(user, contact string, item storage.RosterItem, version int64) *Push {
	if version == 0 {
		return nil
	}
	item.Owner, item.JID = user, contact
	return &Push{Item: item, Version: version}
}
