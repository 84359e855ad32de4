package xmpp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"mellium.im/sasl"
	mxmpp "mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/websocket"
)

// webServer serves the server's web transports over plain HTTP on
// loopback (secure, as from a TLS proxy on the host) and returns its base
// URL.
func webServer(t testing.TB, ts *testServer) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /xmpp-websocket", ts.srv.WebSocketHandler())
	mux.Handle("/http-bind", ts.srv.BOSHHandler())
	hm := ts.srv.HostMetaHandler("/xmpp-websocket", "/http-bind")
	mux.Handle("GET /.well-known/host-meta", hm)
	mux.Handle("GET /.well-known/host-meta.json", hm)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs.URL
}

// wsClient is a raw RFC 7395 client on gobwas/ws's client side: every
// message it reads must be one whole XML document.
type wsClient struct {
	t    testing.TB
	conn net.Conn
}

func dialWS(t testing.TB, base string, header http.Header, protocols ...string) (*wsClient, error) {
	t.Helper()
	if protocols == nil {
		protocols = []string{"xmpp"}
	}
	d := ws.Dialer{Protocols: protocols, Header: ws.HandshakeHeaderHTTP(header), Timeout: 5 * time.Second}
	conn, _, _, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(base, "http")+"/xmpp-websocket")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, conn: conn}, nil
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientText(c.conn, []byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next reads one message and parses it as a document of its own (RFC
// 7395 §3.3.3).
func (c *wsClient) next() *Element {
	c.t.Helper()
	el, err := c.nextOrErr()
	if err != nil {
		c.t.Fatalf("reading a message: %v", err)
	}
	return el
}

func (c *wsClient) nextOrErr() (*Element, error) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	msg, op, err := wsutil.ReadServerData(c.conn)
	if err != nil {
		return nil, err
	}
	if op != ws.OpText {
		c.t.Fatalf("message with opcode %v", op)
	}
	return parseDocument(c.t, msg), nil
}

// parseDocument parses b as one whole XML document holding one element,
// with its namespaces declared in it.
func parseDocument(t testing.TB, b []byte) *Element {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var el *Element
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not a well-formed document (%v): %s", err, b)
		}
		if start, ok := tok.(xml.StartElement); ok {
			if el != nil {
				t.Fatalf("more than one element in a message: %s", b)
			}
			if el, err = readElement(d, start, nil); err != nil {
				t.Fatalf("not a well-formed document (%v): %s", err, b)
			}
		}
	}
	if el == nil {
		t.Fatalf("no element in %q", b)
	}
	return el
}

const openFrame = `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`

// open sends <open/> and reads <open/> and the features.
func (c *wsClient) open() *Element {
	c.t.Helper()
	c.send(openFrame)
	if o := c.next(); o.Name.Space != nsFraming || o.Name.Local != "open" || o.AttrValue("from") != "localhost" || o.AttrValue("id") == "" || o.AttrValue("version") != "1.0" {
		c.t.Fatalf("expected <open/> from localhost with an id, got %s", o)
	}
	f := c.next()
	if f.Name.Space != nsStreams || f.Name.Local != "features" {
		c.t.Fatalf("expected features, got %s", f)
	}
	return f
}

