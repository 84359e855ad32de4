package interop

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// A chat user of the chaos run (chaos_test.go): it stays logged in to some
// node of the pool over direct TLS (XEP-0368; SASL PLAIN), joined to every
// room of the run, and posts to them in turn. When its session breaks (its
// node was killed, stopped or cut off) it logs in again on the next node,
// as a client given every node's address (SRV records) would.
//
// It keeps what the invariants are checked against: every post it sent
// and its outcome, and, per session, what it received live in each room.
// A post is acknowledged when the room reflects it to its sender
// (XEP-0045 §7.4): parleyd reflects a post only once it is committed
// (DESIGN §3), so an acknowledged post must be in history, once. A post
// whose session broke before its answer has an unknown outcome: it may or
// may not have been committed, and it is not counted as acknowledged.

// Outcomes of a post.
const (
	postPending = iota // sent, no answer yet
	postAcked          // reflected to its sender
	postRefused        // answered with an error
	postUnknown        // its session broke before an answer
)

// chaosPost is one post of a client; its body is also its message id, so
// that an error names the post it answers.
type chaosPost struct {
	room     string // bare JID
	body     string
	sent     time.Time
	state    int
	stanzaID string // the room's XEP-0359 stanza-id, from the reflection
	acks     int    // reflections received: more than one is a duplicate
	refusal  string // error condition and type
}

// chaosSession is one login of a client on one node.
type chaosSession struct {
	node   int
	began  time.Time
	joined time.Time           // when the last room's join completed
	ended  time.Time           // zero while it lasts
	live   map[string][]string // room → the posts received live, in order
	ids    map[string]string   // body → stanza-id as received live
	rooms  map[string]bool     // rooms joined
	rejoin map[string]bool     // rooms it was removed from, to join again
	err    error               // why it ended
	posts  map[string]bool     // bodies this session sent, not yet answered
	conn   net.Conn
	heard  time.Time     // when the server last sent anything
	closed chan struct{} // closed when the reader has returned
	w      sync.Mutex    // serialises writes on conn
}

// chaosClient is one user and its sessions.
type chaosClient struct {
	name, password string
	rooms          []string        // bare JIDs of the rooms it joins
	addrs          func() []string // direct TLS address of every node, in pool order
	home           int             // the node it logs in to first
	interval       time.Duration   // between two posts

	mu       sync.Mutex
	posts    map[string]*chaosPost
	order    []*chaosPost // in the order sent
	sessions []*chaosSession
	cur      *chaosSession // nil between sessions
	paused   bool
	removed  []string // rooms it was removed from, with the status codes
	sent     int
	next     int // the room of the next post
}

func newChaosClient(name, password string, rooms []string, addrs func() []string, home int, interval time.Duration) *chaosClient {
	return &chaosClient{name: name, password: password, rooms: rooms, addrs: addrs, home: home, interval: interval,
		posts: map[string]*chaosPost{}}
}

