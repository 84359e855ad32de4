package roster

import "github.com/parleychat/parley/storage"

// Event is a subscription stanza's type (RFC 6121 §3).
type Event string

// The four subscription events.
const (
	Subscribe    Event = "subscribe"    // request a subscription (§3.1)
	Subscribed   Event = "subscribed"   // approve one (§3.1.5)
	Unsubscribe  Event = "unsubscribe"  // cancel one's own (§3.3)
	Unsubscribed Event = "unsubscribed" // deny or cancel the other's (§3.2)
)

// Events lists the four, for tests and validation.
var Events = []Event{Subscribe, Subscribed, Unsubscribe, Unsubscribed}

// State is the subscription state between a user and one contact, as the
// user's server sees it (RFC 6121 Appendix A.1): the user's subscription to
// the contact's presence and the contact's to the user's (Subscription:
// none, to, from, both), whether the user has asked for a subscription the
// contact has not answered (PendingOut, ask="subscribe" on the roster),
// and whether the contact has (PendingIn).
type State struct {
	Subscription string
	PendingOut   bool
	PendingIn    bool
}

// The nine states of RFC 6121 Appendix A.1, named as it names them.
var (
	None             = State{Subscription: storage.SubscriptionNone}
	NonePendingOut   = State{Subscription: storage.SubscriptionNone, PendingOut: true}
	NonePendingIn    = State{Subscription: storage.SubscriptionNone, PendingIn: true}
	NonePendingOutIn = State{Subscription: storage.SubscriptionNone, PendingOut: true, PendingIn: true}
	To               = State{Subscription: storage.SubscriptionTo}
	ToPendingIn      = State{Subscription: storage.SubscriptionTo, PendingIn: true}
	From             = State{Subscription: storage.SubscriptionFrom}
	FromPendingOut   = State{Subscription: storage.SubscriptionFrom, PendingOut: true}
	Both             = State{Subscription: storage.SubscriptionBoth}
)

// States lists the nine, in Appendix A's order.
var States = []State{None, NonePendingOut, NonePendingIn, NonePendingOutIn, To, ToPendingIn, From, FromPendingOut, Both}

func (s State) String() string {
	name := map[string]string{storage.SubscriptionNone: "None", storage.SubscriptionTo: "To",
		storage.SubscriptionFrom: "From", storage.SubscriptionBoth: "Both"}[s.Subscription]
	switch {
	case s.PendingOut && s.PendingIn:
		return name + " + Pending Out+In"
	case s.PendingOut:
		return name + " + Pending Out"
	case s.PendingIn:
		return name + " + Pending In"
	}
	return name
}

// stateOf reads the state from what the store keeps. A pending request in
// a direction that already has a subscription (ask on "to", a stored
// request on "from") is not one of the nine states; it counts as answered.
func stateOf(st storage.RosterState) State {
	s := State{Subscription: storage.SubscriptionNone}
	if st.OnRoster {
		s.Subscription = st.Item.Subscription
		s.PendingOut = st.Item.Ask
	}
	s.PendingIn = st.PendingIn != nil
	if s.To() {
		s.PendingOut = false
	}
	if s.From() {
		s.PendingIn = false
	}
	return s
}

// To reports whether the user receives the contact's presence ("to" or
// "both").
func (s State) To() bool {
	return s.Subscription == storage.SubscriptionTo || s.Subscription == storage.SubscriptionBoth
}

// From reports whether the contact receives the user's presence ("from" or
// "both").
func (s State) From() bool {
	return s.Subscription == storage.SubscriptionFrom || s.Subscription == storage.SubscriptionBoth
}

// subscription is the roster's subscription value for the two directions.
func subscription(to, from bool) string {
	switch {
	case to && from:
		return storage.SubscriptionBoth
	case to:
		return storage.SubscriptionTo
	case from:
		return storage.SubscriptionFrom
	}
	return storage.SubscriptionNone
}

// transition is one row of an Appendix A table: the state after the
// stanza, and whether the server passes the stanza on (routes an outbound
// one to the contact, delivers an inbound one to the user).
type transition struct {
	next    State
	forward bool
}

// same is a row that leaves the state as it is.
func same(s State, forward bool) transition { return transition{s, forward} }

