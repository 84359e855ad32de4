package check

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/parleychat/parley/storage"
)

// Bounds of the mobile tables (00019): a SASL2 user-agent id, what a client
// says of itself, and the app server's JID and node (both in MySQL's
// primary key with the owner, which bounds them).
const (
	maxAgentID   = 128
	maxAgentText = 1024
	maxPushKey   = 255
)

// FastToken checks a token before it is stored.
func FastToken(t storage.FastToken) error {
	errs := []error{Username(t.Owner), key("user-agent id", t.AgentID, maxAgentID), key("mechanism", t.Mechanism, 32)}
	if len(t.Hash) == 0 || len(t.Hash) > 64 || len(t.PrevHash) > 64 {
		errs = append(errs, errors.New("token hash must be 1 to 64 bytes"))
	}
	for _, s := range []string{t.Software, t.Device} {
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxAgentText {
			errs = append(errs, fmt.Errorf("user-agent text longer than %d characters or not UTF-8", maxAgentText))
		}
	}
	return errors.Join(errs...)
}

// PushRegistration checks a registration before it is stored.
func PushRegistration(r storage.PushRegistration) error {
	return errors.Join(Username(r.Owner), key("push JID", r.JID, maxPushKey), key("push node", r.Node, maxPushKey))
}
