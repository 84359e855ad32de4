package pool

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/parleychat/parley/storage"
)

// TestOutcomeKeepsUnavailable: a command the host's database could not
// take (a failover under way) reads as storage.ErrUnavailable on the node
// that forwarded it, so its front door answers "try again shortly" (XMPP
// wait, SIP 503) and not internal-server-error.
func TestOutcomeKeepsUnavailable(t *testing.T) {
	var sent outcome
	sent.setErr(fmt.Errorf("muc: committing post to lobby: %w", storage.ErrUnavailable))
	b, err := json.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	var got outcome
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := got.err(); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("across the bus: %v; want storage.ErrUnavailable", err)
	}
}
