package sip

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/icholy/digest"

	"github.com/parleychat/parley/muc"
)

// wsPeer is a browser-like SIP client (RFC 7118): its own WebSocket
// connection with subprotocol "sip", hand-written requests, and an
// invalid host in Via and Contact as SIP.js and JsSIP send.
type wsPeer struct {
	t    *testing.T
	conn net.Conn
	cseq int
}

const wsHost = "df7jal23ls0d.invalid"

func dialWS(t *testing.T, url string) *wsPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, _, hs, err := ws.Dialer{Protocols: []string{"sip"}}.Dial(ctx, url)
	if err != nil {
		t.Fatalf("WebSocket to %s: %v", url, err)
	}
	if hs.Protocol != "sip" {
		t.Errorf("subprotocol %q, want sip", hs.Protocol)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsPeer{t: t, conn: conn}
}

func (p *wsPeer) write(msg string) {
	p.t.Helper()
	if err := wsutil.WriteClientText(p.conn, []byte(msg)); err != nil {
		p.t.Fatalf("writing a frame: %v", err)
	}
}

// read returns the next SIP message from the server.
func (p *wsPeer) read() sip.Message {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	data, err := wsutil.ReadServerText(p.conn)
	if err != nil {
		p.t.Fatalf("reading a frame: %v", err)
	}
	msg, err := sip.NewParser().ParseSIP(data)
	if err != nil {
		p.t.Fatalf("parsing %q: %v", data, err)
	}
	return msg
}

// response reads until a response comes, answering requests with 200 and
// handing them to got.
func (p *wsPeer) response(got func(*sip.Request)) *sip.Response {
	p.t.Helper()
	for {
		switch m := p.read().(type) {
		case *sip.Response:
			return m
		case *sip.Request:
			p.write(sip.NewResponseFromRequest(m, 200, "OK", nil).String())
			if got != nil {
				got(m)
			}
		}
	}
}

// request builds a request from user to uri with extra headers and body.
func (p *wsPeer) request(method, uri, user string, extra []string, body string) string {
	p.cseq++
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/WSS %s;branch=z9hG4bK%d%d\r\n", wsHost, time.Now().UnixNano(), p.cseq)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=ws%s\r\n", user, testDomain, user)
	to := uri
	if method == "REGISTER" {
		to = "sip:" + user + "@" + testDomain
	}
	fmt.Fprintf(&b, "To: <%s>\r\nCall-ID: ws-%s-%s\r\nCSeq: %d %s\r\n", to, user, method, p.cseq, method)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s;transport=ws>\r\n", user, wsHost)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// authed sends a request, answers its challenge with MD5 and returns the
// final response.
func (p *wsPeer) authed(method, uri, user, pw string, extra []string, body string, got func(*sip.Request)) *sip.Response {
	p.t.Helper()
	p.write(p.request(method, uri, user, extra, body))
	res := p.response(got)
	header, answer := "Proxy-Authenticate", "Proxy-Authorization"
	if res.StatusCode == 401 {
		header, answer = "WWW-Authenticate", "Authorization"
	} else if res.StatusCode != 407 {
		p.t.Fatalf("%s: %s, want a challenge", method, res.StartLine())
	}
	var chal *digest.Challenge
	for _, h := range res.GetHeaders(header) {
		if c, err := digest.ParseChallenge(h.Value()); err == nil && c.Algorithm == "MD5" {
			chal = c
		}
	}
	if chal == nil {
		p.t.Fatalf("no MD5 challenge in %s", res.StartLine())
	}
	cred, err := digest.Digest(chal, digest.Options{Method: method, URI: uri, Username: user, Password: pw, Count: 1, Cnonce: "ws"})
	if err != nil {
		p.t.Fatal(err)
	}
	p.write(p.request(method, uri, user, append(extra, answer+": "+cred.String()), body))
	return p.response(got)
}

func TestWebSocket(t *testing.T) {
	ts, engine := newRoomServer(t)
	ctx := context.Background()
	web := httptest.NewServer(ts.srv.WebSocketHandler())
	t.Cleanup(web.Close)
	url := "ws" + strings.TrimPrefix(web.URL, "http") + "/sip"

	carol := make(recorder, 100)
	carolAddr := "carol@" + testDomain + "/xmpp"
	if err := engine.Join(ctx, muc.JoinRequest{Room: "lobby", Nick: "carol", User: "carol@" + testDomain,
		Session: muc.Session{Address: carolAddr, FrontDoor: "xmpp", Sink: carol}}); err != nil {
		t.Fatal(err)
	}

	p := dialWS(t, url)
	if res := p.authed("REGISTER", "sip:"+testDomain, "alice", "wonderland", []string{"Expires: 600"}, "", nil); res.StatusCode != 200 {
		t.Fatalf("REGISTER over WebSocket: %s", res.StartLine())
	}
	if b := ts.srv.Bindings("alice"); len(b) != 1 || b[0].Transport != "WS" {
		t.Errorf("bindings %+v, want one over WS", b)
	}
	var got []string
	collect := func(r *sip.Request) {
		if r.Method == sip.MESSAGE {
			got = append(got, string(r.Body()))
		}
	}
	room := "sip:lobby@conference." + testDomain
	ct := []string{"Content-Type: text/plain"}
	if res := p.authed("MESSAGE", room, "alice", "wonderland", ct, "/join", collect); res.StatusCode != 200 {
		t.Fatalf("/join over WebSocket: %s", res.StartLine())
	}
	if res := p.authed("MESSAGE", room, "alice", "wonderland", ct, "hello from a browser", collect); res.StatusCode != 200 {
		t.Fatalf("post over WebSocket: %s", res.StartLine())
	}
	ev := carol.next(t, muc.EventMessage)
	for ev.Message.FrontDoor != "sip" {
		ev = carol.next(t, muc.EventMessage)
	}
	if ev.Message.Body != "hello from a browser" || ev.Message.RealJID != "alice@"+testDomain {
		t.Errorf("carol got %+v", ev.Message)
	}
	// The room's MESSAGEs come back over the same WebSocket.
	if _, err := engine.Post(ctx, muc.PostRequest{Room: "lobby", Address: carolAddr, FrontDoor: "xmpp", Body: "hi browser"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !containsPrefix(got, "carol: hi browser") && time.Now().Before(deadline) {
		m := p.read()
		if r, ok := m.(*sip.Request); ok {
			p.write(sip.NewResponseFromRequest(r, 200, "OK", nil).String())
			collect(r)
		}
	}
	if len(got) < 2 || !strings.HasPrefix(got[0], "You joined lobby as alice.") || !containsPrefix(got, "carol: hi browser") {
		t.Errorf("MESSAGEs over the WebSocket %q", got)
	}

	// Not a WebSocket, or not for SIP: refused by HTTP.
	res, err := http.Get(web.URL + "/sip")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET: %d, want 426", res.StatusCode)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, _, _, err := (ws.Dialer{Protocols: []string{"xmpp"}}).Dial(dctx, url); err == nil {
		t.Errorf("a WebSocket without the sip subprotocol was accepted")
	}
	// A page of another site: refused (403) before the handshake; a page
	// of the server's own origin is let in.
	for origin, want := range map[string]bool{"https://evil.example": false, web.URL: true} {
		d := ws.Dialer{Protocols: []string{"sip"}, Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {origin}})}
		conn, _, _, err := d.Dial(dctx, url)
		if conn != nil {
			conn.Close()
		}
		if got := err == nil; got != want {
			t.Errorf("WebSocket from a page of %s: accepted %v (err %v), want %v", origin, got, err, want)
		}
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
