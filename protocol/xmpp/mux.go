package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/interop"
)

// The stanza mux: ONE table from what a stanza is — its kind, its type,
// its payload's {namespace}local and whom it is addressed to — to the
// handler for it, and ONE function, Server.dispatch, that looks it up.
// Each feature file registers its handlers in a register… function, with
// the service discovery features they implement (XEP-0030), so that disco
// is generated from the table and cannot say what no handler does (see
// disco.go). Handlers receive the stanza's origin, not a session, so a
// stanza that arrives from another server (an s2s link) or over another
// framing of a client session (WebSocket, BOSH) takes the same way in.
//
// Why not mellium.im/xmpp/mux (STYLE.md points at it, and its shape — IQ,
// Message and Presence registrations by type and payload name, a panic on
// a duplicate, disco features gathered from handlers — is the model here):
//
//   - Its handlers read the stanza as an xml token stream and write their
//     answer to that stream (xmlstream.TokenReadEncoder). Parley parses each
//     stanza once into an Element, answers through the origin's queue, and
//     serialises a room post once for all its recipients (muc_render.go);
//     going through mellium's mux would turn every stanza back into tokens
//     and answers into encoder calls, for nothing.
//   - It matches on kind, type and payload only. Parley routes first by
//     addressee: the same disco#info or ping payload means one thing to the
//     server, another to an account, a room, an occupant or the upload
//     service. With mellium that is one ServeMux per addressee plus a
//     router in front — three dispatchers again.
//   - It dispatches a message or presence to a handler per child element
//     (each child's payload, all of them called); Parley wants one handler
//     per stanza, picked by the first child that has a registration.
//   - Answers go back on the stream the stanza came in on. A stanza from an
//     s2s link is answered through that link, a relay goes to a third
//     party: Parley's handlers need an origin, which mellium's do not have.
//
// So the table is Parley's own (this file), with mellium's matching
// rules where they apply: exact payload before a wildcard, duplicates
// refused at start-up.

// An addressee is what a stanza's 'to' names, as RFC 6120 §10 and the
// services of this server distinguish them: the mux's first key.
type addressee uint8

const (
	toServer        addressee = iota + 1 // the domain (or domain/resource, RFC 6120 §10.5.3.3)
	toAccount                            // a local bare JID, or no 'to' (the sender's own account, §10.3)
	toFullJID                            // a local full JID: one of an account's sessions
	toRemote                             // another domain (server-to-server)
	toMUCService                         // the MUC service, conference.DOMAIN (XEP-0045)
	toRoom                               // a room, room@conference.DOMAIN
	toOccupant                           // an occupant, room@conference.DOMAIN/nick
	toUploadService                      // the upload service, upload.DOMAIN (XEP-0363)
	toNobody                             // an address at a service that names nothing there (user@upload.DOMAIN)
)

var addresseeNames = [...]string{
	toServer: "server", toAccount: "account", toFullJID: "full JID", toRemote: "remote domain",
	toMUCService: "MUC service", toRoom: "room", toOccupant: "occupant", toUploadService: "upload service",
	toNobody: "nobody",
}

func (a addressee) String() string {
	if int(a) < len(addresseeNames) && addresseeNames[a] != "" {
		return addresseeNames[a]
	}
	return fmt.Sprintf("addressee(%d)", a)
}

// anyType in a route matches a stanza of any type; a zero payload name
// matches any payload.
const anyType = "*"

// The stanza types each kind has (RFC 6120 §8.2.3, RFC 6121 §4.7.1,
// §5.2.2). A message without a type is "normal" and a presence without one
// "available" in routes.
var stanzaTypes = map[string][]string{
	"iq":       {"get", "set", "result", "error"},
	"message":  {"normal", "chat", "groupchat", "headline", "error"},
	"presence": {"available", "unavailable", "subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe", "error"},
}

// A route is what the mux matches a stanza on.
type route struct {
	kind    string   // iq, message or presence
	typ     string   // the stanza's type (normal, available for none), or anyType
	payload xml.Name // an IQ's payload, or a child of a message or presence; zero: any
	to      addressee
}

