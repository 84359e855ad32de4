package sip

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/sqlite"
)

// newRoomServer is a test server with a room engine on a real SQLite
// store: an open room "lobby" and a closed room "board" whose only member
// is bob.
func newRoomServer(t testing.TB) (*testServer, *muc.Engine) {
	t.Helper()
	return newRoomServerWith(t, Config{})
}

// newRoomServerWith is newRoomServer with cfg (its Rooms set), and also
// "plaza", an open room that shows real addresses to everyone.
func newRoomServerWith(t testing.TB, cfg Config) (*testServer, *muc.Engine) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	engine, err := muc.New(ctx, muc.Config{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Secret: []byte("test")})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []muc.CreateRoomRequest{
		{Room: storage.Room{Name: "lobby", Subject: "all hands"}, Creator: muc.ActorAdmin, Privacy: muc.Open},
		{Room: storage.Room{Name: "board"}, Creator: muc.ActorAdmin, Privacy: muc.Closed, Members: []string{"bob@" + testDomain}},
		{Room: storage.Room{Name: "plaza", WhoIs: "anyone"}, Creator: muc.ActorAdmin, Privacy: muc.Open},
	} {
		if _, err := engine.CreateRoom(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Rooms = engine
	return newTestServer(t, cfg), engine
}

// uas is a SIP endpoint's contact: a UDP socket (and, from
// newUASWithTCP, a TCP listener on the same port) that answers every
// request with 200 and hands over the MESSAGEs and NOTIFYs it gets.
type uas struct {
	t        testing.TB
	conn     net.PacketConn
	msgs     chan *sip.Request
	notifies chan *sip.Request
	status   int // the final response; 0 is 200

	mu   sync.Mutex
	seen map[string]bool // Via branches: a retransmission is answered, not handed over
}

func newUAS(t testing.TB) *uas {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &uas{t: t, conn: conn, msgs: make(chan *sip.Request, 100), notifies: make(chan *sip.Request, 100), seen: map[string]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, addr, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			u.handle(append([]byte(nil), buf[:n]...), func(res []byte) { conn.WriteTo(res, addr) })
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return u
}

// newUASWithTCP is newUAS also listening on TCP on the same port, as UAs
// do (RFC 3261 §18.2.1): a request too large for UDP comes that way.
func newUASWithTCP(t testing.TB) *uas {
	t.Helper()
	for range 10 {
		u := newUAS(t)
		ln, err := net.Listen("tcp", u.conn.LocalAddr().String())
		if err != nil {
			continue // the port is taken on TCP: another pair
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var conns []net.Conn
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				wg.Go(func() { u.serveStream(c) })
			}
		})
		t.Cleanup(func() {
			ln.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
		return u
	}
	t.Fatal("no port free on both UDP and TCP")
	return nil
}

// serveStream reads SIP requests from a TCP connection (each framed by
// its Content-Length, RFC 3261 §18.3) until it closes.
func (u *uas) serveStream(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		var head bytes.Buffer
		length := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			line = strings.TrimRight(line, "\r\n")
			if line == "" {
				if head.Len() > 2 {
					break
				}
				head.Reset() // a keep-alive CRLF
				continue
			}
			if name, value, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(strings.TrimSpace(name), "Content-Length") || strings.TrimSpace(name) == "l") {
				length, _ = strconv.Atoi(strings.TrimSpace(value))
			}
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		u.handle(append(head.Bytes(), body...), func(res []byte) { c.Write(res) })
	}
}

