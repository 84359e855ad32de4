package interop

import (
	"path/filepath"
	"testing"
	"time"
)

// 1:1 messages between baresip and slixmpp through parleyd (issue 4 item
// 5 and its third acceptance line; RFC 7572).

// waitFile waits until path exists or the script's done closes.
func waitFile(t *testing.T, path string, done <-chan struct{}, what string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !fileExists(path) {
		select {
		case <-done:
			t.Fatalf("the script ended before %s", what)
		case <-deadline:
			<-done
			t.Fatalf("no %s within 30s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// imServer starts parleyd with its default digest offer (no --sip-digest:
// baresip 1.0 must work with it) and alice and bob, on SQLite.
func imServer(t *testing.T) (s *server, alice, bob account) {
	return imServerOn(t, "")
}

// imServerOn is imServer on the given --storage ("" for SQLite).
func imServerOn(t *testing.T, storage string) (s *server, alice, bob account) {
	s = newServer(t, storage)
	s.start()
	alice, bob = addAliceAndBob(s)
	return s, alice, bob
}

// addAliceAndBob creates the accounts the baresip tests use.
func addAliceAndBob(s *server) (alice, bob account) {
	alice = account{"alice", "wonderland"}
	bob = account{"bob", "b0b-s3cret"}
	s.addUser(alice.name, alice.password)
	s.addUser(bob.name, bob.password)
	return alice, bob
}

// TestBaresipMessagesSlixmppUser: a MESSAGE from baresip (alice) to
// sip:bob@DOMAIN arrives in bob's slixmpp client as a chat message from
// alice@DOMAIN, and bob's reply arrives back in baresip as a MESSAGE from
// sip:bob@DOMAIN.
func TestBaresipMessagesSlixmppUser(t *testing.T) {
	bin := requireBaresip(t)
	requireSlixmpp(t)
	t.Parallel()
	s, alice, bob := imServer(t)
	baresipMessagesSlixmpp(t, bin, s, s, alice, bob, "hello bob, this is baresip", "hello alice, this is slixmpp")
}

// baresipMessagesSlixmpp runs that exchange with bob's slixmpp client on
// xmppNode and alice's baresip registered on sipNode (the same server, or
// two nodes of a pool).
func baresipMessagesSlixmpp(t *testing.T, bin string, xmppNode, sipNode *server, alice, bob account, body, reply string) {
	t.Helper()
	ready := filepath.Join(xmppNode.dir, "im.ready")
	done := make(chan struct{})
	go func() {
		defer close(done)
		xmppNode.runScript("sip_im.py", []account{bob}, "--phase", "reply", "--state", ready,
			"--peer", alice.name, "--body", body, "--reply", reply)
	}()
	ok := false
	defer func() {
		if !ok {
			<-done
		}
	}()
	waitFile(t, ready, done, "bob online")
	b := startBaresip(t, sipNode, bin, alice, "sip:bob@"+domain)
	mark := b.mark()
	b.command("/message " + body)
	got := b.waitPrinted(mark, incoming("sip:bob@"+domain, reply), "bob's reply")
	t.Logf("baresip printed: %q", got)
	ok = true
	<-done
}

// TestBaresipGetsStoredMessageOnRegister: bob (slixmpp) writes to alice
// while she has neither an XMPP session nor a SIP contact; the message is
// stored (no error), and baresip gets it as soon as it registers as alice.
// On SQLite and MariaDB (the offline store is storage's).
func TestBaresipGetsStoredMessageOnRegister(t *testing.T) {
	bin := requireBaresip(t)
	requireSlixmpp(t)
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		storedOnRegister(t, bin, "")
	})
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		storedOnRegister(t, bin, mysqlStorage(t))
	})
}

func storedOnRegister(t *testing.T, bin, storage string) {
	const body = "stored for alice while she was away"
	s, alice, bob := imServerOn(t, storage)
	s.runScript("sip_im.py", []account{bob}, "--phase", "offline", "--peer", alice.name, "--body", body)
	if t.Failed() {
		return
	}
	b := startBaresip(t, s, bin, alice, "sip:bob@"+domain)
	b.waitPrinted(0, incoming("sip:bob@"+domain, body), "the stored message after REGISTER")
}

