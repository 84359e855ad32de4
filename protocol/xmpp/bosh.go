package xmpp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// BOSH, XEP-0124 with XMPP over it by XEP-0206: the client POSTs <body/>
// wrappers, each with a request id (rid) one more than the last; the
// server holds up to `hold` requests open, answering each when it has
// something for the client or when `wait` seconds have passed, and
// answers in rid order. The session's stream is an ordinary conn
// (web.go): the session request stands for the stream header, a body
// with xmpp:restart='true' for a restart (XEP-0206 §5), and type='terminate'
// for the stream's end.

const (
	nsHTTPBind = "http://jabber.org/protocol/httpbind"
	nsXBOSH    = "urn:xmpp:xbosh"
)

// The session's parameters (XEP-0124 §7.1): the most we hold a request
// open, how many we hold, how long the client may leave us without one,
// and how long it may pause (§10).
const (
	boshMaxWait    = 60 * time.Second
	boshMaxHold    = 2
	boshInactivity = 60 * time.Second
	boshMaxPause   = 120 * time.Second
)

// BOSHHandler serves BOSH (XEP-0124, XEP-0206), for /http-bind. Requests
// come from an allowed origin (with CORS for listed origins), over TLS or
// from loopback; each address may hold Config.MaxWebSessionsPerIP web
// sessions.
func (s *Server) BOSHHandler() http.Handler { return http.HandlerFunc(s.serveBOSH) }

// boshSessions is the server's BOSH sessions by sid.
type boshSessions struct {
	mu   sync.Mutex
	byID map[string]*boshSession
}

func newBOSHSessions() *boshSessions { return &boshSessions{byID: make(map[string]*boshSession)} }

func (b *boshSessions) get(sid string) *boshSession {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byID[sid]
}

func (b *boshSessions) remove(sess *boshSession) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byID[sess.sid] == sess {
		delete(b.byID, sess.sid)
	}
}

// boshBody is one parsed request.
type boshBody struct {
	attrs    map[string]string // unqualified attributes; xmpp:* and xml:lang by those names
	children [][]byte          // the top-level elements, as they came
}

func (b *boshBody) attr(name string) string { return b.attrs[name] }

// parseBOSHBody reads one <body/> (XEP-0124 §4): its attributes and the
// raw bytes of each child element, which go to the stream as they are.
func parseBOSHBody(raw []byte) (*boshBody, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	d.Strict = true
	var start xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			start = t
		case xml.ProcInst:
			if t.Target == "xml" {
				continue
			}
			return nil, errors.New("processing instruction")
		case xml.CharData:
			if isWhitespace(t) {
				continue
			}
			return nil, errors.New("text before <body/>")
		default:
			return nil, fmt.Errorf("%w: %T", errRestrictedXML, tok)
		}
		break
	}
	if start.Name.Space != nsHTTPBind || start.Name.Local != "body" {
		return nil, fmt.Errorf("expected <body xmlns='%s'/>", nsHTTPBind)
	}
	b := &boshBody{attrs: make(map[string]string)}
	for _, a := range start.Attr {
		switch a.Name.Space {
		case "":
			b.attrs[a.Name.Local] = a.Value
		case nsXBOSH:
			b.attrs["xmpp:"+a.Name.Local] = a.Value
		case nsXML:
			b.attrs["xml:"+a.Name.Local] = a.Value
		}
	}
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := d.Skip(); err != nil {
				return nil, err
			}
			b.children = append(b.children, bytes.TrimSpace(raw[off:d.InputOffset()]))
		case xml.EndElement:
			return b, nil
		case xml.CharData:
			if !isWhitespace(t) {
				return nil, errors.New("text in <body/>")
			}
		default:
			return nil, fmt.Errorf("%w: %T", errRestrictedXML, tok)
		}
	}
}

// boshSession is one BOSH session: its stream's pipe, the requests it
// holds, and what waits for the next response.
type boshSession struct {
	srv    *Server
	sid    string
	ip     string
	pipe   net.Conn
	secure bool

	wait, inactivity time.Duration
	hold             int

	// in serialises writes to the pipe, in rid order.
	in sync.Mutex

	mu       sync.Mutex
	next     int64             // the rid to process next
	turn     chan struct{}     // closed and renewed when next moves
	held     []*boshHeld       // requests waiting for something to send, in rid order
	out      [][]byte          // elements for the next response
	authid   string            // the stream id, once the header came
	ended    bool              // the stream ended (or the session expired)
	endErr   []byte            // the stream error it ended with, if any
	sent     map[int64][]byte  // the last responses, by rid, for retransmission (§14)
	active   int               // requests being handled now
	idle     *time.Timer       // inactivity timer, running while no request is held
	pause    time.Duration     // the inactivity allowed after a pause request
	released bool              // the per-address slot is given back
	created  map[string]string // the session response's attributes
	firstRID int64
}