func (r route) String() string {
	p := "any payload"
	if r.payload.Local != "" {
		p = "{" + r.payload.Space + "}" + r.payload.Local
	}
	t := r.typ
	if t == anyType {
		t = "any"
	}
	return fmt.Sprintf("%s %s %s to %s", r.kind, t, p, r.to)
}

// iqHandler answers an IQ get or set: the payload of the result (nil for
// an empty result) or an error, which the mux turns into the error reply
// (a *StanzaError as it is, anything else through interop's error table:
// see Server.stanzaError).
type iqHandler func(ctx context.Context, r *request) (*Element, error)

// stanzaHandler takes any other stanza: a message, a presence, or an IQ it
// relays or answers itself (a MAM page). A returned error is bounced to
// the sender as an iqHandler's is, unless the stanza is itself an error.
type stanzaHandler func(ctx context.Context, r *request) error

// A registration is a route's handler and how it shows in disco.
type registration struct {
	route    route
	answer   iqHandler
	take     stanzaHandler
	features []discoFeature // what it implements, for disco#info
	// why a handler advertises no disco feature (a core RFC 6120/6121
	// function, a stream feature, routing): every registration either
	// advertises something or says why not.
	unadvertised string
	// localOnly handlers keep per-session state (presence, roster
	// interest, room occupancy): only a local client session reaches
	// them, r.from.session() is never nil there.
	localOnly bool
	// remote takes the stanza instead when it comes from another server
	// (an s2s origin) on a localOnly route: inbound presence and
	// subscriptions, a remote user joining a room (s2s_remote.go). nil:
	// such stanzas are unhandled.
	remote stanzaHandler
}

// discoFeature is a disco#info feature and the entity that advertises it.
type discoFeature struct {
	at   addressee
	name string
}

// A regOption describes a registration beyond its handler.
type regOption func(*registration)

// advertise lists the disco features a handler implements at its own
// addressee.
func advertise(features ...string) regOption {
	return func(r *registration) {
		for _, f := range features {
			r.features = append(r.features, discoFeature{r.route.to, f})
		}
	}
}

// advertiseAt lists disco features a handler implements that another
// entity advertises: the server says it keeps messages for offline
// accounts (msgoffline), the MUC service that its rooms are archived.
func advertiseAt(at addressee, features ...string) regOption {
	return func(r *registration) {
		for _, f := range features {
			r.features = append(r.features, discoFeature{at, f})
		}
	}
}

// unadvertised says why a handler has no disco feature.
func unadvertised(why string) regOption { return func(r *registration) { r.unadvertised = why } }

// localOnly marks a handler that only a local client session may reach.
func localOnly(r *registration) { r.localOnly = true }

// fromRemote gives a localOnly route the handler of the same stanza
// arriving from another server (federation).
func fromRemote(h stanzaHandler) regOption {
	return func(r *registration) { r.localOnly, r.remote = true, h }
}

// mux is the table. It is filled by NewServer and only read afterwards,
// so lookups take no lock.
type mux struct {
	routes map[route]*registration
	order  []*registration // in registration order, for disco and tests
	// payloads are the child names message and presence routes name: a
	// message's children are looked up only if some route names them.
	payloads map[xml.Name]bool
	entities map[addressee]*entity // disco identities (disco.go)
	errs     []error               // bad or duplicate registrations
	// filters see every stanza before its handler is looked up, in
	// registration order; one that returns false has dealt with the
	// stanza (answered or dropped it): blocking (blocking.go).
	filters []stanzaFilter
}

// A stanzaFilter sees a stanza from o of kind and type typ addressed to
// at (to) before dispatch looks up its handler. It returns false when it
// has dealt with the stanza itself.
type stanzaFilter func(ctx context.Context, o origin, el *Element, kind, typ string, at addressee, to jid.JID) bool

// filter registers f to see every stanza before its handler.
func (m *mux) filter(f stanzaFilter) { m.filters = append(m.filters, f) }

func newMux() *mux {
	return &mux{
		routes:   make(map[route]*registration),
		payloads: make(map[xml.Name]bool),
		entities: make(map[addressee]*entity),
	}
}

