package sip

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// subscriber sends SUBSCRIBEs for a user from a client whose contact is
// a uas, answering each 407 challenge with MD5 digest.
type subscriber struct {
	c        *client
	phone    *uas
	user, pw string
	callID   string
	fromTag  string
	toTag    string // set by the first 200: the dialog's
	cseq     uint32
}

func newSubscriber(c *client, phone *uas, user, pw string) *subscriber {
	return &subscriber{c: c, phone: phone, user: user, pw: pw,
		callID: "sub-" + sip.GenerateTagN(12), fromTag: sip.GenerateTagN(8)}
}

func (s *subscriber) build(room string, extra ...string) *sip.Request {
	req := sip.NewRequest(sip.SUBSCRIBE, sip.Uri{Scheme: "sip", User: room, Host: "conference." + testDomain})
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: s.user, Host: testDomain}, Params: tagParams(s.fromTag)})
	to := &sip.ToHeader{Address: req.Recipient, Params: sip.NewParams()}
	if s.toTag != "" {
		to.Params.Add("tag", s.toTag)
	}
	req.AppendHeader(to)
	cid := sip.CallIDHeader(s.callID)
	req.AppendHeader(&cid)
	s.cseq++
	req.AppendHeader(&sip.CSeqHeader{SeqNo: s.cseq, MethodName: sip.SUBSCRIBE})
	req.AppendHeader(sip.NewHeader("Contact", s.phone.contact(s.user)))
	for _, h := range extra {
		name, value, _ := strings.Cut(h, ":")
		req.AppendHeader(sip.NewHeader(name, strings.TrimSpace(value)))
	}
	req.SetDestination(s.c.server)
	req.SetTransport("UDP")
	return req
}

// subscribe sends a SUBSCRIBE to room (in the dialog once there is one)
// with extra headers and returns the final response.
func (s *subscriber) subscribe(room string, extra ...string) *sip.Response {
	t := s.c.t
	t.Helper()
	res := s.c.do(s.build(room, extra...))
	if res.StatusCode != 407 {
		t.Fatalf("SUBSCRIBE without credentials: %s, want 407", res.StartLine())
	}
	var chal *digest.Challenge
	for _, h := range res.GetHeaders("Proxy-Authenticate") {
		if c, err := digest.ParseChallenge(h.Value()); err == nil && c.Algorithm == "MD5" {
			chal = c
		}
	}
	if chal == nil {
		t.Fatal("no MD5 Proxy-Authenticate")
	}
	req := s.build(room, extra...)
	cred, err := digest.Digest(chal, digest.Options{Method: "SUBSCRIBE", URI: req.Recipient.String(),
		Username: s.user, Password: s.pw, Count: 1, Cnonce: "feed"})
	if err != nil {
		t.Fatal(err)
	}
	req.AppendHeader(sip.NewHeader("Proxy-Authorization", cred.String()))
	res = s.c.do(req)
	if res.StatusCode == 200 && s.toTag == "" {
		s.toTag, _ = res.To().Params.Get("tag")
	}
	return res
}

// mustSubscribe subscribes to room, wanting 200, and returns the first
// NOTIFY.
func (s *subscriber) mustSubscribe(room string, extra ...string) notified {
	s.c.t.Helper()
	if res := s.subscribe(room, append([]string{"Event: conference"}, extra...)...); res.StatusCode != 200 {
		s.c.t.Fatalf("SUBSCRIBE %s: %s", room, res.StartLine())
	}
	return s.next()
}

// notified is one NOTIFY and its decoded body.
type notified struct {
	req   *sip.Request
	state string
	doc   confInfo
}