// handle answers one request with 200 through reply and, unless it is a
// retransmission, hands it over.
func (u *uas) handle(data []byte, reply func([]byte)) {
	msg, err := sip.NewParser().ParseSIP(data)
	req, ok := msg.(*sip.Request)
	if err != nil || !ok {
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if u.status != 0 {
		res = sip.NewResponseFromRequest(req, u.status, "Refused", nil)
	}
	reply([]byte(res.String()))
	branch, _ := req.Via().Params.Get("branch")
	u.mu.Lock()
	again := u.seen[branch]
	u.seen[branch] = true
	u.mu.Unlock()
	if again {
		return
	}
	switch req.Method {
	case sip.MESSAGE:
		u.msgs <- req
	case sip.NOTIFY:
		u.notifies <- req
	}
}

func (u *uas) contact(user string) string {
	return "<sip:" + user + "@" + u.conn.LocalAddr().String() + ">"
}

// next returns the body of the next MESSAGE, checking it comes from room
// as text/plain.
func (u *uas) next(room string) string {
	u.t.Helper()
	req := u.nextRequest(room)
	if ct := req.ContentType(); ct == nil || !strings.HasPrefix(ct.Value(), "text/plain") {
		u.t.Errorf("Content-Type %v, want text/plain", ct)
	}
	return string(req.Body())
}

// nextRequest returns the next MESSAGE, checking it comes from room.
func (u *uas) nextRequest(room string) *sip.Request {
	u.t.Helper()
	select {
	case req := <-u.msgs:
		if from := req.From().Address; from.User != room || from.Host != "conference."+testDomain {
			u.t.Errorf("MESSAGE from %s, want the room %s", from.String(), room)
		}
		return req
	case <-time.After(5 * time.Second):
		u.t.Fatalf("no MESSAGE from %s", room)
		return nil
	}
}

// none checks that no MESSAGE arrives for a while.
func (u *uas) none() {
	u.t.Helper()
	select {
	case req := <-u.msgs:
		u.t.Errorf("unexpected MESSAGE %q", req.Body())
	case <-time.After(300 * time.Millisecond):
	}
}

// messenger sends MESSAGEs as user, answering the first 407 and reusing
// its nonce with increasing nonce-counts.
type messenger struct {
	c           *client
	user, pw    string
	chal        *digest.Challenge
	nc          int
	contentType string // "" is text/plain
}

func (m *messenger) build(room, body string) *sip.Request {
	req := sip.NewRequest(sip.MESSAGE, sip.Uri{Scheme: "sip", User: room, Host: "conference." + testDomain})
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: m.user, Host: testDomain}, Params: tagParams("m")})
	req.AppendHeader(&sip.ToHeader{Address: req.Recipient})
	ct := m.contentType
	if ct == "" {
		ct = "text/plain"
	}
	req.AppendHeader(sip.NewHeader("Content-Type", ct))
	req.SetBody([]byte(body))
	req.SetDestination(m.c.server)
	req.SetTransport("UDP")
	return req
}

func (m *messenger) send(room, body string) *sip.Response {
	t := m.c.t
	t.Helper()
	if m.chal == nil {
		res := m.c.do(m.build(room, body))
		if res.StatusCode != 407 {
			t.Fatalf("MESSAGE without credentials: %s, want 407", res.StartLine())
		}
		for _, h := range res.GetHeaders("Proxy-Authenticate") {
			if chal, err := digest.ParseChallenge(h.Value()); err == nil && chal.Algorithm == "MD5" {
				m.chal = chal
			}
		}
		if m.chal == nil {
			t.Fatal("no MD5 Proxy-Authenticate")
		}
	}
	m.nc++
	req := m.build(room, body)
	cred, err := digest.Digest(m.chal, digest.Options{Method: "MESSAGE", URI: req.Recipient.String(),
		Username: m.user, Password: m.pw, Count: m.nc, Cnonce: "c0ffee"})
	if err != nil {
		t.Fatal(err)
	}
	req.AppendHeader(sip.NewHeader("Proxy-Authorization", cred.String()))
	return m.c.do(req)
}

// recorder is an engine session standing in for an XMPP occupant.
type recorder chan muc.Event

func (r recorder) Deliver(ev muc.Event) {
	select {
	case r <- ev:
	default:
	}
}

