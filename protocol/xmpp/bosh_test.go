package xmpp

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// boshClient is a raw XEP-0124 client on net/http.
type boshClient struct {
	t    testing.TB
	url  string
	sid  string
	rid  int64
	http *http.Client
}

func newBOSHClient(t testing.TB, base string) *boshClient {
	return &boshClient{t: t, url: base + "/http-bind", rid: 1000, http: &http.Client{Timeout: 20 * time.Second}}
}

// post sends one body and parses the response body as a document of its
// own.
func (c *boshClient) post(body string) *Element {
	c.t.Helper()
	el, err := c.postErr(body)
	if err != nil {
		c.t.Fatal(err)
	}
	return el
}

func (c *boshClient) postErr(body string) (*Element, error) {
	resp, err := c.http.Post(c.url, "text/xml; charset=utf-8", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		return nil, fmt.Errorf("status %d, content type %q: %s", resp.StatusCode, ct, b)
	}
	el := parseDocument(c.t, b)
	if el.Name.Space != nsHTTPBind || el.Name.Local != "body" {
		return nil, fmt.Errorf("not a BOSH body: %s", b)
	}
	return el, nil
}

// req is a body with the next rid and the session's sid.
func (c *boshClient) req(attrs string, payload string) string {
	c.rid++
	return fmt.Sprintf(`<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='%d' sid='%s' %s>%s</body>`, c.rid, c.sid, attrs, payload)
}

// create starts a session with wait and hold and returns the first
// response (which carries the features, XEP-0206 §4).
func (c *boshClient) create(wait, hold int) *Element {
	c.t.Helper()
	el := c.post(fmt.Sprintf(`<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' content='text/xml; charset=utf-8' rid='%d' to='localhost' wait='%d' hold='%d' ver='1.6' xml:lang='en' xmpp:version='1.0'/>`, c.rid, wait, hold))
	c.sid = el.AttrValue("sid")
	if c.sid == "" || el.AttrValue("type") == "terminate" {
		c.t.Fatalf("no session: %s", el)
	}
	return el
}

// elements posts until the server sends something, and returns it.
func (c *boshClient) elements(attrs, payload string) []*Element {
	c.t.Helper()
	el := c.post(c.req(attrs, payload))
	for len(el.Elements()) == 0 && el.AttrValue("type") != "terminate" {
		el = c.post(c.req("", ""))
	}
	return el.Elements()
}

// login creates a session, authenticates with PLAIN, restarts and binds.
func (c *boshClient) login(user, password, resource string) {
	c.t.Helper()
	el := c.create(5, 1)
	if el.Child(nsStreams, "features") == nil {
		// The features may come in a later response.
		if f := c.elements("", ""); len(f) == 0 || f[0].Name.Local != "features" {
			c.t.Fatalf("no features: %v", f)
		}
	}
	if got := c.elements("", plainAuth(user, password)); got[0].Name.Local != "success" {
		c.t.Fatalf("auth: %s", got[0])
	}
	f := c.elements(`xmpp:restart='true' to='localhost' xml:lang='en'`, "")
	if f[0].Child(nsBind, "bind") == nil {
		c.t.Fatalf("no bind after restart: %s", f[0])
	}
	got := c.elements("", `<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>`+resource+`</resource></bind></iq>`)
	if got[0].Name.Space != nsClient || got[0].AttrValue("type") != "result" {
		c.t.Fatalf("bind: %s", got[0])
	}
}

// XEP-0206: a session, SASL, a restart and bind over BOSH, stanzas both
// ways with a TCP client, and type='terminate' ending the session.
func TestBOSHSession(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "pw-alice")
	ts.addUser(t, "bob", "pw-bob")
	base := webServer(t, ts)
	c := newBOSHClient(t, base)
	el := c.create(5, 1)
	for attr, want := range map[string]string{"wait": "5", "hold": "1", "requests": "2", "from": "localhost", "ver": "1.11"} {
		if got := el.AttrValue(attr); got != want {
			t.Errorf("session response %s=%q, want %q: %s", attr, got, want, el)
		}
	}
	if el.AttrValue("authid") == "" || el.AttrValue("inactivity") == "" {
		t.Errorf("no authid or inactivity: %s", el)
	}
	f := el.Child(nsStreams, "features")
	if f == nil || f.Child(nsSASL, "mechanisms") == nil || f.Child(nsTLS, "starttls") != nil {
		t.Fatalf("want SASL and no STARTTLS in the first response: %s", el)
	}
	if got := c.elements("", plainAuth("alice", "pw-alice")); got[0].Name.Local != "success" {
		t.Fatalf("auth: %s", got[0])
	}
	f = c.elements(`xmpp:restart='true' to='localhost'`, "")[0]
	if f.Name.Local != "features" || f.Child(nsBind, "bind") == nil {
		t.Fatalf("after restart: %s", f)
	}
	got := c.elements("", `<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bosh</resource></bind></iq>`)
	if got[0].Name.Space != nsClient || got[0].AttrValue("type") != "result" {
		t.Fatalf("bind: %s", got[0])
	}

	bob := ts.online(t, "bob", "pw-bob", "tcp")
	c.post(c.req("", `<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat'><body>hello over BOSH</body></message>`))
	m := bob.expect("alice's message", func(e *Element) bool { return e.Name.Local == "message" })
	if m.AttrValue("from") != "alice@localhost/bosh" || m.Child(nsClient, "body").Text() != "hello over BOSH" {
		t.Errorf("bob got %s", m)
	}
	bob.send(`<message to='alice@localhost/bosh' type='chat'><body>and back</body></message>`)
	var back *Element
	for back == nil {
		for _, e := range c.elements("", "") {
			if e.Name.Local == "message" {
				back = e
			}
		}
	}
	if back.Name.Space != nsClient || back.Child(nsClient, "body").Text() != "and back" {
		t.Errorf("alice got %s", back)
	}

	end := c.post(c.req(`type='terminate'`, `<presence xmlns='jabber:client' type='unavailable'/>`))
	if end.AttrValue("type") != "terminate" {
		t.Errorf("terminate answered %s", end)
	}
	// The session is gone.
	stale := c.post(c.req("", ""))
	if stale.AttrValue("type") != "terminate" || stale.AttrValue("condition") != "item-not-found" {
		t.Errorf("a request to the ended session: want terminate item-not-found, got %s", stale)
	}
}

