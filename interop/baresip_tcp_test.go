package interop

import (
	"strconv"
	"strings"
	"testing"
)

// TestBaresipGetsLongRoomPostOverTCP: RFC 3261 §18.1.1 with a user agent
// nobody here wrote. baresip registers over UDP and, as RFC 3261 §18.2.1
// asks of every UA, listens on TCP on the same port; bob's reply in the
// room, rendered for baresip, makes a MESSAGE of some 1,400 bytes: too
// large for a datagram, so parleyd sends it over TCP, and baresip answers
// it 200 there (its SIP trace shows both; baresip 1.0's cons prints no
// message longer than its 512-byte line buffer, so the trace is where to
// look). Before, sipgo refused to send it ("size of packet larger than
// MTU") and it never arrived.
func TestBaresipGetsLongRoomPostOverTCP(t *testing.T) {
	bin := requireBaresip(t)
	requireSlixmpp(t)
	t.Parallel()
	s, alice, bob := imServer(t)
	s.mustCtl("room", "create", "lobby", "--privacy", "open")
	reply := strings.TrimSpace(strings.Repeat("a long reply from bob, ", 45))
	b, _, done := baresipPostsToBob(t, bin, s, s, alice, bob, "lobby", "short hello from baresip", reply)
	<-done // bob posted his reply
	b.waitStdout("Via: SIP/2.0/TCP", "a MESSAGE over TCP in baresip's SIP trace")
	b.waitStdout("Content-Length: "+strconv.Itoa(len("bob: "+reply))+"\r\n\r\nbob: a long reply", "bob's reply, whole")
	b.waitStdout("SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP", "baresip's 200 over TCP")
}