func (r recorder) next(t *testing.T, kind muc.EventKind) muc.Event {
	t.Helper()
	for {
		select {
		case ev := <-r:
			if ev.Kind == kind {
				return ev
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event of kind %d", kind)
		}
	}
}

func TestRoomsOverSIP(t *testing.T) {
	ts, engine := newRoomServer(t)
	ctx := context.Background()
	ts.accounts.add(t, "carol", "cat")

	// carol is in the lobby on another front door.
	carol := make(recorder, 100)
	if err := engine.Join(ctx, muc.JoinRequest{Room: "lobby", Nick: "carol", User: "carol@" + testDomain,
		Session: muc.Session{Address: "carol@" + testDomain + "/xmpp", FrontDoor: "xmpp", Sink: carol}}); err != nil {
		t.Fatal(err)
	}
	carol.next(t, muc.EventJoined)

	phoneA, phoneB := newUAS(t), newUAS(t)
	ca, cb := newClient(t, ts.udp), newClient(t, ts.udp)
	if res := ca.registered("alice", "wonderland", "MD5", []string{phoneA.contact("alice")}, "Expires: 600"); res.StatusCode != 200 {
		t.Fatal(res.StartLine())
	}
	if res := cb.registered("bob", "builder", "MD5", []string{phoneB.contact("bob")}, "Expires: 600"); res.StatusCode != 200 {
		t.Fatal(res.StartLine())
	}
	alice := &messenger{c: ca, user: "alice", pw: "wonderland"}
	bob := &messenger{c: cb, user: "bob", pw: "builder"}

	// /join, with the room's state in the answer.
	if res := alice.send("lobby", "/join"); res.StatusCode != 200 {
		t.Fatalf("/join: %s", res.StartLine())
	}
	if got := phoneA.next("lobby"); got != "You joined lobby as alice. Also here: carol. Topic: all hands" {
		t.Errorf("/join answer %q", got)
	}
	if ev := carol.next(t, muc.EventPresence); ev.Occupant.Nick != "alice" || ev.Occupant.Sessions[0].FrontDoor != "sip" {
		t.Errorf("carol saw %+v join", ev.Occupant)
	}
	if res := bob.send("lobby", "#join bobby"); res.StatusCode != 200 {
		t.Fatalf("#join bobby: %s", res.StartLine())
	}
	if got := phoneB.next("lobby"); !strings.HasPrefix(got, "You joined lobby as bobby.") {
		t.Errorf("#join answer %q", got)
	}
	if got := phoneA.next("lobby"); got != "* bobby joined" {
		t.Errorf("alice saw %q", got)
	}

	// A post reaches the other SIP occupant and the engine's other
	// occupant, not its sender.
	if res := bob.send("lobby", "hello from a phone"); res.StatusCode != 200 {
		t.Fatalf("post: %s", res.StartLine())
	}
	if got := phoneA.next("lobby"); got != "bobby: hello from a phone" {
		t.Errorf("alice got %q", got)
	}
	if ev := carol.next(t, muc.EventMessage); ev.Message.Body != "hello from a phone" || ev.Message.Nick != "bobby" ||
		ev.Message.FrontDoor != "sip" || ev.Message.RealJID != "bob@"+testDomain {
		t.Errorf("carol got %+v", ev.Message)
	}
	phoneB.none()
	// A post from the other front door reaches both phones.
	if _, err := engine.Post(ctx, muc.PostRequest{Room: "lobby", Address: "carol@" + testDomain + "/xmpp", FrontDoor: "xmpp", Body: "hi phones"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*uas{phoneA, phoneB} {
		if got := p.next("lobby"); got != "carol: hi phones" {
			t.Errorf("phone got %q", got)
		}
	}

	// Refusals: a non-member's post to a closed room, an unknown room.
	res := alice.send("board", "let me in")
	if res.StatusCode != 403 || !strings.Contains(res.Reason, "members only") {
		t.Errorf("non-member post to a closed room: %s, want 403 with a reason", res.StartLine())
	}
	if res := alice.send("nosuch", "anyone?"); res.StatusCode != 404 {
		t.Errorf("post to an unknown room: %s, want 404", res.StartLine())
	}
	if res := bob.send("board", "members here"); res.StatusCode != 200 {
		t.Errorf("member post to a closed room: %s", res.StartLine())
	}
	if res := alice.send("board", "/history"); res.StatusCode != 403 {
		t.Errorf("non-member /history of a closed room: %s, want 403", res.StartLine())
	}
	if msgs, _, err := engine.History(ctx, "bob@"+testDomain, "test", storage.HistoryQuery{Room: "board", Limit: 10}); err != nil || len(msgs) != 1 {
		t.Errorf("board history %v %v: want only bob's post", msgs, err)
	}

	// Commands.
	if res := alice.send("lobby", "/history 2"); res.StatusCode != 200 {
		t.Fatalf("/history: %s", res.StartLine())
	}
	if got := phoneA.next("lobby"); !strings.Contains(got, "] bobby: hello from a phone\n[") || !strings.HasSuffix(got, "] carol: hi phones") {
		t.Errorf("/history 2: %q", got)
	}
	alice.send("lobby", "/who")
	if got := phoneA.next("lobby"); got != "In lobby (3): alice, bobby, carol" {
		t.Errorf("/who: %q", got)
	}
	alice.send("lobby", "/topic")
	if got := phoneA.next("lobby"); got != "Topic of lobby: all hands" {
		t.Errorf("/topic: %q", got)
	}
	if res := alice.send("lobby", "/topic new topic"); res.StatusCode != 403 {
		t.Errorf("/topic by a participant: %s, want 403", res.StartLine())
	}
	alice.send("lobby", "/nick al")
	if got := phoneA.next("lobby"); got != "You are now known as al." {
		t.Errorf("/nick: %q", got)
	}
	if got := phoneB.next("lobby"); got != "* alice is now known as al" {
		t.Errorf("bob saw %q", got)
	}
	if ev := carol.next(t, muc.EventPresence); ev.OldNick != "alice" || ev.Occupant.Nick != "al" {
		t.Errorf("carol saw %+v", ev)
	}
	// RFC 7247 Table 5: conflict is 400 (SIP has had no 409 since RFC 3261).
	if res := alice.send("lobby", "/nick bobby"); res.StatusCode != 400 || !strings.Contains(res.Reason, "taken") {
		t.Errorf("/nick to a taken nick: %s, want 400 saying it is taken", res.StartLine())
	}
	alice.send("lobby", "/rooms")
	if got := phoneA.next("lobby"); got != "Rooms:\nsip:board@conference."+testDomain+" (closed)\nsip:lobby@conference."+testDomain+" (open) all hands\nsip:plaza@conference."+testDomain+" (open)" {
		t.Errorf("/rooms: %q", got)
	}
	alice.send("lobby", "/help")
	if got := phoneA.next("lobby"); !strings.HasPrefix(got, "Commands") {
		t.Errorf("/help: %q", got)
	}
	if res := alice.send("lobby", "/frobnicate"); res.StatusCode != 400 {
		t.Errorf("unknown command: %s, want 400", res.StartLine())
	}
	bob.send("lobby", "/leave")
	if got := phoneB.next("lobby"); got != "You left lobby." {
		t.Errorf("/leave: %q", got)
	}
	if got := phoneA.next("lobby"); got != "* bobby left" {
		t.Errorf("alice saw %q", got)
	}

	// alice's only contact goes: she leaves the room.
	res = ca.do(ca.register("alice", []string{phoneA.contact("alice")}, "Expires: 0",
		"Authorization: "+answerAgain(t, ca, "alice", "wonderland")))
	if res.StatusCode != 200 {
		t.Fatalf("un-REGISTER: %s", res.StartLine())
	}
	if ev := carol.next(t, muc.EventPresence); ev.Occupant.Nick != "bobby" || ev.Occupant.Role != muc.RoleNone {
		t.Errorf("carol saw %+v, want bobby leaving", ev.Occupant)
	}
	if ev := carol.next(t, muc.EventPresence); ev.Occupant.Nick != "al" || ev.Occupant.Role != muc.RoleNone {
		t.Errorf("carol saw %+v after alice's contacts went", ev.Occupant)
	}
	if occ := engine.Occupants("lobby"); len(occ) != 1 {
		t.Errorf("occupants after the SIP users left: %+v", occ)
	}
}

// answerAgain answers a fresh REGISTER challenge for user.
func answerAgain(t *testing.T, c *client, user, pw string) string {
	req := c.register(user, nil)
	return answer(t, req, c.do(req), "MD5", user, pw, 1)
}

func TestJoinNeedsAContact(t *testing.T) {
	ts, _ := newRoomServer(t)
	m := &messenger{c: newClient(t, ts.udp), user: "alice", pw: "wonderland"}
	if res := m.send("lobby", "/join"); res.StatusCode != 403 {
		t.Errorf("/join without a registered contact: %s, want 403", res.StartLine())
	}
	if res := m.send("lobby", "posting works without joining"); res.StatusCode != 200 {
		t.Errorf("post without joining: %s", res.StartLine())
	}
}

// TestStatusOf walks every room engine refusal through the SIP front
// door's answer: the status of interop's error table (RFC 7247 §8.1 Table
// 5, with the table's reasons where it differs) and the engine's reason on
// one line of the reason phrase.
func TestStatusOf(t *testing.T) {
	want := map[muc.Code]int{muc.CodeNotFound: 404, muc.CodeForbidden: 403, muc.CodeRegistrationRequired: 400,
		muc.CodeNotAuthorized: 403, muc.CodeNotAllowed: 403, muc.CodeNotAcceptable: 406, muc.CodeConflict: 400,
		muc.CodeServiceUnavailable: 503, muc.CodeBadRequest: 400, muc.CodePolicyViolation: 403, muc.CodeResourceConstraint: 500}
	for _, code := range muc.Codes() {
		got, phrase, retry, internal := statusOf(fmt.Errorf("wrapped: %w", &muc.Error{Code: code, Reason: "why\r\nInjected: x"}))
		if got != want[code] || internal || retry != 0 || strings.ContainsAny(phrase, "\r\n") || !strings.HasSuffix(phrase, "why  Injected: x") {
			t.Errorf("%v: %d %q (internal %t), want %d and the reason on one line", code, got, phrase, internal, want[code])
		}
	}
	if got, _, _, internal := statusOf(errors.New("disk on fire")); got != 500 || !internal {
		t.Errorf("internal error: %d (internal %t), want 500", got, internal)
	}
	// The database failing over: 503 with Retry-After, not logged as a
	// bug.
	unavailable := fmt.Errorf("muc: committing post: %w", storage.ErrUnavailable)
	got, phrase, retry, internal := statusOf(unavailable)
	if got != 503 || retry <= 0 || internal || !strings.Contains(phrase, "try again") {
		t.Errorf("database unavailable: %d %q, Retry-After %d (internal %t), want 503 with Retry-After", got, phrase, retry, internal)
	}
	// The response says when to try again (RFC 3261 §21.5.4, §20.33).
	ts, _ := newRoomServer(t)
	req := sip.NewRequest(sip.MESSAGE, sip.Uri{Scheme: "sip", User: "lobby", Host: "conference." + testDomain})
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: testDomain}, Params: tagParams("m")})
	req.AppendHeader(&sip.ToHeader{Address: req.Recipient})
	res, _ := ts.srv.refusalResponse(req, unavailable)
	if h := res.GetHeader("Retry-After"); res.StatusCode != 503 || h == nil || h.Value() != strconv.Itoa(retry) {
		t.Errorf("database unavailable: %s with Retry-After %v, want 503 with Retry-After: %d", res.StartLine(), h, retry)
	}
}