// iq registers h to answer IQs of type typ ("get" or "set") with the
// payload {space}local sent to at.
func (m *mux) iq(at addressee, typ, space, local string, h iqHandler, opts ...regOption) {
	if typ != "get" && typ != "set" {
		m.errs = append(m.errs, fmt.Errorf("xmpp: mux: an IQ handler answers get or set, not %q ({%s}%s to %s)", typ, space, local, at))
		return
	}
	m.add(&registration{route: route{"iq", typ, xml.Name{Space: space, Local: local}, at}, answer: h}, opts)
}

// stanza registers h for stanzas of kind ("iq", "message", "presence") and
// type typ (or anyType) sent to at, carrying {space}local (for a message or
// presence: as any child; "" "" matches any payload).
func (m *mux) stanza(at addressee, kind, typ, space, local string, h stanzaHandler, opts ...regOption) {
	m.add(&registration{route: route{kind, typ, xml.Name{Space: space, Local: local}, at}, take: h}, opts)
}

func (m *mux) add(reg *registration, opts []regOption) {
	for _, o := range opts {
		o(reg)
	}
	rt := reg.route
	types, ok := stanzaTypes[rt.kind]
	switch {
	case !ok:
		m.errs = append(m.errs, fmt.Errorf("xmpp: mux: unknown stanza kind in %s", rt))
		return
	case rt.typ != anyType && !slices.Contains(types, rt.typ):
		m.errs = append(m.errs, fmt.Errorf("xmpp: mux: unknown type in %s", rt))
		return
	case rt.to == 0 || int(rt.to) >= len(addresseeNames):
		m.errs = append(m.errs, fmt.Errorf("xmpp: mux: no addressee in %s", rt))
		return
	case len(reg.features) == 0 && reg.unadvertised == "":
		m.errs = append(m.errs, fmt.Errorf("xmpp: mux: %s advertises no disco feature and does not say why", rt))
		return
	}
	if _, dup := m.routes[rt]; dup {
		m.errs = append(m.errs, fmt.Errorf("xmpp: mux: two handlers for %s", rt))
		return
	}
	m.routes[rt] = reg
	m.order = append(m.order, reg)
	if rt.kind != "iq" && rt.payload.Local != "" {
		m.payloads[rt.payload] = true
	}
}

// err is what start-up reports: every bad or duplicate registration.
func (m *mux) err() error { return errors.Join(m.errs...) }

// lookup finds the registration for a stanza of kind and type typ to at,
// and the payload it matched. The type is matched before the payload:
// exact type with a named payload, exact type with any payload, any type
// with a named payload, any type with any payload. An IQ's payload is its
// one child; a message or presence is matched on its first child that
// some route names.
func (m *mux) lookup(kind, typ string, el *Element, at addressee) (*registration, *Element) {
	for _, t := range [2]string{typ, anyType} {
		if kind == "iq" {
			if p := firstChild(el); p != nil {
				if reg := m.routes[route{kind, t, p.Name, at}]; reg != nil {
					return reg, p
				}
			}
		} else if len(m.payloads) > 0 {
			for _, c := range el.Children {
				if p, ok := c.(*Element); ok && m.payloads[p.Name] {
					if reg := m.routes[route{kind, t, p.Name, at}]; reg != nil {
						return reg, p
					}
				}
			}
		}
		if reg := m.routes[route{kind, t, xml.Name{}, at}]; reg != nil {
			if kind == "iq" {
				return reg, firstChild(el)
			}
			return reg, nil
		}
	}
	return nil, nil
}

func firstChild(el *Element) *Element {
	for _, c := range el.Children {
		if p, ok := c.(*Element); ok {
			return p
		}
	}
	return nil
}

