package sip

import (
	"context"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/parleychat/parley/muc"
)

// RFC 3261 §18.1.1 over real sockets: a request larger than 1300 bytes
// (less room for the sent-by) to a contact registered over UDP goes over
// TCP to the same address, with TCP in its top Via; a short one stays on
// UDP.

// viaTransport is the transport a request's top Via names.
func viaTransport(req *sip.Request) string {
	if via := req.Via(); via != nil {
		return via.Transport
	}
	return ""
}

func TestLongPostReachesUDPContactOverTCP(t *testing.T) {
	ts, engine := newRoomServer(t)
	ctx := context.Background()
	xmppOccupant(t, engine, "lobby", "carol", "carol")
	alice, phone := registerOverSIPWith(t, ts, newUASWithTCP(t), "alice", "wonderland", 600)
	if res := alice.send("lobby", "/join"); res.StatusCode != 200 {
		t.Fatalf("/join: %s", res.StartLine())
	}
	if req := phone.nextRequest("lobby"); viaTransport(req) != "UDP" {
		t.Errorf("the short /join answer came over %s, want UDP", viaTransport(req))
	}
	long := strings.Repeat("a long line of a long post. ", 80) // 2,240 bytes
	if _, err := engine.Post(ctx, muc.PostRequest{Room: "lobby", Address: "carol@" + testDomain + "/xmpp", FrontDoor: "xmpp", Body: long}); err != nil {
		t.Fatal(err)
	}
	req := phone.nextRequest("lobby")
	if viaTransport(req) != "TCP" || string(req.Body()) != "carol: "+long {
		t.Errorf("the long post came over %s with %d bytes, want TCP and all %d", viaTransport(req), len(req.Body()), len("carol: "+long))
	}
	if _, err := engine.Post(ctx, muc.PostRequest{Room: "lobby", Address: "carol@" + testDomain + "/xmpp", FrontDoor: "xmpp", Body: "short again"}); err != nil {
		t.Fatal(err)
	}
	if req := phone.nextRequest("lobby"); viaTransport(req) != "UDP" || string(req.Body()) != "carol: short again" {
		t.Errorf("the next short post: %q over %s, want UDP", req.Body(), viaTransport(req))
	}
}

// A conference NOTIFY listing several occupants is larger than a datagram
// may be: it goes over TCP, the subscription stays, and so it counts
// against the per-user limit (before, the NOTIFY failed, the subscription
// ended at once, and no limit ever applied).
func TestLargeConferenceNotifyOverTCP(t *testing.T) {
	ts, engine := newRoomServerWith(t, Config{MaxSubscriptions: 1})
	for _, nick := range []string{"carol", "dave", "erin", "frank"} {
		xmppOccupant(t, engine, "plaza", nick, nick)
	}
	phone := newUASWithTCP(t)
	alice := newSubscriber(newClient(t, ts.udp), phone, "alice", "wonderland")
	n := alice.mustSubscribe("plaza", "Expires: 600")
	if viaTransport(n.req) != "TCP" || len(n.doc.Users.Users) != 4 || !strings.HasPrefix(n.state, "active") {
		t.Errorf("first NOTIFY over %s with %d users, %q; want TCP, all 4, active", viaTransport(n.req), len(n.doc.Users.Users), n.state)
	}
	if len(n.req.String()) <= 1300 {
		t.Errorf("the NOTIFY is %d bytes: too small to show anything", len(n.req.String()))
	}
	// Still active: a second subscription is over the limit.
	other := newSubscriber(newClient(t, ts.udp), newUAS(t), "alice", "wonderland")
	if res := other.subscribe("lobby", "Event: conference"); res.StatusCode != 403 {
		t.Errorf("a second subscription with a limit of one: %s, want 403", res.StartLine())
	}
}
