package storage

import (
	"context"
	"time"
)

// S2SLink is one XMPP server-to-server link as a node last published it.
type S2SLink struct {
	// Direction is "in" (the peer connected) or "out" (this node did).
	Direction string `json:"direction"`
	// Local is this server's domain on the link; Remote the peer's
	// authenticated domain(s), comma-separated.
	Local  string `json:"local"`
	Remote string `json:"remote"`
	// State is "connecting" or "authenticated"; Auth "dialback",
	// "certificate" or "" (not yet).
	State string `json:"state"`
	Auth  string `json:"auth"`
	// Queued is how many stanzas wait to be sent (outbound links).
	Queued int       `json:"queued"`
	Since  time.Time `json:"since"`
	// StanzasIn and StanzasOut count what the link carried: stanzas
	// received (inbound) or written (outbound).
	StanzasIn  int64 `json:"stanzas_in,omitempty"`
	StanzasOut int64 `json:"stanzas_out,omitempty"`
}

// S2SStatus is one node's link table: what `parleyctl s2s list` shows.
type S2SStatus struct {
	Node string `json:"node"`
	// Written is when the node wrote it, by the node's clock.
	Written time.Time `json:"written"`
	Links   []S2SLink `json:"links"`
}

// FederationStatus keeps the link table each node publishes.
type FederationStatus interface {
	// PutS2SStatus replaces the node's published link table.
	PutS2SStatus(ctx context.Context, st S2SStatus) error
	// S2SStatuses returns every node's last published table, by node.
	S2SStatuses(ctx context.Context) ([]S2SStatus, error)
}