// registerOverSIP registers user with a new contact for expires seconds,
// returning the user's messenger and contact.
func registerOverSIP(t *testing.T, ts *testServer, user, pw string, expires int) (*messenger, *uas) {
	t.Helper()
	return registerOverSIPWith(t, ts, newUAS(t), user, pw, expires)
}

// registerOverSIPWith is registerOverSIP with the contact phone.
func registerOverSIPWith(t *testing.T, ts *testServer, phone *uas, user, pw string, expires int) (*messenger, *uas) {
	t.Helper()
	c := newClient(t, ts.udp)
	if res := c.registered(user, pw, "MD5", []string{phone.contact(user)}, "Expires: "+strconv.Itoa(expires)); res.StatusCode != 200 {
		t.Fatal(res.StartLine())
	}
	return &messenger{c: c, user: user, pw: pw}, phone
}

// joinOverSIP is registerOverSIP, then "/join" to room (its answer read).
func joinOverSIP(t *testing.T, ts *testServer, room, user, pw string, expires int) (*messenger, *uas) {
	t.Helper()
	m, phone := registerOverSIP(t, ts, user, pw, expires)
	if res := m.send(room, "/join"); res.StatusCode != 200 {
		t.Fatalf("/join: %s", res.StartLine())
	}
	phone.next(room)
	return m, phone
}

