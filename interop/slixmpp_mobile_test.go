package interop

import "testing"

// TestSlixmppMobile: what phones use (issue 13) with slixmpp's own
// plugins; see testdata/mobile.py for the steps.
func TestSlixmppMobile(t *testing.T) {
	requireSlixmpp(t)
	binaries(t)
	for _, scenario := range []string{"csi", "sm", "sm_timeout"} {
		t.Run(scenario, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, "")
			// sm_timeout waits for a detached session to expire.
			s.args = []string{"--sm-resume-timeout", "2s"}
			s.start()
			s.addUser(alice.name, alice.password)
			s.addUser(bob.name, bob.password)
			s.runScript("mobile.py", []account{alice, bob}, "--scenario", scenario)
		})
	}
}