// next returns the next NOTIFY, checking it belongs to the dialog.
func (s *subscriber) next() notified {
	t := s.c.t
	t.Helper()
	select {
	case req := <-s.phone.notifies:
		n := notified{req: req}
		if h := req.GetHeader("Subscription-State"); h != nil {
			n.state = h.Value()
		}
		if ev := req.GetHeader("Event"); ev == nil || ev.Value() != "conference" {
			t.Errorf("NOTIFY Event %v, want conference", ev)
		}
		if req.CallID().Value() != s.callID {
			t.Errorf("NOTIFY Call-ID %q, want %q", req.CallID().Value(), s.callID)
		}
		if tag, _ := req.From().Params.Get("tag"); tag != s.toTag {
			t.Errorf("NOTIFY From tag %q, want the 200's To tag %q", tag, s.toTag)
		}
		if tag, _ := req.To().Params.Get("tag"); tag != s.fromTag {
			t.Errorf("NOTIFY To tag %q, want our From tag %q", tag, s.fromTag)
		}
		if len(req.Body()) > 0 {
			if ct := req.ContentType(); ct == nil || ct.Value() != confInfoContentType {
				t.Errorf("NOTIFY Content-Type %v", ct)
			}
			if err := xml.Unmarshal(req.Body(), &n.doc); err != nil {
				t.Fatalf("NOTIFY body %q: %v", req.Body(), err)
			}
		}
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("no NOTIFY")
		return notified{}
	}
}

func (n notified) users() map[string]confUser {
	out := map[string]confUser{}
	for _, u := range n.doc.Users.Users {
		out[u.DisplayText+"|"+u.Entity] = u
	}
	return out
}