// xmppOccupant joins nick (user@testDomain) to room as an engine session
// standing in for an XMPP client, its join event read.
func xmppOccupant(t *testing.T, engine *muc.Engine, room, nick, user string) recorder {
	t.Helper()
	r := make(recorder, 100)
	if err := engine.Join(context.Background(), muc.JoinRequest{Room: room, Nick: nick, User: user + "@" + testDomain,
		Session: muc.Session{Address: user + "@" + testDomain + "/xmpp", FrontDoor: "xmpp", Sink: r}}); err != nil {
		t.Fatal(err)
	}
	r.next(t, muc.EventJoined)
	return r
}

func TestExpiredContactsLeaveRooms(t *testing.T) {
	ts, engine := newRoomServer(t)
	joinOverSIP(t, ts, "lobby", "alice", "wonderland", 60)
	if occ := engine.Occupants("lobby"); len(occ) != 1 {
		t.Fatalf("occupants %+v", occ)
	}
	later := time.Now().Add(61 * time.Second)
	ts.srv.reg.setNow(func() time.Time { return later })
	ts.srv.reg.prune(later)
	ts.srv.leaveUnreachable()
	if occ := engine.Occupants("lobby"); len(occ) != 0 {
		t.Errorf("occupants after alice's contact expired: %+v", occ)
	}
}