// run keeps the client logged in and posting until ctx ends.
func (c *chaosClient) run(ctx context.Context) {
	node := c.home
	for ctx.Err() == nil {
		addrs := c.addrs()
		s := &chaosSession{node: node % len(addrs), began: time.Now(), live: map[string][]string{},
			ids: map[string]string{}, rooms: map[string]bool{}, rejoin: map[string]bool{}, posts: map[string]bool{},
			closed: make(chan struct{})}
		err := c.session(ctx, s, addrs[s.node])
		c.endSession(s, err)
		// The next login goes to the next node: this one may be gone.
		node++
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// endSession records how a session ended; its unanswered posts have an
// unknown outcome.
func (c *chaosClient) endSession(s *chaosSession, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.conn == nil {
		return // the login failed: no session
	}
	s.ended, s.err = time.Now(), err
	for body := range s.posts {
		if p := c.posts[body]; p != nil && p.state == postPending {
			p.state = postUnknown
		}
	}
	s.posts = map[string]bool{}
	if c.cur == s {
		c.cur = nil
	}
}

// Liveness: a session that hears nothing from its server for chaosDeadAfter
// (it pings after chaosPingAfter of silence) is given up, as a mobile
// client gives up a stalled TCP connection.
const (
	chaosPingAfter = 2 * time.Second
	chaosDeadAfter = 6 * time.Second
	chaosLoginMax  = 10 * time.Second
)

// session logs in on addr, joins every room and posts until the session
// breaks or ctx ends.
func (c *chaosClient) session(ctx context.Context, s *chaosSession, addr string) error {
	d := &net.Dialer{Timeout: 3 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: domain, InsecureSkipVerify: true})
	if err != nil {
		return fmt.Errorf("connect %s: %w", addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(chaosLoginMax))
	dec, err := c.login(conn)
	if err != nil {
		return fmt.Errorf("login on %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	c.mu.Lock()
	s.conn, s.heard = conn, time.Now()
	c.sessions = append(c.sessions, s)
	c.cur = s
	c.mu.Unlock()

	readErr := make(chan error, 1)
	go func() {
		defer close(s.closed)
		readErr <- c.read(s, dec)
	}()
	defer func() { conn.Close(); <-s.closed }()
	for _, room := range c.rooms {
		if err := c.join(s, room); err != nil {
			return err
		}
	}
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	pings := 0
	for {
		select {
		case err := <-readErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		c.mu.Lock()
		silent := time.Since(s.heard)
		joined := len(s.rooms) == len(c.rooms)
		paused := c.paused
		var rejoin []string
		for room := range s.rejoin {
			rejoin = append(rejoin, room)
		}
		clear(s.rejoin)
		c.mu.Unlock()
		for _, room := range rejoin {
			if err := c.join(s, room); err != nil {
				return err
			}
		}
		if silent > chaosDeadAfter {
			return fmt.Errorf("no word from %s for %v", addr, silent.Round(time.Millisecond))
		}
		if silent > chaosPingAfter {
			pings++
			if err := c.write(s, fmt.Sprintf("<iq type='get' id='ping%d' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>", pings, domain)); err != nil {
				return err
			}
		}
		if joined && !paused {
			if err := c.post(s); err != nil {
				return err
			}
		}
	}
}

// join enters room without history (XEP-0045 §7.2, §7.2.14).
func (c *chaosClient) join(s *chaosSession, room string) error {
	return c.write(s, fmt.Sprintf("<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>",
		room, c.name))
}

// post sends the client's next post to its next room.
func (c *chaosClient) post(s *chaosSession) error {
	c.mu.Lock()
	room := c.rooms[c.next%len(c.rooms)]
	c.next++
	p := &chaosPost{room: room, body: fmt.Sprintf("%s-%d", c.name, c.sent), sent: time.Now()}
	c.sent++
	c.posts[p.body] = p
	c.order = append(c.order, p)
	s.posts[p.body] = true
	c.mu.Unlock()
	return c.write(s, fmt.Sprintf("<message type='groupchat' to='%s' id='%s'><body>%s</body></message>", room, p.body, p.body))
}

func (c *chaosClient) write(s *chaosSession, stanza string) error {
	s.w.Lock()
	defer s.w.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(chaosDeadAfter))
	_, err := s.conn.Write([]byte(stanza))
	return err
}

// read handles what the server sends until the stream ends.
func (c *chaosClient) read(s *chaosSession, dec *xml.Decoder) error {
	for {
		e, err := chaosNext(dec)
		if err != nil {
			return err
		}
		c.mu.Lock()
		s.heard = time.Now()
		err = c.handle(s, e)
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// handle records one stanza; the caller holds c.mu.
func (c *chaosClient) handle(s *chaosSession, e *chaosElem) error {
	room, nick, _ := strings.Cut(e.attr("from"), "/")
	switch {
	case e.XMLName.Local == "presence" && e.attr("type") == "error":
		return fmt.Errorf("join %s refused: %s", room, e.condition())
	case e.XMLName.Local == "presence" && e.attr("type") == "unavailable" && nick == c.name && s.rooms[room]:
		// Removed from the room (XEP-0045 §9.9.2; Parley says 333 when
		// the room's host counted this session's node lost): as clients
		// do, it joins again.
		delete(s.rooms, room)
		s.rejoin[room] = true
		c.removed = append(c.removed, room+" "+mucStatuses(e))
		return nil
	case e.XMLName.Local != "message":
		return nil
	case e.attr("type") == "error":
		if p := c.posts[e.attr("id")]; p != nil && s.posts[p.body] {
			delete(s.posts, p.body)
			p.state, p.refusal = postRefused, e.condition()
		}
		return nil
	case e.attr("type") != "groupchat":
		return nil
	}
	if e.child("subject") != nil && e.child("body") == nil {
		// XEP-0045 §7.2.15: the subject ends the join.
		s.rooms[room] = true
		if len(s.rooms) == len(c.rooms) {
			s.joined = time.Now()
		}
		return nil
	}
	body := e.child("body")
	if body == nil || e.child("delay") != nil {
		return nil
	}
	text := strings.TrimSpace(body.Text)
	sid := ""
	if id := e.child("stanza-id"); id != nil && id.attr("by") == room {
		sid = id.attr("id")
	}
	s.live[room] = append(s.live[room], text)
	s.ids[text] = sid
	if p := c.posts[text]; p != nil {
		// Only the sending session can see its reflection: a later
		// session joins without history.
		p.acks++
		if p.state == postPending {
			p.state = postAcked
		}
		p.stanzaID = sid
		delete(s.posts, text)
	}
	return nil
}

// login opens the stream and authenticates with PLAIN (RFC 6120 §6, RFC
// 4616), restarts it and binds a resource (§7).
func (c *chaosClient) login(conn net.Conn) (*xml.Decoder, error) {
	open := func() (*xml.Decoder, *chaosElem, error) {
		fmt.Fprintf(conn, "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", domain)
		dec := xml.NewDecoder(conn)
		for {
			tok, err := dec.Token()
			if err != nil {
				return nil, nil, err
			}
			if st, ok := tok.(xml.StartElement); ok && st.Name.Local == "stream" {
				break
			}
		}
		f, err := chaosNext(dec)
		if err != nil {
			return nil, nil, err
		}
		if f.XMLName.Local != "features" {
			return nil, nil, fmt.Errorf("want stream features, got <%s> (%s)", f.XMLName.Local, f.condition())
		}
		return dec, f, nil
	}
	dec, _, err := open()
	if err != nil {
		return nil, err
	}
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + c.name + "\x00" + c.password))
	fmt.Fprintf(conn, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", auth)
	e, err := chaosNext(dec)
	if err != nil {
		return nil, err
	}
	if e.XMLName.Local != "success" {
		return nil, fmt.Errorf("SASL: <%s> %s", e.XMLName.Local, e.condition())
	}
	if dec, _, err = open(); err != nil {
		return nil, err
	}
	fmt.Fprintf(conn, "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	for {
		e, err := chaosNext(dec)
		if err != nil {
			return nil, err
		}
		if e.XMLName.Local == "iq" && e.attr("id") == "bind" {
			if e.attr("type") != "result" {
				return nil, fmt.Errorf("bind: %s", e.condition())
			}
			return dec, nil
		}
	}
}

// pending counts the current session's posts without an answer.
func (c *chaosClient) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return 0
	}
	return len(c.cur.posts)
}

func (c *chaosClient) setPaused(p bool) {
	c.mu.Lock()
	c.paused = p
	c.mu.Unlock()
}

// ready says whether the client is in every room on a session that has
// had a post acknowledged in every room since since.
func (c *chaosClient) ready(since time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.cur
	if s == nil || len(s.rooms) != len(c.rooms) {
		return false
	}
	acked := map[string]bool{}
	for i := len(c.order) - 1; i >= 0 && c.order[i].sent.After(since); i-- {
		if p := c.order[i]; p.state == postAcked {
			acked[p.room] = true
		}
	}
	return len(acked) == len(c.rooms)
}

// why says what keeps the client from being ready(since).
func (c *chaosClient) why(since time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.cur
	if s == nil {
		if n := len(c.sessions); n > 0 && c.sessions[n-1].err != nil {
			return "no session; the last ended: " + c.sessions[n-1].err.Error()
		}
		return "no session"
	}
	state := map[string][4]int{} // room → pending, acked, refused, unknown since
	var refusals []string
	for i := len(c.order) - 1; i >= 0 && c.order[i].sent.After(since); i-- {
		p := c.order[i]
		n := state[p.room]
		n[p.state]++
		state[p.room] = n
		if p.state == postRefused && len(refusals) < 3 {
			refusals = append(refusals, p.body+" "+p.refusal)
		}
	}
	var rooms []string
	for _, r := range c.rooms {
		n := state[r]
		rooms = append(rooms, fmt.Sprintf("%s %d/%d/%d/%d", strings.TrimSuffix(r, "@conference."+domain), n[0], n[1], n[2], n[3]))
	}
	return fmt.Sprintf("session on n%d since %s, in %d of %d rooms; posts pending/acked/refused/unknown: %s; refusals %v",
		s.node+1, s.began.Format("15:04:05.000"), len(s.rooms), len(c.rooms), strings.Join(rooms, ", "), refusals)
}

// chaosElem is a parsed stanza, generic enough for what the client reads.
type chaosElem struct {
	XMLName  xml.Name
	Attr     []xml.Attr  `xml:",any,attr"`
	Text     string      `xml:",chardata"`
	Children []chaosElem `xml:",any"`
}

func (e *chaosElem) attr(name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

func (e *chaosElem) child(local string) *chaosElem {
	for i := range e.Children {
		if e.Children[i].XMLName.Local == local {
			return &e.Children[i]
		}
	}
	return nil
}

// condition names a stanza or SASL error: its defined condition and type.
func (e *chaosElem) condition() string {
	er := e.child("error")
	if er == nil {
		er = e
	}
	for _, ch := range er.Children {
		if ch.XMLName.Local != "text" {
			return strings.TrimSpace(ch.XMLName.Local + " " + er.attr("type"))
		}
	}
	return "undefined-condition"
}

// mucStatuses lists the XEP-0045 status codes of a presence.
func mucStatuses(e *chaosElem) string {
	var codes []string
	if x := e.child("x"); x != nil {
		for _, ch := range x.Children {
			if ch.XMLName.Local == "status" {
				codes = append(codes, ch.attr("code"))
			}
		}
	}
	return strings.Join(codes, ",")
}

// chaosNext reads the next top-level element of a stream.
func chaosNext(dec *xml.Decoder) (*chaosElem, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			e := new(chaosElem)
			if err := dec.DecodeElement(e, &t); err != nil {
				return nil, err
			}
			if e.XMLName.Local == "error" && e.XMLName.Space == "http://etherx.jabber.org/streams" {
				return nil, fmt.Errorf("stream error: %s", e.condition())
			}
			return e, nil
		case xml.EndElement:
			return nil, errors.New("the server closed the stream")
		}
	}
}
