package interop

import (
	"path/filepath"
	"testing"
	"time"
)

// TestSippPostsToRoomSeenBySlixmpp: a SIP user in pager mode (sipp) and an
// XMPP occupant (slixmpp) in the same room. sipp REGISTERs alice, sends
// MESSAGE "/join" to sip:lobby@conference.DOMAIN and then a post, each
// answering the 407 challenge with MD5 digest; bob, in the room over XMPP,
// must get the post live from alice's nick with the room's stanza-id, and
// find it once in the room's MAM archive under that id.
func TestSippPostsToRoomSeenBySlixmpp(t *testing.T) {
	sipp := requireSipp(t)
	requireSlixmpp(t)
	t.Parallel()
	const (
		room = "lobby"
		body = "hello from sipp"
	)
	alice := account{"alice", "wonderland"}
	bob := account{"bob", "b0b-s3cret"}
	s := newServer(t, "")
	// sipp 3.6 answers only MD5 and only the first challenge it sees.
	s.args = []string{"--sip-digest", "MD5,SHA-256"}
	s.start()
	s.addUser(alice.name, alice.password)
	s.addUser(bob.name, bob.password)
	s.mustCtl("room", "create", room, "--privacy", "open")

	ready := filepath.Join(s.dir, "sip_room.ready")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runScript("sip_room.py", []account{bob}, "--state", ready,
			"--room", room, "--nick", alice.name, "--body", body)
	}()
	deadline := time.After(30 * time.Second)
	for !fileExists(ready) {
		select {
		case <-done:
			t.Fatalf("sip_room.py ended before bob was in %s", room)
		case <-deadline:
			<-done
			t.Fatalf("sip_room.py: bob was not in %s within 30s", room)
		case <-time.After(20 * time.Millisecond):
		}
	}

	// sipRoomPost fails the test with t.Fatalf, which must not happen while the script's
	// goroutine may still log: wait for it first on the way out.
	ok := false
	defer func() {
		if !ok {
			<-done
		}
	}()
	s.sipRoomPost(sipp, alice, room, body)
	ok = true
	<-done
}