// XEP-0124 §7-§14: an empty response after wait; a held request answered
// when the next one comes (hold=1); requests that come out of order
// answered in rid order; a repeated rid given the same response; a rid
// beyond the window, and an unknown sid, ending with item-not-found.
func TestBOSHRequests(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "pw-alice")
	base := webServer(t, ts)
	c := newBOSHClient(t, base)
	c.login("alice", "pw-alice", "bosh")

	// wait=5: an idle request comes back empty, not before the wait.
	start := time.Now()
	if el := c.post(c.req("", "")); len(el.Elements()) != 0 || el.AttrValue("type") != "" {
		t.Errorf("idle request answered %s", el)
	}
	if time.Since(start) < 4*time.Second {
		t.Errorf("idle request answered after %s, before the wait", time.Since(start))
	}

	// hold=1: a held request is answered as soon as another comes.
	held := make(chan *Element, 1)
	first := c.req("", "")
	go func() { held <- c.post(first) }()
	time.Sleep(300 * time.Millisecond) // let it be held
	second := c.req("", `<iq xmlns='jabber:client' type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	resp2 := make(chan *Element, 1)
	go func() { resp2 <- c.post(second) }()
	select {
	case el := <-held:
		// It was answered because the second came, maybe with the
		// ping's result.
		_ = el
	case <-time.After(3 * time.Second):
		t.Fatal("the held request was not answered when the next came")
	}
	pong := <-resp2
	_ = pong

	// Out of order: rid N+2 before N+1; both answered, and the stanza in
	// N+1 is processed before the one in N+2.
	n1 := c.req("", `<iq xmlns='jabber:client' type='get' id='o1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	n2 := c.req("", `<iq xmlns='jabber:client' type='get' id='o2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	// Responses are read in rid order, as a client does (§7: they are
	// answered in order).
	var wg sync.WaitGroup
	var r1, r2 *Element
	wg.Add(2)
	go func() { defer wg.Done(); r2 = c.post(n2) }()
	time.Sleep(200 * time.Millisecond)
	go func() { defer wg.Done(); r1 = c.post(n1) }()
	wg.Wait()
	var ids []string
	for _, el := range []*Element{r1, r2} {
		for _, e := range el.Elements() {
			ids = append(ids, e.AttrValue("id"))
		}
	}
	for len(ids) < 2 {
		for _, e := range c.elements("", "") {
			ids = append(ids, e.AttrValue("id"))
		}
	}
	if strings.Join(ids, ",") != "o1,o2" {
		t.Errorf("results in the order %v, want o1 before o2", ids)
	}

	// §14: a retransmitted request gets the same response.
	last := c.req("", `<iq xmlns='jabber:client' type='get' id='r1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	a := c.post(last)
	b := c.post(last)
	if a.String() != b.String() {
		t.Errorf("retransmission answered differently:\n%s\n%s", a, b)
	}

	// A rid beyond the window ends the session.
	c.rid += 5
	if el := c.post(c.req("", "")); el.AttrValue("type") != "terminate" || el.AttrValue("condition") != "item-not-found" {
		t.Errorf("rid beyond the window: want terminate item-not-found, got %s", el)
	}
	// An unknown sid.
	c.sid = "no-such-session"
	if el := c.post(c.req("", "")); el.AttrValue("condition") != "item-not-found" {
		t.Errorf("unknown sid: want item-not-found, got %s", el)
	}
}

// §10 pause answers the held requests at once; a malformed body is 400
// bad-request; a body over the size limit ends with policy-violation; the
// per-address limit refuses a second session.
func TestBOSHPauseAndBadInput(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.MaxStanzaSize = 4096
		c.MaxWebSessionsPerIP = 1
	})
	ts.addUser(t, "alice", "pw-alice")
	base := webServer(t, ts)
	c := newBOSHClient(t, base)
	c.login("alice", "pw-alice", "bosh")

	held := make(chan *Element, 1)
	first := c.req("", "")
	go func() { held <- c.post(first) }()
	time.Sleep(300 * time.Millisecond)
	pause := c.post(c.req(`pause='30'`, ""))
	select {
	case <-held:
	case <-time.After(3 * time.Second):
		t.Fatal("pause did not answer the held request")
	}
	if pause.AttrValue("type") == "terminate" {
		t.Errorf("pause ended the session: %s", pause)
	}

	other := newBOSHClient(t, base)
	el := other.post(`<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost' wait='5' hold='1' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>`)
	if el.AttrValue("type") != "terminate" || el.AttrValue("condition") != "policy-violation" {
		t.Errorf("a second session from the address: want policy-violation, got %s", el)
	}

	resp, err := http.Post(base+"/http-bind", "text/xml", strings.NewReader(`<body xmlns='http://jabber.org/protocol/httpbind' rid='x'`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed body: status %d, want 400", resp.StatusCode)
	}
	big := c.req("", `<message xmlns='jabber:client'><body>`+strings.Repeat("x", 30000)+`</body></message>`)
	if el := c.post(big); el.AttrValue("type") != "terminate" || el.AttrValue("condition") != "policy-violation" {
		t.Errorf("oversize body: want terminate policy-violation, got %s", el)
	}
}