// boshHeld is a request waiting for its response.
type boshHeld struct {
	rid   int64
	reply chan []byte // the body to send, once
}

func (s *Server) serveBOSH(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		s.web.refused.WithLabelValues(string(transportBOSH), "origin").Inc()
		http.Error(w, "origin not allowed (--http-allowed-origins)", http.StatusForbidden)
		return
	}
	if o := r.Header.Get("Origin"); o != "" {
		// CORS, for a web client served from another allowed origin.
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Set("Vary", "Origin")
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.Header().Set("Access-Control-Max-Age", "86400")
	}
	switch r.Method {
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, "BOSH (XEP-0124) takes POST", http.StatusMethodNotAllowed)
		return
	}
	ip, ok := s.webRequest(w, r, transportBOSH)
	if !ok {
		return
	}
	// A body holds one stanza or a few: the stanza limit with room for
	// the wrapper and a few more small ones.
	max := s.limit().MaxStanzaSize + 16<<10
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeBOSH(w, boshTerminate("policy-violation", nil))
			return
		}
		return
	}
	body, err := parseBOSHBody(raw)
	if err != nil {
		writeBOSHStatus(w, http.StatusBadRequest, boshTerminate("bad-request", nil))
		return
	}
	rid, err := strconv.ParseInt(body.attr("rid"), 10, 64)
	if err != nil || rid <= 0 || rid >= 1<<53 {
		writeBOSHStatus(w, http.StatusBadRequest, boshTerminate("bad-request", nil))
		return
	}
	sid := body.attr("sid")
	if sid == "" {
		s.createBOSH(w, r, ip, rid, body)
		return
	}
	sess := s.bosh.get(sid)
	if sess == nil {
		// §17.2: an unknown (or expired) session.
		writeBOSH(w, boshTerminate("item-not-found", nil))
		return
	}
	sess.handle(w, r, rid, body)
}

// createBOSH makes a session (XEP-0124 §7, XEP-0206 §4) and answers its
// first request with the session's parameters and the stream features.
func (s *Server) createBOSH(w http.ResponseWriter, r *http.Request, ip string, rid int64, body *boshBody) {
	if body.attr("to") != "" && body.attr("to") != s.cfg.Domain {
		writeBOSH(w, boshTerminate("host-unknown", nil))
		return
	}
	if !s.web.acquire(ip, transportBOSH) {
		writeBOSH(w, boshTerminate("policy-violation", nil))
		return
	}
	pipe, ok := s.startWebStream(&net.TCPAddr{IP: net.ParseIP(ip)})
	if !ok {
		s.web.refused.WithLabelValues(string(transportBOSH), "closing").Inc()
		s.web.release(ip, transportBOSH)
		writeBOSH(w, boshTerminate("system-shutdown", nil))
		return
	}
	wait := boshMaxWait
	if v, err := strconv.Atoi(body.attr("wait")); err == nil && v >= 0 && time.Duration(v)*time.Second < wait {
		wait = time.Duration(v) * time.Second
	}
	hold := 1
	if v, err := strconv.Atoi(body.attr("hold")); err == nil && v >= 0 {
		hold = min(v, boshMaxHold)
	}
	sess := &boshSession{
		srv: s, sid: randomID(24), ip: ip, pipe: pipe, secure: r.TLS != nil,
		wait: wait, hold: hold, inactivity: boshInactivity,
		next: rid, turn: make(chan struct{}), sent: make(map[int64][]byte), firstRID: rid,
	}
	sess.created = map[string]string{
		"sid":               sess.sid,
		"wait":              strconv.Itoa(int(wait / time.Second)),
		"hold":              strconv.Itoa(hold),
		"requests":          strconv.Itoa(hold + 1),
		"inactivity":        strconv.Itoa(int(boshInactivity / time.Second)),
		"maxpause":          strconv.Itoa(int(boshMaxPause / time.Second)),
		"polling":           "2",
		"ver":               "1.11",
		"from":              s.cfg.Domain,
		"secure":            strconv.FormatBool(sess.secure),
		"xmpp:version":      "1.0",
		"xmpp:restartlogic": "true",
	}
	s.bosh.mu.Lock()
	s.bosh.byID[sess.sid] = sess
	s.bosh.mu.Unlock()
	go sess.readStream()
	ver := body.attr("xmpp:version")
	if ver == "" {
		ver = "1.0"
	}
	body.children = append([][]byte{clientHeader(s.cfg.Domain, ver, body.attr("xml:lang"))}, body.children...)
	sess.handle(w, r, rid, body)
}

