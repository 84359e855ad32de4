package xmpp

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/parleychat/parley/muc"
)

// discoFeatures asks an entity's disco#info over the socket and returns
// its features.
func discoFeatures(t *testing.T, c *testClient, to string) []string {
	t.Helper()
	id := "info-" + randomID(4)
	c.send(`<iq type='get' id='%s' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, id, to)
	reply := c.expect("disco#info on "+to, isIQ(id))
	q := reply.Child(nsDiscoInfo, "query")
	if reply.AttrValue("type") != "result" || q == nil {
		t.Fatalf("disco#info on %s: %s", to, reply)
	}
	var out []string
	for _, f := range q.Elements() {
		if f.Name.Local == "feature" {
			out = append(out, f.AttrValue("var"))
		}
	}
	return out
}

// Disco is generated from the mux (XEP-0030 §3.1): what each entity says
// over the wire is exactly what the handlers registered at it advertise
// (plus a room's muc_ configuration features); every advertised protocol
// has a handler that answers it; and every handler registered on a
// protocol's namespace is advertised where it is registered, or its
// registration says why not.
func TestDiscoFromRegistrations(t *testing.T) {
	ts, _ := startUploadServer(t)
	ts.addUser(t, "alice", "secret")
	alice := ts.online(t, "alice", "secret", "desk")
	ts.createRoom(t, "lobby", muc.Open, muc.Normal, nil, nil, nil)
	join(t, alice, "lobby@conference.localhost", "al", "")
	mx := ts.srv.mux

	address := map[addressee]string{
		toServer:        "localhost",
		toAccount:       "alice@localhost",
		toMUCService:    "conference.localhost",
		toRoom:          "lobby@conference.localhost",
		toUploadService: "upload.localhost",
	}
	for at := range mx.entities {
		if address[at] == "" {
			t.Fatalf("the test does not know an address for the %s entity", at)
		}
	}
	// The addressees an entity speaks for: a service's disco covers its
	// rooms and their occupants.
	covers := map[addressee][]addressee{
		toServer: {toServer}, toAccount: {toAccount}, toUploadService: {toUploadService},
		toMUCService: {toMUCService, toRoom, toOccupant}, toRoom: {toRoom, toOccupant},
	}
	// The namespaces handlers are registered on, anywhere.
	routed := map[string]bool{}
	for _, reg := range mx.order {
		if reg.route.payload.Space != "" {
			routed[reg.route.payload.Space] = true
		}
	}

	for at, to := range address {
		wire := discoFeatures(t, alice, to)
		var table []string
		for _, f := range wire {
			if !(at == toRoom && strings.HasPrefix(f, "muc_")) { // room state (XEP-0045 §6.4)
				table = append(table, f)
			}
		}
		if want := mx.features(at); !slices.Equal(table, want) {
			t.Errorf("%s (%s) advertises %v; its registrations advertise %v", at, to, table, want)
		}
		for _, f := range table {
			if !routed[f] {
				continue // a behaviour, not a protocol (msgoffline, stanza-id…)
			}
			handled := false
			for _, a := range covers[at] {
				for _, reg := range mx.routesTo(a) {
					handled = handled || reg.route.payload.Space == f
				}
			}
			// A feature another addressee's handler implements and says
			// so (advertiseAt: carbons and blocking are the server's
			// features, XEP-0280 §3, XEP-0191 §2, taken on the account).
			for _, reg := range mx.order {
				handled = handled || reg.route.payload.Space == f && slices.Contains(reg.features, discoFeature{at, f})
			}
			if !handled {
				t.Errorf("%s advertises %s, which no handler at it takes", at, f)
			}
		}
		for _, reg := range mx.routesTo(at) {
			ns := reg.route.payload.Space
			advertisedElsewhere := false
			for _, f := range reg.features {
				advertisedElsewhere = advertisedElsewhere || f.name == ns && f.at != at
			}
			if ns != "" && reg.unadvertised == "" && !advertisedElsewhere && !slices.Contains(wire, ns) {
				t.Errorf("%s is registered but %s does not advertise %s", reg.route, to, ns)
			}
		}
		// An advertised protocol with a get handler answers a get: a
		// result or a refusal by the handler, never the mux's
		// service-unavailable for what no one handles.
		for _, reg := range mx.routesTo(at) {
			rt := reg.route
			if rt.kind != "iq" || rt.typ != "get" || !slices.Contains(wire, rt.payload.Space) {
				continue
			}
			id := "get-" + randomID(4)
			alice.send(`<iq type='get' id='%s' to='%s'><%s xmlns='%s'/></iq>`, id, to, rt.payload.Local, rt.payload.Space)
			if reply := alice.expect(rt.String(), isIQ(id)); stanzaCondition(reply) == "cancel/service-unavailable" {
				t.Errorf("%s: %s", rt, reply)
			}
		}
	}
}

// A feature file that registers a route twice, or a route the mux cannot
// match, stops the server at start-up (NewServer returns mux.err()).
func TestMuxRefusesBadRegistrations(t *testing.T) {
	s := &Server{cfg: Config{Domain: "localhost"}, mux: newMux()}
	s.registerPing()
	s.registerVersion()
	if err := s.mux.err(); err != nil {
		t.Fatalf("first registrations: %v", err)
	}
	s.registerPing()
	answer := func(context.Context, *request) (*Element, error) { return nil, nil }
	take := func(context.Context, *request) error { return nil }
	s.mux.iq(toServer, "result", nsPing, "ping", answer, advertise(nsPing))
	s.mux.stanza(toRoom, "message", "chatty", "", "", take, unadvertised("test"))
	s.mux.stanza(toRoom, "hello", anyType, "", "", take, unadvertised("test"))
	s.mux.iq(toServer, "get", "urn:example:quiet", "query", answer)
	err := s.mux.err()
	if err == nil {
		t.Fatal("bad registrations accepted")
	}
	for _, want := range []string{
		"two handlers for iq get {urn:xmpp:ping}ping to server",
		"two handlers for iq get {urn:xmpp:ping}ping to account",
		`answers get or set, not "result"`,
		"unknown type in message chatty",
		"unknown stanza kind in hello",
		"{urn:example:quiet}query to server advertises no disco feature and does not say why",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	// A feature advertised where no disco entity answers would be lost.
	s = &Server{cfg: Config{Domain: "localhost"}, mux: newMux()}
	s.mux.iq(toOccupant, "get", nsPing, "ping", answer, advertise(nsPing))
	s.registerDisco()
	if err := s.mux.err(); err == nil || !strings.Contains(err.Error(), "which no disco entity answers for") {
		t.Errorf("feature at an occupant: %v", err)
	}
}

// The mux matches the type before the payload: a groupchat message that
// carries a muc#user <x/> is a post, the same <x/> in a normal message a
// mediated invitation (XEP-0045 §7.8.2); an IQ's payload picks its handler,
// and a route for any payload takes the rest.
func TestMuxLookupOrder(t *testing.T) {
	m := newMux()
	var got string
	handler := func(name string) stanzaHandler {
		return func(context.Context, *request) error { got = name; return nil }
	}
	why := unadvertised("test")
	m.stanza(toRoom, "message", "groupchat", "", "", handler("post"), why)
	m.stanza(toRoom, "message", anyType, nsMUCUser, "x", handler("invitation"), why)
	m.stanza(toRoom, "message", anyType, "", "", handler("other"), why)
	m.stanza(toOccupant, "iq", "get", nsPing, "ping", handler("self-ping"), why)
	m.stanza(toOccupant, "iq", anyType, "", "", handler("relay"), why)
	if err := m.err(); err != nil {
		t.Fatal(err)
	}
	withX := func(typ string) *Element {
		return NewElement(nsClient, "message", "type", typ).Append(
			NewElement(nsClient, "body").AppendText("hi"), NewElement(nsMUCUser, "x"))
	}
	for _, c := range []struct {
		kind, typ string
		el        *Element
		at        addressee
		want      string
	}{
		{"message", "groupchat", withX("groupchat"), toRoom, "post"},
		{"message", "normal", withX("normal"), toRoom, "invitation"},
		{"message", "chat", NewElement(nsClient, "message"), toRoom, "other"},
		{"iq", "get", NewElement(nsClient, "iq").Append(NewElement(nsPing, "ping")), toOccupant, "self-ping"},
		{"iq", "set", NewElement(nsClient, "iq").Append(NewElement(nsPing, "ping")), toOccupant, "relay"},
		{"iq", "get", NewElement(nsClient, "iq").Append(NewElement(nsVersion, "query")), toOccupant, "relay"},
		{"iq", "result", NewElement(nsClient, "iq"), toOccupant, "relay"},
	} {
		got = "none"
		if reg, _ := m.lookup(c.kind, c.typ, c.el, c.at); reg != nil {
			_ = reg.take(context.Background(), nil)
		}
		if got != c.want {
			t.Errorf("%s %s %s to %s: handled by %s, want %s", c.kind, c.typ, c.el, c.at, got, c.want)
		}
	}
	if reg, _ := m.lookup("presence", "available", NewElement(nsClient, "presence"), toRoom); reg != nil {
		t.Errorf("presence to a room found %s", reg.route)
	}
}