// TestRoomTextXMLCannotCarry: a post (text/plain or message/cpim), a
// /topic or a /join nick holding what XML 1.0 forbids (C0 controls but
// tab, CR and LF; surrogates), a Unicode noncharacter, or bytes that are
// not UTF-8 is refused at the SIP front door with 400 and a reason naming
// the character and where it is (not 500 for bad UTF-8, as a room post
// once got); the room's other occupant sees nothing of it, and neither the
// archive nor the topic keeps it.
func TestRoomTextXMLCannotCarry(t *testing.T) {
	ts, engine := newRoomServer(t)
	ctx := context.Background()
	if _, err := engine.CreateRoom(ctx, muc.CreateRoomRequest{Room: storage.Room{Name: "den", Subject: "clean",
		ChangeSubject: "participants"}, Creator: muc.ActorAdmin, Privacy: muc.Open}); err != nil {
		t.Fatal(err)
	}
	carol := xmppOccupant(t, engine, "den", "carol", "carol")
	alice, _ := joinOverSIP(t, ts, "den", "alice", "wonderland", 600)
	carol.next(t, muc.EventPresence)

	cpim := func(text string) string {
		return "From: <sip:alice@" + testDomain + ">\r\nTo: <sip:den@conference." + testDomain + ">\r\n\r\n" +
			"Content-Type: text/plain;charset=UTF-8\r\n\r\n" + text
	}
	for _, tc := range []struct{ what, contentType, body, reason string }{
		{"a NUL", "", "a\x00b", "U+0000 at byte 1"},
		{"a bell", "", "ding\x07", "U+0007 at byte 4"},
		{"an escape sequence", "", "\x1b[2Jcleared", "U+001B at byte 0"},
		{"invalid UTF-8", "", "caf\xe9", "invalid UTF-8 at byte 3"},
		{"a lone surrogate", "", "x\xed\xa0\x80", "surrogate"},
		{"a noncharacter", "", "x\uFDD0", "U+FDD0 at byte 1 is a Unicode noncharacter"},
		{"U+FFFF", "", "x\uFFFF", "U+FFFF at byte 1 is not allowed in XML"},
		{"a control in message/cpim", "message/cpim", cpim("hi\x1b[31m"), "U+001B at byte 2"},
		{"a control in /topic", "", "/topic evil\x08\x08\x08\x08good", "U+0008"},
		{"a control in a /join nick", "", "/join al\x0bice", "U+000B"},
		{"a noncharacter in a /nick", "", "/nick bob\uFFFE", "U+FFFE"},
	} {
		alice.contentType = tc.contentType
		res := alice.send("den", tc.body)
		if res.StatusCode != 400 || !strings.Contains(res.Reason, tc.reason) {
			t.Errorf("%s: %s, want 400 with %q in the reason", tc.what, res.StartLine(), tc.reason)
		}
	}
	alice.contentType = ""
	if res := alice.send("den", "tab\tand\r\nnew lines are fine"); res.StatusCode != 200 {
		t.Errorf("a post with tab, CR and LF: %s, want 200", res.StartLine())
	}
	if ev := carol.next(t, muc.EventMessage); ev.Message.Body != "tab\tand\r\nnew lines are fine" {
		t.Errorf("carol's next message is %q, want the clean post", ev.Message.Body)
	}
	select {
	case ev := <-carol:
		t.Errorf("carol got %+v, want nothing else", ev)
	default:
	}
	msgs, _, err := engine.History(ctx, "carol@"+testDomain, "test", storage.HistoryQuery{Room: "den", Limit: 50})
	if err != nil || len(msgs) != 1 {
		t.Errorf("den's archive %+v %v, want the clean post only", msgs, err)
	}
	if r, err := engine.Room(ctx, "den", "carol@"+testDomain); err != nil || r.Subject != "clean" {
		t.Errorf("den's topic %q %v, want it unchanged", r.Subject, err)
	}
	if o, in := engine.Occupant("den", "sip:alice@"+testDomain); !in || o.Nick != "alice" {
		t.Errorf("alice is %+v (in: %v), want her nick unchanged", o, in)
	}
}

