package interop

import (
	"strconv"
	"testing"
)

// pushsrv is the "app server" of XEP-0357 in the push scenario.
var pushsrv = account{"pushsrv", "app-s3rver"}

// TestSlixmppMobile: what phones use (issue 13) with slixmpp's own
// plugins; see testdata/mobile.py for the steps.
func TestSlixmppMobile(t *testing.T) {
	requireSlixmpp(t)
	binaries(t)
	for _, scenario := range []string{"csi", "sm", "sm_timeout", "push"} {
		t.Run(scenario, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, "")
			// sm_timeout waits for a detached session to expire.
			s.args = []string{"--sm-resume-timeout", "2s"}
			s.start()
			s.addUser(alice.name, alice.password)
			s.addUser(bob.name, bob.password)
			users := []account{alice, bob}
			if scenario == "push" {
				// The "app server" of XEP-0357: an account here.
				s.addUser(pushsrv.name, pushsrv.password)
				users = append(users, pushsrv)
			}
			s.runScript("mobile.py", users, "--scenario", scenario)
		})
	}
}

// TestPoolMobileResume: a phone whose session is on one pool node and
// that reconnects to another tries to resume there: the other node
// answers item-not-found (sessions are resumable only on their node,
// XEP-0198 §5), and slixmpp binds anew there and goes on.
func TestPoolMobileResume(t *testing.T) {
	requireSlixmpp(t)
	nodes := startTwoNodePool(t)
	alice, bob := addAliceAndBob(nodes[0])
	nodes[0].runScript("mobile.py", []account{alice, bob}, "--scenario", "pool_resume", "--other-port", strconv.Itoa(nodes[1].c2s))
}