// TestBaresipMessageStoredForOfflineUser: baresip writes to bob, who has
// neither an XMPP session nor a SIP contact; parleyd answers 202 (seen
// in baresip's SIP trace) and bob's slixmpp client gets the message with
// a delay stamp when he logs in.
func TestBaresipMessageStoredForOfflineUser(t *testing.T) {
	bin := requireBaresip(t)
	requireSlixmpp(t)
	t.Parallel()
	const body = "for bob, when he is back"
	s, alice, bob := imServer(t)
	b := startBaresip(t, s, bin, alice, "sip:bob@"+domain)
	b.command("/message " + body)
	b.waitStdout("SIP/2.0 202 Accepted", "202 Accepted to the MESSAGE")
	s.runScript("sip_im.py", []account{bob}, "--phase", "stored", "--peer", alice.name, "--body", body)
}

// TestSlixmppMessageReachesBothEndpoints: bob has an XMPP session
// (slixmpp) and a SIP contact (baresip); alice's message to bob reaches
// both, as RFC 6121 §8.5.2.1.1 gives a message to all of a user's
// resources of the highest priority.
func TestSlixmppMessageReachesBothEndpoints(t *testing.T) {
	bin := requireBaresip(t)
	requireSlixmpp(t)
	t.Parallel()
	const body = "to bob, wherever he is"
	s, alice, bob := imServer(t)
	b := startBaresip(t, s, bin, bob, "sip:alice@"+domain)
	mark := b.mark()
	s.runScript("sip_im.py", []account{alice, bob}, "--phase", "both", "--body", body)
	b.waitPrinted(mark, incoming("sip:alice@"+domain, body), "alice's message on bob's SIP contact")
}

// TestBaresipPostsToRoom (issue 4 item 7): baresip registers with digest,
// joins a room in pager mode (/join to sip:ROOM@conference.DOMAIN) and
// posts; a slixmpp occupant reads the post and replies in the room, and
// baresip receives the reply from the room URI as "bob: REPLY".
func TestBaresipPostsToRoom(t *testing.T) {
	bin := requireBaresip(t)
	requireSlixmpp(t)
	t.Parallel()
	s, alice, bob := imServer(t)
	s.mustCtl("room", "create", "lobby", "--privacy", "open")
	baresipPostsToRoom(t, bin, s, s, alice, bob, "lobby", "hello room, this is baresip", "welcome, baresip")
}

// baresipPostsToRoom runs that exchange in room (which must exist, open)
// with bob's slixmpp client on xmppNode and alice's baresip registered on
// sipNode (the same server, or two nodes of a pool).
func baresipPostsToRoom(t *testing.T, bin string, xmppNode, sipNode *server, alice, bob account, room, body, reply string) {
	t.Helper()
	b, mark, done := baresipPostsToBob(t, bin, xmppNode, sipNode, alice, bob, room, body, reply)
	b.waitPrinted(mark, incoming("sip:"+room+"@conference."+domain, "bob: "+reply), "bob's reply in the room")
	<-done
}

// baresipPostsToBob starts that exchange: bob in room over slixmpp
// (sip_room_reply.py), alice's baresip joined, body posted. It returns
// alice's baresip, its cons mark before the post, and the script's end
// (which the test's clean-up waits for too).
func baresipPostsToBob(t *testing.T, bin string, xmppNode, sipNode *server, alice, bob account, room, body, reply string) (*baresip, int, <-chan struct{}) {
	t.Helper()
	roomURI := "sip:" + room + "@conference." + domain
	ready := filepath.Join(xmppNode.dir, "room.ready")
	done := make(chan struct{})
	go func() {
		defer close(done)
		xmppNode.runScript("sip_room_reply.py", []account{bob}, "--state", ready,
			"--room", room, "--nick", alice.name, "--body", body, "--reply", reply)
	}()
	t.Cleanup(func() { <-done })
	waitFile(t, ready, done, "bob in the room")
	b := startBaresip(t, sipNode, bin, alice, roomURI)
	mark := b.mark()
	b.command("/message /join")
	b.waitPrinted(mark, roomURI+": \"You joined "+room+" as "+alice.name+". Also here: bob.", "the answer to /join")
	mark = b.mark()
	b.command("/message " + body)
	return b, mark, done
}
