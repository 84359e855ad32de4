package interop

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// slixmpp's MUC, MAM and RSM plugins (xep_0045, xep_0313, xep_0059, with
// xep_0030 and xep_0004) against parleyd's rooms at conference.DOMAIN, on
// SQLite and on MySQL. Each scenario is a phase of testdata/muc.py, run
// against its own freshly started server; see the script for the steps.

var (
	roomOwner  = account{"owner", "0wner-s3cret"}
	roomMember = account{"member", "m3mber-s3cret"}
	outsider   = account{"outsider", "0utsider-s3cret"}
	mucUsers   = []account{roomOwner, roomMember, outsider}
)

func TestSlixmppMUC(t *testing.T) {
	requireSlixmpp(t)
	binaries(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("create_history_mam_search", func(t *testing.T) {
				t.Parallel()
				testMUCRoom(t, b)
			})
			t.Run("kick_ban", func(t *testing.T) {
				t.Parallel()
				testMUCKickBan(t, b)
			})
			t.Run("closed_secret_auditorium", func(t *testing.T) {
				t.Parallel()
				testMUCAccess(t, b)
			})
			t.Run("restart", func(t *testing.T) {
				t.Parallel()
				testMUCRestart(t, b)
			})
			t.Run("shutdown_332", func(t *testing.T) {
				t.Parallel()
				testMUCShutdown(t, b)
			})
			t.Run("presence_broadcast", func(t *testing.T) {
				t.Parallel()
				testMUCPresenceBroadcast(t, b)
			})
		})
	}
}

// mucServer starts a fresh parleyd with the owner, member and outsider
// accounts.
func mucServer(t *testing.T, b backend) *server {
	s := newServer(t, b.storage(t))
	s.start()
	for _, u := range mucUsers {
		s.addUser(u.name, u.password)
	}
	return s
}

// testMUCRoom: the owner creates a room by joining (locked until
// configured), configures it with the muc#roomconfig form, adds the member
// with the admin IQ and sets the subject; the outsider is refused; the
// member joins with history then subject; posts both ways carry stanza-id,
// origin-id and occupant-id; MAM pages backwards and forwards over 37
// posts; full-text search finds one of them; MAM with/start; rejoins with
// default, zero and since history; concurrent posts keep one order.
func testMUCRoom(t *testing.T, b backend) {
	s := mucServer(t, b)
	s.runScript("muc.py", mucUsers, "--phase", "room")
}

// testMUCKickBan: in a room the owner opened, a nick change (303), an
// affiliation change of an occupant who stays (no 321), kick (307) and
// rejoin, XEP-0410 self-ping, XEP-0425 moderation, ban (301) and refused
// rejoin (forbidden).
func testMUCKickBan(t *testing.T, b backend) {
	s := mucServer(t, b)
	s.runScript("muc.py", mucUsers, "--phase", "kick_ban")
}

// testMUCAccess: rooms made with parleyctl — closed, secret, an auditorium,
// and one in a category whose ethical wall denies the outsider — and what
// each lets the three users see and do.
func testMUCAccess(t *testing.T, b backend) {
	s := mucServer(t, b)
	s.mustCtl("room", "create", "lobby", "--privacy", "closed", "--members", roomMember.name,
		"--title", "Lobby", "--subject", "Welcome to the lobby")
	s.mustCtl("room", "create", "vault", "--privacy", "secret", "--members", roomMember.name,
		"--title", "Vault")
	s.mustCtl("room", "create", "stage", "--privacy", "open", "--type", "auditorium",
		"--presenters", roomOwner.name, "--members", roomMember.name, "--subject", "Keynote at ten")
	s.mustCtl("category", "add", "walled", "--deny", outsider.name)
	s.mustCtl("room", "create", "deals", "--category", "walled", "--managers", roomOwner.name,
		"--members", roomMember.name)
	// The wall holds on the command line too.
	out, err := s.ctl("room", "members", "add", "deals", outsider.name)
	if err == nil {
		t.Errorf("parleyctl room members add deals %s (denied by the category) succeeded: %s", outsider.name, out)
	} else if !strings.Contains(out, outsider.name) {
		t.Errorf("parleyctl room members add deals %s: the error does not name the user: %s", outsider.name, out)
	} else {
		t.Logf("parleyctl refuses a walled-off member, as it should: %s", out)
	}
	s.runScript("muc.py", mucUsers, "--phase", "access")
}

// testMUCRestart: a room created and configured over XMPP, its member,
// subject and posts; parleyd is stopped with SIGTERM and started again on
// the same storage; everything is there and MAM returns it in order.
func testMUCRestart(t *testing.T, b backend) {
	s := mucServer(t, b)
	state := filepath.Join(s.dir, "muc-restart.json")
	s.runScript("muc.py", mucUsers, "--phase", "restart-before", "--state", state)
	if t.Failed() {
		return
	}
	s.stop()
	s.start()
	if out := s.mustCtl("room", "show", "archive"); !strings.Contains(out, roomMember.name) {
		t.Errorf("parleyctl room show archive after the restart does not list %s:\n%s", roomMember.name, out)
	}
	s.runScript("muc.py", mucUsers, "--phase", "restart-after", "--state", state)
}

// testMUCShutdown: the owner and the member are in a room when parleyd is
// stopped with SIGTERM; each must be told it leaves the room because the
// service shuts down (XEP-0045 status 332) before its stream ends.
func testMUCShutdown(t *testing.T, b backend) {
	s := mucServer(t, b)
	ready := filepath.Join(s.dir, "muc-shutdown.ready")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runScript("muc.py", mucUsers, "--phase", "shutdown", "--state", ready)
	}()
	deadline := time.After(30 * time.Second)
	for !fileExists(ready) {
		select {
		case <-done:
			t.Errorf("muc.py --phase shutdown ended before it was ready for the SIGTERM")
			return
		case <-deadline:
			t.Errorf("muc.py --phase shutdown was not ready for the SIGTERM within 30s")
			<-done
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.stop()
	<-done
}

// testMUCPresenceBroadcast: the owner sets muc#roomconfig_presencebroadcast
// to moderator with slixmpp's own form handling; the member and the
// outsider are shown the owner only, nobody is sent their joins, a
// participant still posts, and a member made a moderator is seen.
func testMUCPresenceBroadcast(t *testing.T, b backend) {
	s := mucServer(t, b)
	s.runScript("muc.py", mucUsers, "--phase", "presence_broadcast")
}