// handle processes one request of the session, in rid order, and answers
// it when it has something to send, after `wait`, or when a newer request
// takes its place.
func (b *boshSession) handle(w http.ResponseWriter, r *http.Request, rid int64, body *boshBody) {
	// Let a response be as late as the wait the session allows.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(2*b.wait + 10*time.Second))
	b.mu.Lock()
	b.active++
	b.stopIdleLocked()
	defer func() {
		b.mu.Lock()
		b.active--
		b.idleLocked()
		b.mu.Unlock()
	}()
	switch {
	case rid < b.next:
		// §14: a request the client sends again because it lost the
		// response.
		resp, ok := b.sent[rid]
		b.mu.Unlock()
		if !ok {
			resp = boshResponse(nil, nil)
		}
		writeBOSH(w, resp)
		return
	case rid > b.next+int64(b.hold):
		// §14: beyond the window of requests the client may have open.
		b.mu.Unlock()
		writeBOSH(w, boshTerminate("item-not-found", nil))
		b.end()
		return
	}
	// Wait for the requests before this one (they may come out of order).
	for rid != b.next {
		turn := b.turn
		b.mu.Unlock()
		select {
		case <-turn:
		case <-r.Context().Done():
			return
		case <-time.After(b.wait):
			writeBOSH(w, boshTerminate("item-not-found", nil))
			b.end()
			return
		}
		b.mu.Lock()
	}
	ended := b.ended
	b.mu.Unlock()

	var in [][]byte
	terminate := body.attr("type") == "terminate"
	switch {
	case ended:
	case body.attr("xmpp:restart") == "true":
		// XEP-0206 §5: a stream restart after SASL.
		in = append(in, clientHeader(b.srv.cfg.Domain, "1.0", body.attr("xml:lang")))
	default:
		in = body.children
	}
	if terminate {
		in = append(in, []byte("</stream:stream>"))
	}
	b.in.Lock()
	for _, el := range in {
		if _, err := b.pipe.Write(el); err != nil {
			break
		}
	}
	b.in.Unlock()

	b.mu.Lock()
	b.next++
	close(b.turn)
	b.turn = make(chan struct{})
	if p, err := strconv.Atoi(body.attr("pause")); err == nil && p > 0 {
		// §10: answer every held request now; the client is back
		// within the pause.
		b.pause = min(time.Duration(p)*time.Second, boshMaxPause)
		for len(b.held) > 0 {
			b.respondLocked(nil)
		}
	}
	if terminate {
		b.mu.Unlock()
		resp := boshResponse(map[string]string{"type": "terminate"}, nil)
		b.remember(rid, resp)
		writeBOSH(w, resp)
		b.end()
		return
	}
	h := &boshHeld{rid: rid, reply: make(chan []byte, 1)}
	b.held = append(b.held, h)
	b.flushLocked()
	b.mu.Unlock()

	timer := time.NewTimer(b.wait)
	defer timer.Stop()
	var resp []byte
	select {
	case resp = <-h.reply:
	case <-timer.C:
	case <-r.Context().Done():
	}
	if resp == nil {
		b.mu.Lock()
		if b.unhold(h) {
			resp = b.bodyLocked(h.rid, nil)
		}
		b.mu.Unlock()
		if resp == nil {
			resp = <-h.reply
		}
	}
	writeBOSH(w, resp)
}

// flushLocked answers held requests: the oldest gets what is waiting;
// beyond `hold`, the oldest are answered empty; once the stream ended,
// every one is answered with the end.
func (b *boshSession) flushLocked() {
	for len(b.held) > 0 && (len(b.out) > 0 || b.ended) {
		b.respondLocked(b.out)
		b.out = nil
	}
	for len(b.held) > b.hold {
		b.respondLocked(nil)
	}
}

// respondLocked answers the oldest held request with els.
func (b *boshSession) respondLocked(els [][]byte) {
	h := b.held[0]
	b.held = b.held[1:]
	h.reply <- b.bodyLocked(h.rid, els)
}