// An origin is the stream a stanza came in on, as handlers see it: who
// sent it, as that stream verified, and how to answer. A local client
// session (*session, whatever its framing: TCP, direct TLS, and later
// WebSocket or BOSH) is one; a server-to-server link is another, its
// sender being the stanza's 'from' once checked against the link's
// verified domain (an s2s origin is made per stanza).
type origin interface {
	// fullJID is the sender's full JID as the stream verified it: the
	// bound JID of a client session (RFC 6120 §8.1.2.1 stamps it), the
	// checked 'from' of a stanza from another server.
	fullJID() jid.JID
	// bareJID is the sender's bare JID as a string: its identity for the
	// room engine and storage.
	bareJID() string
	// session is the local client session the stanza came from, or nil
	// when it did not come from one (an s2s link): a local account's
	// session is exactly an origin whose session is not nil.
	session() *session
	// remoteDomain is the peer server's verified domain for an s2s link,
	// "" for a local session.
	remoteDomain() string
	// send queues a stanza for the sender's stream. It never blocks; it
	// reports false when the stream is gone (or was just cut off as a
	// slow consumer).
	send(data []byte) bool
	// sendBatch queues a bounded burst the server itself produces (a room's
	// join snapshot, a MAM page) at once, past the queue's limit.
	sendBatch(batch [][]byte)
}

// A request is one stanza on its way to its handler.
type request struct {
	from    origin
	el      *Element // the stanza, 'from' stamped with the verified sender
	typ     string   // its type, as routes name it (normal, available for none)
	payload *Element // the child the route matched (an IQ's payload), or nil
	to      jid.JID  // the addressee: for toAccount without 'to', the sender's bare JID
	at      addressee
}

// reply queues an answer to the sender.
func (r *request) reply(el *Element) bool { return r.from.send(el.Bytes()) }

// dispatch routes one stanza from o, whose 'from' the stream has already
// stamped or checked, to its handler: THE dispatch function of the XMPP
// front door.
func (s *Server) dispatch(ctx context.Context, o origin, el *Element) {
	kind := el.Name.Local
	typ := el.AttrValue("type")
	switch kind {
	case "iq":
		if !validIQ(o, el, typ) {
			return
		}
	case "message":
		switch typ {
		case "":
			typ = "normal"
		case "normal", "chat", "groupchat", "headline", "error":
		default:
			o.send(errorReply(el, errBadRequest("unknown message type"), "").Bytes())
			return
		}
	case "presence":
		if typ == "" {
			typ = "available"
		}
	}
	at, to, ok := s.classify(o, el.AttrValue("to"))
	if !ok {
		if typ != "error" && typ != "result" && typ != "probe" {
			o.send(errorReply(el, errJIDMalformed(""), "").Bytes())
		}
		return
	}
	for _, f := range s.mux.filters {
		if !f(ctx, o, el, kind, typ, at, to) {
			return
		}
	}
	reg, payload := s.mux.lookup(kind, typ, el, at)
	answer, take := handlerFor(reg, o)
	if answer == nil && take == nil {
		s.unhandled(o, el, kind, typ)
		return
	}
	r := &request{from: o, el: el, typ: typ, payload: payload, to: to, at: at}
	if answer != nil {
		s.answerIQ(ctx, answer, r)
		return
	}
	if err := take(ctx, r); err != nil {
		s.bounce(r, err)
	}
}

// handlerFor picks what runs for a stanza from o on reg's route: a
// localOnly route runs its remote handler (fromRemote), if any, for a
// stanza from another server. Both nil: unhandled.
func handlerFor(reg *registration, o origin) (iqHandler, stanzaHandler) {
	switch {
	case reg == nil:
		return nil, nil
	case reg.localOnly && o.session() == nil:
		return nil, reg.remote
	}
	return reg.answer, reg.take
}

// unhandled answers a stanza no handler takes: an IQ request gets
// service-unavailable (RFC 6120 §8.4), so does a message (§10.4.3, XEP-0045
// §7.2 for a room's service); presence is dropped (§10.4.3, §10.5).
func (s *Server) unhandled(o origin, el *Element, kind, typ string) {
	switch {
	case kind == "iq" && (typ == "get" || typ == "set"), kind == "message" && typ != "error":
		o.send(errorReply(el, errServiceUnavailable(""), "").Bytes())
	}
}

