package compliance

import (
	"encoding/json"

	"github.com/parleychat/parley/storage"
)

// targetKeys names, for each event type the room engine writes, the
// payload key that holds the user the event concerns besides its actor
// (muc/admin.go, muc/post.go, muc/files.go, muc/retention.go,
// muc/revoke.go), and by package admin.
var targetKeys = map[string]string{
	"kick":          "user", // a role change to none
	"evict":         "user", // removed for lost access (muc/revoke.go)
	"role":          "user",
	"ban":           "jid",
	"affiliation":   "jid",
	"presenter":     "jid",
	"invitation":    "to",
	"private":       "to",
	"direct":        "to",    // a 1:1 message (protocol/xmpp/mam_account.go)
	"file.download": "owner", // the actor is the downloading client's address
	// Account changes by an administrator (package admin).
	"account.add":       "user",
	"account.password":  "user",
	"account.disable":   "user",
	"account.delete":    "user",
	"account.kick":      "user",
	"compliance.export": "user", // the user an export was about, if any
}

// EventTarget returns the user an event of type typ concerns besides its
// actor, read from its payload: the kicked or banned user, the user whose
// role, affiliation or presenter right changed, the invitee, the recipient
// of a private message, the owner of a downloaded file; and the user of a
// legal hold on a user. It returns "" for other events and for payloads
// that do not say. The compliance worker stores it with the event
// (storage.OutboxEvent.Target) so that an export by user (parleyctl
// compliance export --user) finds what was done to them as well.
func EventTarget(typ string, payload []byte) string {
	key, ok := targetKeys[typ]
	hold := typ == "hold.add" || typ == "hold.remove"
	if !ok && !hold {
		return "" // most events (posts): no need to parse the payload
	}
	var p map[string]any
	if len(payload) == 0 || json.Unmarshal(payload, &p) != nil {
		return ""
	}
	str := func(key string) string { s, _ := p[key].(string); return s }
	if hold {
		// hold.add's payload is a storage.Hold (Kind, Name);
		// hold.remove's has kind and name.
		switch {
		case str("kind") == storage.HoldUser:
			return str("name")
		case str("Kind") == storage.HoldUser:
			return str("Name")
		}
		return ""
	}
	return str(key)
}