// outbound is RFC 6121 Appendix A.2: what the user's server does with a
// subscription stanza the user sends to the contact, by the user's state.
// A subscribe or unsubscribe is always routed, even when it changes
// nothing, since the contact's server may be out of step (A.2.1, A.2.2); a
// subscribed or unsubscribed only when it answers something (A.2.3, A.2.4).
// Parley offers no pre-approval (§3.4), so a subscribed in "None" or
// "None + Pending Out" is dropped.
var outbound = map[Event]map[State]transition{
	Subscribe: { // A.2.1
		None:             {NonePendingOut, true},
		NonePendingOut:   same(NonePendingOut, true),
		NonePendingIn:    {NonePendingOutIn, true},
		NonePendingOutIn: same(NonePendingOutIn, true),
		To:               same(To, true),
		ToPendingIn:      same(ToPendingIn, true),
		From:             {FromPendingOut, true},
		FromPendingOut:   same(FromPendingOut, true),
		Both:             same(Both, true),
	},
	Unsubscribe: { // A.2.2
		None:             same(None, true),
		NonePendingOut:   {None, true},
		NonePendingIn:    same(NonePendingIn, true),
		NonePendingOutIn: {NonePendingIn, true},
		To:               {None, true},
		ToPendingIn:      {NonePendingIn, true},
		From:             same(From, true),
		FromPendingOut:   {From, true},
		Both:             {From, true},
	},
	Subscribed: { // A.2.3
		None:             same(None, false),
		NonePendingOut:   same(NonePendingOut, false),
		NonePendingIn:    {From, true},
		NonePendingOutIn: {FromPendingOut, true},
		To:               same(To, false),
		ToPendingIn:      {Both, true},
		From:             same(From, false),
		FromPendingOut:   same(FromPendingOut, false),
		Both:             same(Both, false),
	},
	Unsubscribed: { // A.2.4
		None:             same(None, false),
		NonePendingOut:   same(NonePendingOut, false),
		NonePendingIn:    {None, true},
		NonePendingOutIn: {NonePendingOut, true},
		To:               same(To, false),
		ToPendingIn:      {To, true},
		From:             {None, true},
		FromPendingOut:   {NonePendingOut, true},
		Both:             {To, true},
	},
}

// inbound is RFC 6121 Appendix A.3: what the user's server does with a
// subscription stanza the contact sends to the user, by the user's state.
// It delivers the stanza to the user exactly when the state changes; a
// subscribe from a contact who is already subscribed is not delivered but
// answered for the user with subscribed (A.3.1, §3.1.3), and so is not in
// this table's forward column.
var inbound = map[Event]map[State]transition{
	Subscribe: { // A.3.1
		None:             {NonePendingIn, true},
		NonePendingOut:   {NonePendingOutIn, true},
		NonePendingIn:    same(NonePendingIn, false),
		NonePendingOutIn: same(NonePendingOutIn, false),
		To:               {ToPendingIn, true},
		ToPendingIn:      same(ToPendingIn, false),
		From:             same(From, false),
		FromPendingOut:   same(FromPendingOut, false),
		Both:             same(Both, false),
	},
	Unsubscribe: { // A.3.2
		None:             same(None, false),
		NonePendingOut:   same(NonePendingOut, false),
		NonePendingIn:    {None, true},
		NonePendingOutIn: {NonePendingOut, true},
		To:               same(To, false),
		ToPendingIn:      {To, true},
		From:             {None, true},
		FromPendingOut:   {NonePendingOut, true},
		Both:             {To, true},
	},
	Subscribed: { // A.3.3
		None:             same(None, false),
		NonePendingOut:   {To, true},
		NonePendingIn:    same(NonePendingIn, false),
		NonePendingOutIn: {ToPendingIn, true},
		To:               same(To, false),
		ToPendingIn:      same(ToPendingIn, false),
		From:             same(From, false),
		FromPendingOut:   {Both, true},
		Both:             same(Both, false),
	},
	Unsubscribed: { // A.3.4
		None:             same(None, false),
		NonePendingOut:   {None, true},
		NonePendingIn:    same(NonePendingIn, false),
		NonePendingOutIn: {NonePendingIn, true},
		To:               {None, true},
		ToPendingIn:      {NonePendingIn, true},
		From:             same(From, false),
		FromPendingOut:   {From, true},
		Both:             {From, true},
	},
}

// ItemState is the state a roster item records: its subscription and ask.
// Whether the contact has a request pending is not on the item.
func ItemState(it storage.RosterItem) State {
	return stateOf(storage.RosterState{Item: it, OnRoster: true})
}