// classify resolves a stanza's 'to' from o into an addressee and the JID;
// ok is false when it is not a JID. No 'to' means the sender's own account
// (RFC 6120 §10.3); that holds for a client session only: a stanza from
// another server always has a 'to' (§8.1.1.1), which its link checks
// before dispatching.
func (s *Server) classify(o origin, to string) (addressee, jid.JID, bool) {
	if to == "" {
		return toAccount, o.fullJID().Bare(), true
	}
	j, err := jid.Parse(to)
	if err != nil {
		return 0, jid.JID{}, false
	}
	switch d := j.Domainpart(); {
	case d == s.cfg.Domain:
		switch {
		case j.Localpart() == "":
			// domain/resource: addressed to the server itself (RFC 6120
			// §10.5.3.3 lets us handle or reject it); we treat it as the
			// server.
			return toServer, j.Domain(), true
		case j.Resourcepart() == "":
			return toAccount, j, true
		}
		return toFullJID, j, true
	case s.muc != nil && d == s.muc.domain:
		switch {
		case j.Localpart() == "":
			return toMUCService, j, true
		case j.Resourcepart() == "":
			return toRoom, j, true
		}
		return toOccupant, j, true
	case s.cfg.Files != nil && d == s.uploadDomain():
		if j.Localpart() != "" || j.Resourcepart() != "" {
			return toNobody, j, true
		}
		return toUploadService, j, true
	}
	return toRemote, j, true
}

// bounce sends the error reply for err to the stanza's sender (RFC 6120
// §8.3), never to an error.
func (s *Server) bounce(r *request, err error) {
	if r.typ == "error" {
		return
	}
	r.reply(errorReply(r.el, s.stanzaError(r, err), ""))
}

// stanzaError is the one mapping from a handler's error to a stanza error:
// a *StanzaError is sent as it is, a room engine refusal or a delivery
// failure as interop's error table says it, anything else is logged and
// becomes internal-server-error.
func (s *Server) stanzaError(r *request, err error) *StanzaError {
	var serr *StanzaError
	if errors.As(err, &serr) {
		return serr
	}
	serr = refusalError(err)
	if serr.Condition == string(interop.InternalServerError) {
		payload := ""
		if r.payload != nil {
			payload = r.payload.Name.Space
		}
		s.log.Error("handler failed", "stanza", r.el.Name.Local, "payload", payload, "to", r.el.AttrValue("to"), "err", err)
	}
	return serr
}

// routesTo lists the registrations for one addressee, in the order their
// files registered them (for disco and tests).
func (m *mux) routesTo(at addressee) []*registration {
	var out []*registration
	for _, reg := range m.order {
		if reg.route.to == at {
			out = append(out, reg)
		}
	}
	return out
}

// features returns what at advertises: every disco feature registered for
// it, once each, sorted.
func (m *mux) features(at addressee) []string {
	var out []string
	for _, reg := range m.order {
		for _, f := range reg.features {
			if f.at == at && !slices.Contains(out, f.name) {
				out = append(out, f.name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// registerHandlers fills the table, one feature file at a time: grep for
// a namespace to find its handler. Disco comes last: it answers for the
// entities the others declared.
func (s *Server) registerHandlers() {
	s.registerRouting()
	s.registerSession()
	s.registerServerDisco()
	s.registerMessages()
	s.registerCarbons()
	s.registerBlocking()
	s.registerAccountMAM()
	s.registerPresence()
	s.registerRoster()
	s.registerPing()
	s.registerVersion()
	s.registerEntityTime()
	s.registerLastActivity()
	s.registerContactAddresses()
	s.registerExternalServices()
	s.registerInBand()
	s.registerAdminCommands()
	s.registerServerCaps()
	s.registerServerIQs()
	s.registerPEP()
	s.registerPrivate()
	s.registerBookmarks()
	s.registerVCard()
	s.registerCSI()
	s.registerSM()
	s.registerSASL2()
	s.registerPush()
	if s.muc != nil {
		s.muc.register(s.mux)
	}
	if s.cfg.Files != nil {
		s.registerUpload()
	}
	s.registerDisco()
}
