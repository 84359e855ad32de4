package interop

import "testing"

// slixmpp (Debian python3-slixmpp 1.8) against a freshly started parleyd,
// on SQLite and on MySQL. Each scenario is a script in testdata/ that
// prints one line per step; see the scripts for what they check.

var (
	alice = account{"alice", "alice-s3cret"}
	// A non-ASCII password exercises SASLprep on both sides of SCRAM.
	bob = account{"bob", "b0b-pässwörd"}
)

// backend is a storage the server runs on: the --storage value to use,
// "" for the SQLite default under --data.
type backend struct {
	name    string
	storage func(t *testing.T) string
}

var backends = []backend{
	{"sqlite", func(*testing.T) string { return "" }},
	{"mysql", mysqlStorage},
}

func TestSlixmpp(t *testing.T) {
	requireSlixmpp(t)
	binaries(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("chat_offline_roster_ping", func(t *testing.T) {
				t.Parallel()
				testChatOfflineRosterPing(t, b)
			})
			t.Run("restart", func(t *testing.T) {
				t.Parallel()
				testRestart(t, b)
			})
		})
	}
}

// testChatOfflineRosterPing: two users over STARTTLS with SCRAM-SHA-256
// chat both ways; roster add and the subscription handshake both ways; one
// goes offline, gets a message at next login with a XEP-0203 delay;
// ping, disco#info and version on the server; a login over direct TLS.
// The accounts are created while the server runs.
func testChatOfflineRosterPing(t *testing.T, b backend) {
	s := newServer(t, b.storage(t))
	s.start()
	s.addUser(alice.name, alice.password)
	s.addUser(bob.name, bob.password)
	s.runScript("chat_offline_roster_ping.py", []account{alice, bob})
}

// testRestart: alice adds bob to her roster, asks to subscribe and leaves
// him a message; parleyd is stopped with SIGTERM and started again on the
// same data; alice can still log in and has her roster item, and bob gets
// the message and the subscription request.
func testRestart(t *testing.T, b backend) {
	s := newServer(t, b.storage(t))
	s.addUser(alice.name, alice.password) // before the first start
	s.start()
	s.addUser(bob.name, bob.password) // while it runs
	s.runScript("restart.py", []account{alice, bob}, "--phase", "before")
	if t.Failed() {
		return
	}
	s.stop()
	s.start()
	s.runScript("restart.py", []account{alice, bob}, "--phase", "after")
}