func TestConferenceSubscription(t *testing.T) {
	ts, engine := newRoomServer(t)
	ctx := context.Background()
	// carol is in the plaza over XMPP.
	carol := make(recorder, 100)
	carolAddr := "carol@" + testDomain + "/xmpp"
	if err := engine.Join(ctx, muc.JoinRequest{Room: "plaza", Nick: "carol", User: "carol@" + testDomain,
		Session: muc.Session{Address: carolAddr, FrontDoor: "xmpp", Sink: carol}}); err != nil {
		t.Fatal(err)
	}
	phoneA, phoneB := newUAS(t), newUAS(t)
	ca, cb := newClient(t, ts.udp), newClient(t, ts.udp)
	if res := cb.registered("bob", "builder", "MD5", []string{phoneB.contact("bob")}, "Expires: 600"); res.StatusCode != 200 {
		t.Fatal(res.StartLine())
	}
	alice := newSubscriber(ca, phoneA, "alice", "wonderland")

	res := alice.subscribe("plaza", "Event: conference", "Expires: 600", "Accept: application/conference-info+xml")
	if res.StatusCode != 200 || alice.toTag == "" {
		t.Fatalf("SUBSCRIBE: %s, To tag %q", res.StartLine(), alice.toTag)
	}
	if h := res.GetHeader("Expires"); h == nil || h.Value() != "600" {
		t.Errorf("Expires %v, want 600", h)
	}
	n := alice.next()
	if n.doc.State != "full" || n.doc.Version != 1 || n.doc.Entity != "sip:plaza@conference."+testDomain ||
		!strings.HasPrefix(n.state, "active;expires=") {
		t.Errorf("first NOTIFY: %s version %d entity %s, %q", n.doc.State, n.doc.Version, n.doc.Entity, n.state)
	}
	u, ok := n.users()["carol|sip:carol@"+testDomain]
	if len(n.doc.Users.Users) != 1 || !ok || u.State != "full" || u.Endpoint == nil || u.Endpoint.Status != "connected" {
		t.Errorf("full roster %+v, want carol connected", n.doc.Users)
	}
	if cseq := n.req.CSeq().SeqNo; cseq != 1 {
		t.Errorf("first NOTIFY CSeq %d", cseq)
	}

	// A SIP occupant joins: a partial document, the next version.
	bob := &messenger{c: cb, user: "bob", pw: "builder"}
	if r := bob.send("plaza", "/join bobby"); r.StatusCode != 200 {
		t.Fatalf("/join: %s", r.StartLine())
	}
	n = alice.next()
	if u, ok := n.users()["bobby|sip:bob@"+testDomain]; n.doc.State != "partial" || n.doc.Version != 2 || !ok || u.State != "full" {
		t.Errorf("after bob joined: %s version %d %+v", n.doc.State, n.doc.Version, n.doc.Users)
	}
	if n.req.CSeq().SeqNo != 2 {
		t.Errorf("second NOTIFY CSeq %d, want 2", n.req.CSeq().SeqNo)
	}
	// A nick change, a leave.
	if r := bob.send("plaza", "/nick robert"); r.StatusCode != 200 {
		t.Fatalf("/nick: %s", r.StartLine())
	}
	n = alice.next()
	if u, ok := n.users()["robert|sip:bob@"+testDomain]; n.doc.Version != 3 || !ok || u.State != "partial" {
		t.Errorf("after the nick change: version %d %+v", n.doc.Version, n.doc.Users)
	}
	// A role change: bob becomes an admin, so a moderator.
	if err := engine.SetAffiliation(ctx, "plaza", muc.ActorAdmin, "bob@"+testDomain, muc.AffAdmin, ""); err != nil {
		t.Fatal(err)
	}
	n = alice.next()
	if u, ok := n.users()["|sip:bob@"+testDomain]; n.doc.Version != 4 || !ok || u.State != "partial" ||
		u.Roles == nil || len(u.Roles.Entry) != 1 || u.Roles.Entry[0] != "moderator" {
		t.Errorf("after bob's role changed: version %d %+v", n.doc.Version, n.doc.Users)
	}
	if err := engine.Leave(ctx, "plaza", carolAddr, nil); err != nil {
		t.Fatal(err)
	}
	n = alice.next()
	if u, ok := n.users()["|sip:carol@"+testDomain]; n.doc.Version != 5 || !ok || u.State != "deleted" {
		t.Errorf("after carol left: version %d %+v", n.doc.Version, n.doc.Users)
	}

	// A refresh gets the full roster again; an unsubscribe a last NOTIFY.
	if r := alice.subscribe("plaza", "Event: conference", "Expires: 300"); r.StatusCode != 200 {
		t.Fatalf("refresh: %s", r.StartLine())
	}
	n = alice.next()
	if _, ok := n.users()["robert|sip:bob@"+testDomain]; n.doc.State != "full" || n.doc.Version != 6 || len(n.doc.Users.Users) != 1 || !ok {
		t.Errorf("after the refresh: %s version %d %+v", n.doc.State, n.doc.Version, n.doc.Users)
	}
	if ts.srv.Subscriptions("alice") != 1 {
		t.Errorf("alice has %d subscriptions, want 1", ts.srv.Subscriptions("alice"))
	}
	if r := alice.subscribe("plaza", "Event: conference", "Expires: 0"); r.StatusCode != 200 {
		t.Fatalf("unsubscribe: %s", r.StartLine())
	}
	if n = alice.next(); !strings.HasPrefix(n.state, "terminated") {
		t.Errorf("last NOTIFY Subscription-State %q", n.state)
	}
	if ts.srv.Subscriptions("alice") != 0 {
		t.Errorf("alice has %d subscriptions after unsubscribing", ts.srv.Subscriptions("alice"))
	}
	// Nothing more comes, and the dialog is gone.
	if r := bob.send("plaza", "/leave"); r.StatusCode != 200 {
		t.Fatalf("/leave: %s", r.StartLine())
	}
	select {
	case req := <-phoneA.notifies:
		t.Errorf("NOTIFY after the unsubscribe: %q", req.Body())
	case <-time.After(300 * time.Millisecond):
	}
	if r := alice.subscribe("plaza", "Event: conference"); r.StatusCode != 481 {
		t.Errorf("SUBSCRIBE in an ended dialog: %s, want 481", r.StartLine())
	}
}

