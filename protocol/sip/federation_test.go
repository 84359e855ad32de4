package sip

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/parleychat/parley/muc"
)

// foreignMessage sends a MESSAGE from sip:from (a user of another domain,
// sent from the trusted 127.0.0.1) to room and returns the status.
func foreignMessage(t *testing.T, ts *testServer, from, room, body string) int {
	t.Helper()
	c := newClient(t, ts.udp)
	user, host, _ := strings.Cut(from, "@")
	to := sip.Uri{Scheme: "sip", User: room, Host: "conference." + testDomain}
	req := sip.NewRequest(sip.MESSAGE, to)
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: host}, Params: tagParams("f1")})
	req.AppendHeader(&sip.ToHeader{Address: to})
	req.AppendHeader(sip.NewHeader("Content-Type", "text/plain"))
	req.SetBody([]byte(body))
	req.SetDestination(ts.udp)
	req.SetTransport("UDP")
	return c.do(req).StatusCode
}

// A trusted peer's user is a room occupant (federation.go): after /join,
// the room's MESSAGEs to sip:carol@sipfed.test go to sipfed.test's server
// (Config.Routes), its posts are not echoed, and an XMPP occupant's post
// reaches it. eve of sipfed2.test, whose server refuses the room's
// MESSAGEs, is out of the room after the first refusal.
func TestForeignOccupant(t *testing.T) {
	fed, refusing := newUAS(t), newUAS(t)
	refusing.status = 480
	ts, engine := newRoomServerWith(t, Config{TrustedPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Routes: map[string]string{"sipfed.test": fed.conn.LocalAddr().String(), "sipfed2.test": refusing.conn.LocalAddr().String()}})
	xmpp := xmppOccupant(t, engine, "lobby", "bob", "bob")
	if got := foreignMessage(t, ts, "carol@sipfed.test", "lobby", "/join Carol"); got != 200 {
		t.Fatalf("carol's /join: %d", got)
	}
	if req := fed.nextRequest("lobby"); req.Recipient.String() != "sip:carol@sipfed.test" || !strings.HasPrefix(string(req.Body()), "You joined lobby as Carol.") {
		t.Errorf("carol's join answer: %s to %s", req.Body(), req.Recipient.String())
	}
	if o, in := engine.Occupant("lobby", "sip:carol@sipfed.test"); !in || o.User != "carol@sipfed.test" {
		t.Fatalf("carol in the lobby: %+v, %v", o, in)
	}
	if got := foreignMessage(t, ts, "carol@sipfed.test", "lobby", "hello from afar"); got != 200 {
		t.Fatalf("carol's post: %d", got)
	}
	xmpp.next(t, muc.EventMessage)
	if _, err := engine.Post(t.Context(), muc.PostRequest{Room: "lobby", Address: "bob@" + testDomain + "/xmpp", FrontDoor: "xmpp", Body: "welcome"}); err != nil {
		t.Fatal(err)
	}
	if req := fed.nextRequest("lobby"); string(req.Body()) != "bob: welcome" {
		t.Errorf("carol got %q, want bob's post (and not her own)", req.Body())
	}

	if got := foreignMessage(t, ts, "eve@sipfed2.test", "lobby", "/join"); got != 200 {
		t.Fatalf("eve's /join: %d", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, in := engine.Occupant("lobby", "sip:eve@sipfed2.test"); in; _, in = engine.Occupant("lobby", "sip:eve@sipfed2.test") {
		if time.Now().After(deadline) {
			t.Fatal("eve is still in the lobby after her server refused the room's MESSAGE")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if req := refusing.nextRequest("lobby"); !strings.HasPrefix(string(req.Body()), "You joined lobby as eve.") {
		t.Errorf("eve's server got %q", req.Body())
	}
	if got := foreignMessage(t, ts, "carol@sipfed.test", "lobby", "/leave"); got != 200 {
		t.Fatalf("carol's /leave: %d", got)
	}
	if _, in := engine.Occupant("lobby", "sip:carol@sipfed.test"); in {
		t.Error("carol is still in the lobby after /leave")
	}
}