// TestSIPJoinNickPolicy: a SIP /join or /nick is held to the nick policy
// XMPP joins are (muc.NormalizeNick, RFC 8266): zero-width, bidi and
// control characters and line feeds get 400 naming the character; a case,
// width or confusable variant of an XMPP occupant's nick gets 400 too (a
// conflict: RFC 7247 Table 5, SIP having no 409) saying whose nick it is
// like; the nick kept is the enforced form.
func TestSIPJoinNickPolicy(t *testing.T) {
	ts, engine := newRoomServer(t)
	carol := xmppOccupant(t, engine, "lobby", "Carol", "carol")
	alice, phone := registerOverSIP(t, ts, "alice", "wonderland", 600)
	for _, tc := range []struct {
		body   string
		status int
		reason string
	}{
		{"/join Ca\u200Brol", 400, "U+200B"},          // zero-width space
		{"/join \u202Elorac", 400, "U+202E"},          // right-to-left override
		{"/join Carol\nbob: hi", 400, "U+000A"},       // a line feed
		{"/join Car\u00ADol", 400, "U+00AD"},          // soft hyphen
		{"/join carol", 400, `too like "Carol"`},      // case
		{"/join CAROL", 400, `too like "Carol"`},      // case
		{"/join Ｃarol", 400, `"Carol" is taken`},      // fullwidth: NFKC makes it Carol
		{"/join \u0421arol", 400, `too like "Carol"`}, // Cyrillic Es
	} {
		res := alice.send("lobby", tc.body)
		if res.StatusCode != tc.status || !strings.Contains(res.Reason, tc.reason) {
			t.Errorf("%q: %s, want %d with %q in the reason", tc.body, res.StartLine(), tc.status, tc.reason)
		}
	}
	if occ := engine.Occupants("lobby"); len(occ) != 1 {
		t.Fatalf("occupants %+v, want carol alone", occ)
	}
	if res := alice.send("lobby", "/join  Ａlice "); res.StatusCode != 200 {
		t.Fatalf("/join Ａlice: %s", res.StartLine())
	}
	if got := phone.next("lobby"); !strings.HasPrefix(got, "You joined lobby as Alice.") {
		t.Errorf("/join answer %q, want the enforced nick", got)
	}
	if ev := carol.next(t, muc.EventPresence); ev.Occupant.Nick != "Alice" {
		t.Errorf("carol saw %q join, want Alice", ev.Occupant.Nick)
	}
	if res := alice.send("lobby", "/nick CAR0L"); res.StatusCode != 400 || !strings.Contains(res.Reason, `too like "Carol"`) {
		t.Errorf("/nick CAR0L: %s, want 400 saying it is too like Carol", res.StartLine())
	}
}

// TestMultiLinePostsCannotFakeLines: text/plain receivers see every line
// of a post after its first started with "  | ", whatever line break it
// used (CR LF, CR, LF, NEL, U+2028, U+2029), live and in /history, so a
// post cannot show a line that looks like another occupant's post or a
// room notice.
func TestMultiLinePostsCannotFakeLines(t *testing.T) {
	ts, engine := newRoomServer(t)
	ctx := context.Background()
	xmppOccupant(t, engine, "lobby", "mallory", "mallory")
	_, phone := joinOverSIP(t, ts, "lobby", "alice", "wonderland", 600)
	fake := "see below\nbob: I resign\r\n* carol left\rmore\u0085nel\u2028ls\u2029ps\n"
	if _, err := engine.Post(ctx, muc.PostRequest{Room: "lobby", Address: "mallory@" + testDomain + "/xmpp", FrontDoor: "xmpp", Body: fake}); err != nil {
		t.Fatal(err)
	}
	want := "mallory: see below\n  | bob: I resign\n  | * carol left\n  | more\n  | nel\n  | ls\n  | ps"
	if got := phone.next("lobby"); got != want {
		t.Errorf("alice got %q, want %q", got, want)
	}
	// A SIP sender's multi-line post reaches SIP readers the same way.
	bob, _ := joinOverSIP(t, ts, "lobby", "bob", "builder", 600)
	phone.next("lobby") // bob joined
	if res := bob.send("lobby", "one\r\nalice: two"); res.StatusCode != 200 {
		t.Fatalf("bob's post: %s", res.StartLine())
	}
	if got := phone.next("lobby"); got != "bob: one\n  | alice: two" {
		t.Errorf("alice got %q", got)
	}
	alice := &messenger{c: newClient(t, ts.udp), user: "alice", pw: "wonderland"}
	alice.send("lobby", "/history 2")
	if got := phone.next("lobby"); !strings.Contains(got, "] mallory: see below\n  | bob: I resign\n") ||
		!strings.HasSuffix(got, "] bob: one\n  | alice: two") {
		t.Errorf("/history 2: %q", got)
	}
}

