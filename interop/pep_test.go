package interop

import (
	"strconv"
	"testing"
)

// TestSlixmppPEP: slixmpp (xep_0060, 0115, 0163, 0172, 0048, 0049, 0054,
// 0084) against parleyd on both back ends, across a restart: PEP
// notifications filtered by caps, an open OMEMO device list read by a
// stranger, bookmarks set in private storage on one resource seen as
// XEP-0402 items on another and back, a vCard photo's hash in presence
// and PEP avatars converted to the vCard (testdata/pep.py says each step).
func TestSlixmppPEP(t *testing.T) {
	requireSlixmpp(t)
	binaries(t)
	carol := account{"carol", "car0l-secret"}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, b.storage(t))
			s.start()
			for _, u := range []account{alice, bob, carol} {
				s.addUser(u.name, u.password)
			}
			users := []account{alice, bob, carol}
			s.runScript("pep.py", users, "--phase", "before")
			if t.Failed() {
				return
			}
			s.stop()
			s.start()
			s.runScript("pep.py", users, "--phase", "after")
		})
	}
}

// TestPoolPEPAcrossNodes runs the PEP scenario's first phase with alice's
// laptop on one node of a pool and bob, carol and alice's phone on the
// other: notifications (filtered by the recipients' caps on their node),
// bookmark conversion and the avatar cross the nodes.
func TestPoolPEPAcrossNodes(t *testing.T) {
	requireSlixmpp(t)
	nodes := startTwoNodePool(t)
	users := []account{{"alice", "alice-" + randomHex(t, 4)}, {"bob", "bob-" + randomHex(t, 4)}, {"carol", "carol-" + randomHex(t, 4)}}
	for _, u := range users {
		nodes[0].addUser(u.name, u.password)
	}
	nodes[0].runScript("pep.py", users, "--phase", "before", "--other-port", strconv.Itoa(nodes[1].c2s))
}
