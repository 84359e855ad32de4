package interop

import (
	"strconv"
	"testing"
)

// TestSlixmppAccount: slixmpp against parleyd on both back ends, across a
// restart: two resources of one account with message carbons both ways
// (XEP-0280), blocking (XEP-0191) stopping messages and presence both
// ways, and the account's own archive (XEP-0313) returning the 1:1
// messages it sent and received before the restart, with full-text search
// and paging (testdata/account.py says each step).
func TestSlixmppAccount(t *testing.T) {
	requireSlixmpp(t)
	binaries(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, b.storage(t))
			s.start()
			users := []account{alice, bob}
			for _, u := range users {
				s.addUser(u.name, u.password)
			}
			s.runScript("account.py", users, "--phase", "before")
			if t.Failed() {
				return
			}
			s.stop()
			s.start()
			s.runScript("account.py", users, "--phase", "after")
		})
	}
}

// TestPoolAccountAcrossNodes runs the same scenario with alice's phone on
// the other node of a pool: carbons both ways and the block push cross the
// nodes, and alice reads her archive on the other node.
func TestPoolAccountAcrossNodes(t *testing.T) {
	requireSlixmpp(t)
	nodes := startTwoNodePool(t)
	users := []account{{"alice", "alice-" + randomHex(t, 4)}, {"bob", "bob-" + randomHex(t, 4)}}
	for _, u := range users {
		nodes[0].addUser(u.name, u.password)
	}
	other := strconv.Itoa(nodes[1].c2s)
	nodes[0].runScript("account.py", users, "--phase", "before", "--other-port", other)
	if t.Failed() {
		return
	}
	nodes[0].runScript("account.py", users, "--phase", "after", "--other-port", other)
}