func TestConferenceSubscriptionRefusals(t *testing.T) {
	ts, _ := newRoomServerWith(t, Config{MaxSubscriptions: 2})
	phone := newUAS(t)
	c := newClient(t, ts.udp)
	sub := func(room string, extra ...string) *sip.Response {
		t.Helper()
		return newSubscriber(c, phone, "alice", "wonderland").subscribe(room, extra...)
	}
	for _, tc := range []struct {
		name  string
		room  string
		extra []string
		want  int
	}{
		{"another event package", "lobby", []string{"Event: presence"}, 489},
		{"no Event", "lobby", nil, 489},
		{"unknown room", "nosuch", []string{"Event: conference"}, 404},
		{"closed room, not a member", "board", []string{"Event: conference"}, 403},
		{"too brief", "lobby", []string{"Event: conference", "Expires: 5"}, 423},
		{"bad Expires", "lobby", []string{"Event: conference", "Expires: soon"}, 400},
		{"not acceptable", "lobby", []string{"Event: conference", "Accept: application/pidf+xml"}, 406},
	} {
		res := sub(tc.room, tc.extra...)
		if res.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d", tc.name, res.StartLine(), tc.want)
		}
		switch tc.want {
		case 489:
			if h := res.GetHeader("Allow-Events"); h == nil || h.Value() != "conference" {
				t.Errorf("%s: Allow-Events %v", tc.name, h)
			}
		case 423:
			if h := res.GetHeader("Min-Expires"); h == nil || h.Value() != "60" {
				t.Errorf("%s: Min-Expires %v", tc.name, h)
			}
		}
	}
	select {
	case req := <-phone.notifies:
		t.Errorf("NOTIFY after a refused SUBSCRIBE: %q", req.Body())
	case <-time.After(200 * time.Millisecond):
	}
	// The per-user limit.
	for i := range 2 {
		if res := sub("lobby", "Event: conference"); res.StatusCode != 200 {
			t.Fatalf("subscription %d: %s", i+1, res.StartLine())
		}
	}
	if res := sub("lobby", "Event: conference"); res.StatusCode != 403 {
		t.Errorf("subscription over the limit: %s, want 403", res.StartLine())
	}
	// An unknown dialog.
	s := newSubscriber(c, phone, "alice", "wonderland")
	s.toTag = "nosuchtag"
	if res := s.subscribe("lobby", "Event: conference"); res.StatusCode != 481 {
		t.Errorf("SUBSCRIBE in an unknown dialog: %s, want 481", res.StartLine())
	}
}

func TestConferenceSubscriptionEnds(t *testing.T) {
	ts, engine := newRoomServerWith(t, Config{MinExpires: time.Second})
	ctx := context.Background()
	// In the lobby real addresses are for moderators: entities are the
	// occupant ids.
	carol := make(recorder, 100)
	if err := engine.Join(ctx, muc.JoinRequest{Room: "lobby", Nick: "carol", User: "carol@" + testDomain,
		Session: muc.Session{Address: "carol@" + testDomain + "/xmpp", FrontDoor: "xmpp", Sink: carol}}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, ts.udp)
	phone := newUAS(t)

	// A fetch (Expires: 0): one NOTIFY, terminated, with the roster.
	fetch := newSubscriber(c, phone, "alice", "wonderland")
	if res := fetch.subscribe("lobby", "Event: conference", "Expires: 0"); res.StatusCode != 200 {
		t.Fatalf("fetch: %s", res.StartLine())
	}
	n := fetch.next()
	wantEntity := "sip:lobby@conference." + testDomain + ";occupant=" + engine.OccupantID("lobby", "carol@"+testDomain)
	if !strings.HasPrefix(n.state, "terminated") || len(n.doc.Users.Users) != 1 || n.doc.Users.Users[0].Entity != wantEntity {
		t.Errorf("fetch NOTIFY %q %+v, want carol as %s", n.state, n.doc.Users, wantEntity)
	}
	if strings.Contains(string(n.req.Body()), "carol@") {
		t.Errorf("the lobby hides addresses, the roster shows one: %s", n.req.Body())
	}
	if ts.srv.Subscriptions("alice") != 0 {
		t.Errorf("a fetch left a subscription")
	}

	// Expiry: a terminated NOTIFY with reason=timeout.
	short := newSubscriber(c, phone, "alice", "wonderland")
	if res := short.subscribe("lobby", "Event: conference", "Expires: 1"); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE: %s", res.StartLine())
	}
	if n := short.next(); n.state != "active;expires=1" {
		t.Errorf("first NOTIFY state %q", n.state)
	}
	if n := short.next(); n.state != "terminated;reason=timeout" {
		t.Errorf("NOTIFY at expiry %q", n.state)
	}

	// The room goes: terminated with reason=noresource.
	long := newSubscriber(c, phone, "alice", "wonderland")
	long.mustSubscribe("lobby")
	if err := engine.Destroy(ctx, muc.ActorAdmin, "lobby", "closing", ""); err != nil {
		t.Fatal(err)
	}
	if n := long.next(); n.state != "terminated;reason=noresource" {
		t.Errorf("NOTIFY when the room went %q", n.state)
	}
	if ts.srv.Subscriptions("alice") != 0 {
		t.Errorf("alice has %d subscriptions left", ts.srv.Subscriptions("alice"))
	}
}

