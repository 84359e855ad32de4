package interop

import "testing"

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