func plainAuth(user, password string) string {
	return `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)) + `</auth>`
}

// login authenticates with PLAIN, restarts and binds resource.
func (c *wsClient) login(user, password, resource string) string {
	c.t.Helper()
	c.open()
	c.send(plainAuth(user, password))
	if el := c.next(); el.Name.Local != "success" {
		c.t.Fatalf("auth: %s", el)
	}
	f := c.open()
	if f.Child(nsBind, "bind") == nil {
		c.t.Fatalf("no bind after auth: %s", f)
	}
	c.send(`<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>` + resource + `</resource></bind></iq>`)
	el := c.next()
	if el.Name.Space != nsClient || el.AttrValue("type") != "result" {
		c.t.Fatalf("bind: want an iq result in jabber:client, got %s (namespace %q)", el, el.Name.Space)
	}
	return el.Child(nsBind, "bind").Child(nsBind, "jid").Text()
}

// RFC 7395 §3.3-3.6: <open/> and features, each a document with its
// namespaces; no STARTTLS on a secure transport; SASL, restart with a new
// <open/>, bind; stanzas to and from a TCP client; <close/> answered with
// <close/> and the WebSocket closed.
func TestWebSocketFraming(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "pw-alice")
	ts.addUser(t, "bob", "pw-bob")
	base := webServer(t, ts)
	c, err := dialWS(t, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := c.open()
	if f.Child(nsTLS, "starttls") != nil {
		t.Errorf("STARTTLS offered over WebSocket: %s", f)
	}
	if f.Child(nsSASL, "mechanisms") == nil {
		t.Fatalf("no SASL mechanisms: %s", f)
	}
	c.send(plainAuth("alice", "pw-alice"))
	if el := c.next(); el.Name.Space != nsSASL || el.Name.Local != "success" {
		t.Fatalf("auth: %s", el)
	}
	c.open()
	c.send(`<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>`)
	if el := c.next(); el.Name.Space != nsClient || el.AttrValue("type") != "result" {
		t.Fatalf("bind: %s", el)
	}

	bob := ts.online(t, "bob", "pw-bob", "tcp")
	c.send(`<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat' id='m1'><body>hello over websocket</body></message>`)
	got := bob.expect("alice's message", func(e *Element) bool { return e.Name.Local == "message" })
	if got.AttrValue("from") != "alice@localhost/web" || got.Child(nsClient, "body").Text() != "hello over websocket" {
		t.Errorf("bob got %s", got)
	}
	bob.send(`<message to='alice@localhost/web' type='chat' id='m2'><body>and back</body></message>`)
	for {
		el := c.next()
		if el.Name.Local != "message" {
			continue
		}
		if el.Name.Space != nsClient || el.Child(nsClient, "body").Text() != "and back" {
			t.Fatalf("alice got %s", el)
		}
		break
	}

	c.send(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`)
	for {
		el, err := c.nextOrErr()
		if err != nil {
			t.Fatalf("waiting for <close/>: %v", err)
		}
		if el.Name.Space == nsFraming && el.Name.Local == "close" {
			break
		}
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = wsutil.ReadServerData(c.conn)
	var closed wsutil.ClosedError
	if !errors.As(err, &closed) || closed.Code != ws.StatusNormalClosure {
		t.Errorf("after <close/>: want a close frame 1000, got %v", err)
	}
}

// A client library no one here wrote, mellium.im/xmpp's websocket
// package, logs in with SCRAM-SHA-256 and binds over our WebSocket
// endpoint, then exchanges a message with a TCP client.
func TestWebSocketMelliumClient(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "pw-alice")
	ts.addUser(t, "bob", "pw-bob")
	base := webServer(t, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := websocket.Dialer{Origin: base, TLSConfig: &tls.Config{}}
	conn, err := d.DialDirect(ctx, "ws"+strings.TrimPrefix(base, "http")+"/xmpp-websocket")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	alice := jid.MustParse("alice@localhost")
	sess, err := mxmpp.NewSession(ctx, alice.Domain(), alice, conn, mxmpp.Secure, websocket.Negotiator(func(*mxmpp.Session, *mxmpp.StreamConfig) mxmpp.StreamConfig {
		return mxmpp.StreamConfig{Features: []mxmpp.StreamFeature{
			mxmpp.SASL("", "pw-alice", sasl.ScramSha256),
			mxmpp.BindResource(),
		}}
	}))
	if err != nil {
		t.Fatalf("mellium session over WebSocket: %v", err)
	}
	defer sess.Close()
	if !strings.HasPrefix(sess.LocalAddr().String(), "alice@localhost/") {
		t.Fatalf("bound %s", sess.LocalAddr())
	}
	bob := ts.online(t, "bob", "pw-bob", "tcp")
	msg := stanza.Message{To: jid.MustParse("bob@localhost/tcp"), Type: stanza.ChatMessage}
	body := struct {
		stanza.Message
		Body string `xml:"body"`
	}{Message: msg, Body: "from mellium"}
	if err := sess.Encode(ctx, body); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := bob.expect("mellium's message", func(e *Element) bool { return e.Name.Local == "message" })
	if got.Child(nsClient, "body").Text() != "from mellium" || got.AttrValue("from") != sess.LocalAddr().String() {
		t.Errorf("bob got %s", got)
	}
}

// The handshake's refusals: no "xmpp" subprotocol, a foreign origin, and
// more web sessions from one address than allowed.
func TestWebSocketRefusals(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.MaxWebSessionsPerIP = 1
		c.WebAllowedOrigins = []string{"https://chat.example.org"}
	})
	base := webServer(t, ts)
	if _, err := dialWS(t, base, nil, "sip"); !isStatus(err, http.StatusBadRequest) {
		t.Errorf("without the xmpp subprotocol: want 400, got %v", err)
	}
	if _, err := dialWS(t, base, http.Header{"Origin": {"https://evil.example"}}); !isStatus(err, http.StatusForbidden) {
		t.Errorf("from a foreign origin: want 403, got %v", err)
	}
	c, err := dialWS(t, base, http.Header{"Origin": {"https://chat.example.org"}})
	if err != nil {
		t.Fatalf("from a listed origin: %v", err)
	}
	c.open()
	if _, err := dialWS(t, base, http.Header{"Origin": {base}}); !isStatus(err, http.StatusTooManyRequests) {
		t.Errorf("a second web session from the address: want 429, got %v", err)
	}
	// The slot comes back when the first session ends.
	c.conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c2, err := dialWS(t, base, http.Header{"Origin": {base}})
		if err == nil {
			c2.open()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the address's slot was not given back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isStatus(err error, code int) bool {
	var s ws.StatusError
	return errors.As(err, &s) && int(s) == code
}

// A message over the stanza size limit ends the stream with
// policy-violation, <close/> and close code 1009; a binary message with
// unsupported-stanza-type.
func TestWebSocketBadInput(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxStanzaSize = 4096 })
	base := webServer(t, ts)
	for _, tc := range []struct {
		name      string
		send      func(c *wsClient)
		condition string
		code      ws.StatusCode
	}{
		{"oversize", func(c *wsClient) {
			c.send(`<message xmlns='jabber:client'><body>` + strings.Repeat("x", 5000) + `</body></message>`)
		}, "policy-violation", ws.StatusMessageTooBig},
		{"binary", func(c *wsClient) {
			_ = wsutil.WriteClientBinary(c.conn, []byte(openFrame))
		}, "unsupported-stanza-type", ws.StatusUnsupportedData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialWS(t, base, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.open()
			tc.send(c)
			el := c.next()
			if el.Name.Space != nsStreams || el.Name.Local != "error" || el.Child(nsStreamE, tc.condition) == nil {
				t.Fatalf("want stream error %s, got %s", tc.condition, el)
			}
			if el := c.next(); el.Name.Local != "close" {
				t.Fatalf("want <close/>, got %s", el)
			}
			_, _, err = wsutil.ReadServerData(c.conn)
			var closed wsutil.ClosedError
			if !errors.As(err, &closed) || closed.Code != tc.code {
				t.Errorf("want close code %d, got %v", tc.code, err)
			}
		})
	}
}

// XEP-0156 §3: host-meta and host-meta.json name both endpoints on the
// host and scheme asked.
func TestHostMeta(t *testing.T) {
	ts := startServer(t)
	base := webServer(t, ts)
	host := strings.TrimPrefix(base, "http://")
	for path, want := range map[string][]string{
		"/.well-known/host-meta":      {`rel='urn:xmpp:alt-connections:websocket' href='ws://` + host + `/xmpp-websocket'`, `rel='urn:xmpp:alt-connections:xbosh' href='http://` + host + `/http-bind'`},
		"/.well-known/host-meta.json": {`{"href":"ws://` + host + `/xmpp-websocket","rel":"urn:xmpp:alt-connections:websocket"}`, `{"href":"http://` + host + `/http-bind","rel":"urn:xmpp:alt-connections:xbosh"}`},
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: want %s in\n%s", path, w, b)
			}
		}
	}
}