// bodyLocked builds the response to rid, remembers it for retransmission
// and returns it.
func (b *boshSession) bodyLocked(rid int64, els [][]byte) []byte {
	var attrs map[string]string
	if rid == b.firstRID {
		attrs = b.created
		if b.authid != "" {
			attrs["authid"] = b.authid
		}
	}
	var resp []byte
	if b.ended {
		cond := ""
		if b.endErr != nil {
			cond = "remote-stream-error"
			els = append(els, b.endErr)
			b.endErr = nil
		}
		resp = boshTerminate(cond, els)
	} else {
		resp = boshResponse(attrs, els)
	}
	b.sent[rid] = resp
	delete(b.sent, rid-int64(b.hold)-1)
	return resp
}

func (b *boshSession) remember(rid int64, resp []byte) {
	b.mu.Lock()
	b.sent[rid] = resp
	b.mu.Unlock()
}

// unhold removes h from the held requests, reporting whether it was there.
func (b *boshSession) unhold(h *boshHeld) bool {
	for i, o := range b.held {
		if o == h {
			b.held = append(b.held[:i], b.held[i+1:]...)
			return true
		}
	}
	return false
}

// idleLocked starts the inactivity timer when no request is open (§7.1
// inactivity, §10 pause).
func (b *boshSession) idleLocked() {
	if b.active > 0 || b.idle != nil {
		return
	}
	d := b.inactivity
	if b.pause > 0 {
		d, b.pause = b.pause, 0
	}
	if b.ended {
		d = 5 * time.Second // time to fetch the end, then forget the sid
	}
	b.idle = time.AfterFunc(d, b.end)
}

func (b *boshSession) stopIdleLocked() {
	if b.idle != nil {
		b.idle.Stop()
		b.idle = nil
	}
}

// end closes the session: its stream ends (the conn sees its pipe
// closed), the sid is forgotten and the address's slot given back.
func (b *boshSession) end() {
	_ = b.pipe.Close()
	b.srv.bosh.remove(b)
	b.mu.Lock()
	b.ended = true
	b.flushLocked()
	release := !b.released
	b.released = true
	b.mu.Unlock()
	if release {
		b.srv.web.release(b.ip, transportBOSH)
	}
}

// readStream collects what the conn writes into elements for the next
// responses until the conn closes its end of the pipe.
func (b *boshSession) readStream() {
	split := &xmlSplitter{emit: func(k unitKind, el []byte) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch k {
		case unitHeader:
			// The session response says what the header would.
			_, attrs := tagAttrs(el)
			for _, a := range attrs {
				if a[0] == "id" {
					b.authid = a[1]
				}
			}
		case unitElement:
			q := bytes.Clone(qualify(el))
			if bytes.HasPrefix(q, []byte("<stream:error")) {
				b.endErr = q
				return
			}
			b.out = append(b.out, q)
			b.flushLocked()
		case unitEnd:
			b.ended = true
			b.flushLocked()
		}
	}}
	buf := make([]byte, 4096)
	for {
		n, err := b.pipe.Read(buf)
		if n > 0 {
			_, _ = split.Write(buf[:n])
		}
		if err != nil {
			break
		}
	}
	b.mu.Lock()
	b.ended = true
	b.flushLocked()
	b.mu.Unlock()
	b.srv.bosh.remove(b)
	b.mu.Lock()
	release := !b.released
	b.released = true
	b.mu.Unlock()
	if release {
		b.srv.web.release(b.ip, transportBOSH)
	}
}

// boshResponse is a <body/> with attrs and the elements els.
func boshResponse(attrs map[string]string, els [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(`<body xmlns='` + nsHTTPBind + `' xmlns:xmpp='` + nsXBOSH + `' xmlns:stream='` + nsStreams + `'`)
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(" " + k + `="`)
		escapeAttr(&b, attrs[k])
		b.WriteByte('"')
	}
	if len(els) == 0 {
		b.WriteString("/>")
		return b.Bytes()
	}
	b.WriteByte('>')
	for _, el := range els {
		b.Write(el)
	}
	b.WriteString("</body>")
	return b.Bytes()
}

// boshTerminate is a terminating <body/> (§17) with condition, if any.
func boshTerminate(condition string, els [][]byte) []byte {
	attrs := map[string]string{"type": "terminate"}
	if condition != "" {
		attrs["condition"] = condition
	}
	return boshResponse(attrs, els)
}

func writeBOSH(w http.ResponseWriter, body []byte) { writeBOSHStatus(w, http.StatusOK, body) }

func writeBOSHStatus(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