// TestRoomNameNormalised: the user part of a room's SIP URI names the room
// as the localpart of its JID does (internal/identity, RFC 7622): another
// case, fullwidth letters (percent-escaped, RFC 3261 §25.1) reach the same
// room; a user part no room name can be is answered as a room that does
// not exist.
func TestRoomNameNormalised(t *testing.T) {
	ts, engine := newRoomServer(t)
	m := &messenger{c: newClient(t, ts.udp), user: "alice", pw: "wonderland"}
	for _, room := range []string{"LOBBY", "%EF%BD%8C%EF%BD%8F%EF%BD%82%EF%BD%82%EF%BD%99"} { // ｌｏｂｂｙ
		if res := m.send(room, "to "+room); res.StatusCode != 200 {
			t.Errorf("post to sip:%s@conference: %s, want 200", room, res.StartLine())
		}
	}
	msgs, _, err := engine.History(context.Background(), "alice@"+testDomain, "test", storage.HistoryQuery{Room: "lobby", Limit: 10})
	if err != nil || len(msgs) != 2 {
		t.Errorf("lobby's history: %d posts (%v), want both", len(msgs), err)
	}
	if res := m.send("lob%2Fby", "hello"); res.StatusCode != 404 {
		t.Errorf("post to a user part that cannot be a room: %s, want 404", res.StartLine())
	}
}

// In a room that broadcasts moderators' presence only
// (muc#roomconfig_presencebroadcast), SIP members are told what XMPP
// occupants are: a participant's join is not announced, its becoming a
// moderator is; /who lists the moderators and counts the others.
func TestSIPPresenceBroadcast(t *testing.T) {
	ts, engine := newRoomServer(t)
	ctx := context.Background()
	if _, err := engine.Configure(ctx, muc.ActorAdmin, "lobby", func(r *storage.Room) error {
		return muc.SetBroadcastRoles(r, []muc.Role{muc.RoleModerator})
	}); err != nil {
		t.Fatal(err)
	}
	if err := engine.SetAffiliation(ctx, "lobby", muc.ActorAdmin, "carol@"+testDomain, muc.AffAdmin, ""); err != nil {
		t.Fatal(err)
	}
	carol := make(recorder, 100)
	if err := engine.Join(ctx, muc.JoinRequest{Room: "lobby", Nick: "carol", User: "carol@" + testDomain,
		Session: muc.Session{Address: "carol@" + testDomain + "/xmpp", FrontDoor: "xmpp", Sink: carol}}); err != nil {
		t.Fatal(err)
	}
	phoneA, phoneB := newUAS(t), newUAS(t)
	ca, cb := newClient(t, ts.udp), newClient(t, ts.udp)
	if res := ca.registered("alice", "wonderland", "MD5", []string{phoneA.contact("alice")}, "Expires: 600"); res.StatusCode != 200 {
		t.Fatal(res.StartLine())
	}
	if res := cb.registered("bob", "builder", "MD5", []string{phoneB.contact("bob")}, "Expires: 600"); res.StatusCode != 200 {
		t.Fatal(res.StartLine())
	}
	alice := &messenger{c: ca, user: "alice", pw: "wonderland"}
	bob := &messenger{c: cb, user: "bob", pw: "builder"}
	if res := alice.send("lobby", "/join"); res.StatusCode != 200 {
		t.Fatalf("/join: %s", res.StartLine())
	}
	if got := phoneA.next("lobby"); got != "You joined lobby as alice. Also here: carol. Topic: all hands" {
		t.Errorf("/join answer %q", got)
	}
	if res := bob.send("lobby", "#join bobby"); res.StatusCode != 200 {
		t.Fatalf("#join bobby: %s", res.StartLine())
	}
	if got := phoneB.next("lobby"); got != "You joined lobby as bobby. Also here: carol. Topic: all hands" {
		t.Errorf("bob's /join answer %q", got)
	}
	// Posted after bob's join: alice's next line, with no "bobby joined"
	// before it.
	if _, err := engine.Post(ctx, muc.PostRequest{Room: "lobby", Address: "carol@" + testDomain + "/xmpp", FrontDoor: "xmpp", Body: "welcome"}); err != nil {
		t.Fatal(err)
	}
	if got := phoneA.next("lobby"); got != "carol: welcome" {
		t.Errorf("alice got %q, want carol's post and no join of bobby", got)
	}
	alice.send("lobby", "/who")
	if got, want := phoneA.next("lobby"), "In lobby (3): carol (manager); 2 more not shown (the room broadcasts the presence of some roles only)"; got != want {
		t.Errorf("/who: %q, want %q", got, want)
	}
	if err := engine.SetRole(ctx, "lobby", muc.ActorAdmin, "bobby", muc.RoleModerator, ""); err != nil {
		t.Fatal(err)
	}
	if got := phoneA.next("lobby"); got != "* bobby joined" {
		t.Errorf("alice saw %q when bobby became a moderator", got)
	}
}
