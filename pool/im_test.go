package pool

import (
	"context"
	"sync"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/interop"
)

// door is a front door with live endpoints for some users: it records
// what it delivers.
type door struct {
	users map[string]bool
	mu    sync.Mutex
	got   []interop.Message
}

func (d *door) Deliver(_ context.Context, m interop.Message) (bool, error) {
	if !d.users[m.To.Bare().String()] {
		return false, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, m)
	return true, nil
}

// TestPoolIMAcrossNodes: a 1:1 message for a user whose endpoints are on
// another node is delivered there, once, and the sender's router knows it
// was delivered (so it does not store it); a user nowhere online is
// reported undelivered.
func TestPoolIMAcrossNodes(t *testing.T) {
	nodes := startNodes(t, testDSN(t), RoleActive, RoleActive, RoleActive)
	var doors []*door
	var routers []*interop.Router
	for i, n := range nodes {
		d := &door{users: map[string]bool{}}
		if i == 2 {
			d.users["bob@example.org"] = true
		}
		r := interop.NewRouter()
		r.AddDeliverer(d)
		r.AddDeliverer(n.p.IM(r))
		doors, routers = append(doors, d), append(routers, r)
	}
	m := interop.Message{From: jid.MustParse("alice@example.org/phone"), To: jid.MustParse("bob@example.org"),
		Type: "chat", ID: "m1", Body: "hello across the pool"}
	delivered, err := routers[0].Deliver(t.Context(), m, nil)
	if err != nil || !delivered {
		t.Fatalf("Deliver = %v, %v; want delivered on node3", delivered, err)
	}
	if len(doors[2].got) != 1 || doors[2].got[0].Body != m.Body || doors[2].got[0].From.String() != "alice@example.org/phone" {
		t.Fatalf("node3's door got %+v", doors[2].got)
	}
	if len(doors[0].got)+len(doors[1].got) != 0 {
		t.Fatal("a node without bob's endpoints delivered")
	}
	m.To = jid.MustParse("carol@example.org")
	if delivered, err := routers[1].Deliver(t.Context(), m, nil); delivered || err != nil {
		t.Fatalf("message to a user online nowhere: %v, %v", delivered, err)
	}
}
