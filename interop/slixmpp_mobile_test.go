package interop

import "testing"

// TestSlixmppMobile: what phones use (issue 13) with slixmpp's own
// plugins; see testdata/mobile.py for the steps.
func TestSlixmppMobile(t *testing.T) {
	requireSlixmpp(t)
	binaries(t)
	for _, scenario := range []string{"csi", "sm"} {
		t.Run(scenario, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, "")
			s.start()
			s.addUser(alice.name, alice.password)
			s.addUser(bob.name, bob.password)
			s.runScript("mobile.py", []account{alice, bob}, "--scenario", scenario)
		})
	}
}
