package storage

import (
	"context"
	"time"
)

// What mobile clients keep on the server (issue 13): FAST tokens
// (XEP-0484), one per device, and push registrations (XEP-0357). Both go
// with the account.

// FastToken is one device's FAST token. The token itself is never stored:
// Hash is its SHA-256. A rotation keeps the token before it (Prev*) valid
// until the new one is first used, so that a client that missed the new
// token is not locked out.
type FastToken struct {
	Owner string // the account's username
	// AgentID is the client's SASL2 user-agent id (at most 128
	// characters): one token per device.
	AgentID string
	// Mechanism is the HT mechanism the token was issued for
	// ("HT-SHA-256-NONE", …).
	Mechanism string
	Hash      []byte
	Expires   time.Time
	// PrevHash and PrevExpires are the token it replaced (empty if none).
	PrevHash    []byte
	PrevExpires time.Time
	// Count is the highest XEP-0484 §3.6 count the client sent (replay
	// protection): a later login must send a higher one.
	Count int64
	// Software and Device are what the client said of itself (SASL2
	// user-agent), for listing.
	Software, Device string
	// Created is when the device first got a token; Used when one was
	// last used (zero: never).
	Created, Used time.Time
}

// FastTokens stores the accounts' FAST tokens.
type FastTokens interface {
	// FastToken returns owner's token for a device, or ErrNotFound.
	FastToken(ctx context.Context, owner, agentID string) (FastToken, error)
	// PutFastToken inserts or replaces the token of t.Owner's device
	// t.AgentID (ErrNotFound for an unknown owner).
	PutFastToken(ctx context.Context, t FastToken) error
	// FastTokens returns owner's tokens by agent id.
	FastTokens(ctx context.Context, owner string) ([]FastToken, error)
	// DeleteFastTokens deletes owner's token for agentID, or all of
	// owner's when agentID is "", and returns how many it deleted.
	DeleteFastTokens(ctx context.Context, owner, agentID string) (int, error)
}

// PushRegistration is one XEP-0357 registration: notify the app server
// JID, on node, of what the account misses.
type PushRegistration struct {
	Owner string // the account's username
	JID   string // the app server (XEP-0357 §5), at most 255 characters
	Node  string // at most 255 characters
	// Options is the publish-options data form the client gave, as XML
	// (empty if none).
	Options []byte
	Created time.Time
}

// PushRegistrations stores push registrations. Enabling and disabling
// record the compliance event ev (if not nil) in the same transaction.
type PushRegistrations interface {
	// EnablePush inserts or replaces r (keyed by owner, JID and node);
	// an unknown owner is ErrNotFound.
	EnablePush(ctx context.Context, r PushRegistration, ev *OutboxEvent) error
	// DisablePush removes owner's registrations with jid, only the one
	// for node unless node is "", and returns how many it removed.
	DisablePush(ctx context.Context, owner, jid, node string, ev *OutboxEvent) (int, error)
	// PushRegistrations returns owner's registrations by JID and node.
	PushRegistrations(ctx context.Context, owner string) ([]PushRegistration, error)
}