// TestConferenceSubscriptionRouteSet: NOTIFYs follow the route set of the
// SUBSCRIBE's Record-Route (RFC 3261 §12.1.1, loose routing): they go to
// the first route, carrying the Route headers, with the Contact as
// Request-URI.
func TestConferenceSubscriptionRouteSet(t *testing.T) {
	ts, _ := newRoomServer(t)
	proxy := newUAS(t) // stands in for the proxy that recorded the route
	phone := newUAS(t) // the subscriber's Contact, reached through the proxy
	s := newSubscriber(newClient(t, ts.udp), phone, "alice", "wonderland")
	route := "<sip:" + proxy.conn.LocalAddr().String() + ";lr>"
	res := s.subscribe("lobby", "Event: conference", "Record-Route: "+route+", <sip:second.invalid;lr>")
	if res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE: %s", res.StartLine())
	}
	s.phone = proxy
	n := s.next()
	select {
	case req := <-phone.notifies:
		t.Errorf("a NOTIFY went around the route set, to the Contact: %s", req.StartLine())
	default:
	}
	var routes []string
	for _, h := range n.req.GetHeaders("Route") {
		routes = append(routes, h.Value())
	}
	if strings.Join(routes, ", ") != route+", <sip:second.invalid;lr>" {
		t.Errorf("NOTIFY Route %q, want the recorded route set", routes)
	}
	if got, want := n.req.Recipient.String(), "sip:alice@"+phone.conn.LocalAddr().String(); got != want {
		t.Errorf("NOTIFY Request-URI %s, want the Contact %s", got, want)
	}
}

// TestConferenceSubscriptionRechecked: the housekeeping ends a
// subscription whose subscriber may no longer see the room (rejected), or
// whose room stopped showing real addresses (deactivated: subscribe again
// for the roster in the new form).
func TestConferenceSubscriptionRechecked(t *testing.T) {
	ts, engine := newRoomServer(t)
	ctx := context.Background()
	c := newClient(t, ts.udp)
	phone := newUAS(t)
	lobby := newSubscriber(c, phone, "alice", "wonderland")
	lobby.mustSubscribe("lobby")
	ts.srv.recheckSubscriptions(ctx) // nothing changed: nothing sent
	select {
	case req := <-phone.notifies:
		t.Fatalf("NOTIFY without a change: %q", req.GetHeader("Subscription-State"))
	case <-time.After(200 * time.Millisecond):
	}
	// The lobby becomes members-only, alice is no member.
	if _, err := engine.Configure(ctx, muc.ActorAdmin, "lobby", func(r *storage.Room) error {
		muc.SetPrivacy(r, muc.Closed)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ts.srv.recheckSubscriptions(ctx)
	if n := lobby.next(); n.state != "terminated;reason=rejected" {
		t.Errorf("after the lobby closed: %q", n.state)
	}

	plaza := newSubscriber(c, phone, "alice", "wonderland")
	plaza.mustSubscribe("plaza")
	if _, err := engine.Configure(ctx, muc.ActorAdmin, "plaza", func(r *storage.Room) error {
		r.WhoIs = "moderators"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ts.srv.recheckSubscriptions(ctx)
	if n := plaza.next(); n.state != "terminated;reason=deactivated" {
		t.Errorf("after the plaza hid addresses: %q", n.state)
	}
	if ts.srv.Subscriptions("alice") != 0 {
		t.Errorf("alice has %d subscriptions left", ts.srv.Subscriptions("alice"))
	}
}
