package sip

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
)

const testDomain = "example.test"

// accounts is an in-memory Accounts with HA1 derived as parleyctl does.
type accounts struct {
	mu    sync.Mutex
	creds map[string][]storage.DigestCredential
}

func (a *accounts) add(t testing.TB, user, password string) {
	t.Helper()
	d, err := auth.DeriveDigestCredentials(user, testDomain, password)
	if err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.creds == nil {
		a.creds = make(map[string][]storage.DigestCredential)
	}
	a.creds[user] = d
}

func (a *accounts) DigestCredential(_ context.Context, user, realm, alg string) (storage.DigestCredential, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, d := range a.creds[user] {
		if d.Realm == realm && d.Algorithm == alg {
			return d, nil
		}
	}
	return storage.DigestCredential{}, storage.ErrNotFound
}

// testServer is a Server on loopback UDP and TCP listeners.
type testServer struct {
	srv      *Server
	accounts *accounts
	udp, tcp string // addresses
}

func newTestServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	ts := &testServer{accounts: &accounts{}}
	ts.accounts.add(t, "alice", "wonderland")
	ts.accounts.add(t, "bob", "builder")
	cfg.Domain = testDomain
	cfg.Accounts = ts.accounts
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = srv
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.udp, ts.tcp = pc.LocalAddr().String(), ln.Addr().String()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srv.ServeUDP(pc) }()
	go func() { defer wg.Done(); srv.ServeTCP(ln) }()
	t.Cleanup(func() {
		pc.Close()
		ln.Close()
		srv.Close()
		wg.Wait()
	})
	return ts
}

// client is a SIP user agent sending from its own UDP port.
type client struct {
	t      testing.TB
	c      *sipgo.Client
	server string
	cseq   uint32
	callID string
}

func newClient(t testing.TB, server string) *client {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("parley-test"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	return &client{t: t, c: c, server: server, callID: fmt.Sprintf("test-%d@127.0.0.1", time.Now().UnixNano())}
}

// register builds a REGISTER for user with the given contacts and extra
// headers ("Name: value").
func (c *client) register(user string, contacts []string, extra ...string) *sip.Request {
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: testDomain})
	aor := sip.Uri{Scheme: "sip", User: user, Host: testDomain}
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: tagParams("t" + strconv.Itoa(int(c.cseq)))})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	cid := sip.CallIDHeader(c.callID)
	req.AppendHeader(&cid)
	c.cseq++
	req.AppendHeader(&sip.CSeqHeader{SeqNo: c.cseq, MethodName: sip.REGISTER})
	for _, ct := range contacts {
		req.AppendHeader(sip.NewHeader("Contact", ct))
	}
	for _, h := range extra {
		name, value, _ := strings.Cut(h, ":")
		req.AppendHeader(sip.NewHeader(name, strings.TrimSpace(value)))
	}
	req.SetDestination(c.server)
	req.SetTransport("UDP")
	return req
}

func (c *client) do(req *sip.Request) *sip.Response {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 5*time.Second)
	defer cancel()
	res, err := c.c.Do(ctx, req)
	if err != nil {
		c.t.Fatalf("%s: %v", req.Method, err)
	}
	return res
}

// answer returns the Authorization value for req answering the challenge
// in res for algorithm alg.
func answer(t testing.TB, req *sip.Request, res *sip.Response, alg, user, password string, nc int) string {
	t.Helper()
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatalf("challenge %q: %v", h.Value(), err)
		}
		if chal.Algorithm != alg {
			continue
		}
		cred, err := digest.Digest(chal, digest.Options{Method: string(req.Method), URI: req.Recipient.String(),
			Username: user, Password: password, Count: nc, Cnonce: "0a4f113b"})
		if err != nil {
			t.Fatal(err)
		}
		return cred.String()
	}
	t.Fatalf("no %s challenge in %s", alg, res.StartLine())
	return ""
}

// registered registers contacts for user with algorithm alg and returns
// the final response.
func (c *client) registered(user, password, alg string, contacts []string, extra ...string) *sip.Response {
	c.t.Helper()
	req := c.register(user, contacts, extra...)
	res := c.do(req)
	if res.StatusCode != 401 {
		c.t.Fatalf("first REGISTER: %s, want 401", res.StartLine())
	}
	req = c.register(user, contacts, append(extra, "Authorization: "+answer(c.t, req, res, alg, user, password, 1))...)
	return c.do(req)
}

func contactsOf(res *sip.Response) map[string]int {
	out := map[string]int{}
	for _, h := range res.GetHeaders("Contact") {
		ct := h.(*sip.ContactHeader)
		e, _ := ct.Params.Get("expires")
		n, _ := strconv.Atoi(e)
		out[ct.Address.String()] = n
	}
	return out
}

func TestOptions(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := newClient(t, ts.udp)
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: testDomain})
	req.SetDestination(ts.udp)
	res := c.do(req)
	if res.StatusCode != 200 {
		t.Fatalf("OPTIONS: %s", res.StartLine())
	}
	for h, want := range map[string]string{"Allow": "REGISTER, OPTIONS", "Accept": "text/plain, message/cpim", "Supported": "outbound"} {
		if got := res.GetHeader(h); got == nil || got.Value() != want {
			t.Errorf("%s = %v, want %q", h, got, want)
		}
	}
}

func TestRegisterChallenge(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := newClient(t, ts.udp)
	res := c.do(c.register("alice", []string{"<sip:alice@127.0.0.1:5999>"}))
	if res.StatusCode != 401 {
		t.Fatalf("REGISTER without credentials: %s, want 401", res.StartLine())
	}
	var algs []string
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatal(err)
		}
		if chal.Realm != testDomain || !chal.SupportsQOP("auth") || chal.Nonce == "" {
			t.Errorf("challenge %q: want realm %s, qop=auth and a nonce", h.Value(), testDomain)
		}
		algs = append(algs, chal.Algorithm)
	}
	if strings.Join(algs, ",") != "MD5,SHA-256" {
		t.Errorf("challenge algorithms %q, want MD5 then SHA-256 (DefaultDigestAlgorithms)", algs)
	}
	if b := ts.srv.Bindings("alice"); len(b) != 0 {
		t.Errorf("an unauthenticated REGISTER bound %+v", b)
	}
}

// challengeAlgorithms returns the algorithms of res's WWW-Authenticate
// headers, in order.
func challengeAlgorithms(t *testing.T, res *sip.Response) string {
	t.Helper()
	var algs []string
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatal(err)
		}
		algs = append(algs, chal.Algorithm)
	}
	return strings.Join(algs, ",")
}

// TestChallengeByUserAgent: baresip before 3.12 and SIP.js fail a REGISTER
// when any challenge is not MD5, so they are offered MD5 alone; later
// baresip and other clients get the configured offer; a configuration
// without MD5 is kept.
func TestChallengeByUserAgent(t *testing.T) {
	for _, tt := range []struct {
		config    []string
		userAgent string
		want      string
	}{
		{nil, "baresip v1.0.0 (x86_64/linux)", "MD5"},
		{nil, "baresip v3.11.0 (arm64/linux)", "MD5"},
		{nil, "baresip v3.12.0 (x86_64/linux)", "MD5,SHA-256"},
		{nil, "baresip v4.0.0 (x86_64/linux)", "MD5,SHA-256"},
		{nil, "Linphone/5.1.65 (belle-sip/5.1.64)", "MD5,SHA-256"},
		{nil, "SIP.js/0.21.2", "MD5"},
		{nil, "SIP.js/0.21.2 (Parley phone)", "MD5"},
		{[]string{"SHA-256", "MD5"}, "SIP.js/0.21.2", "MD5"},
		{[]string{"SHA-256"}, "SIP.js/0.21.2", "SHA-256"},
		{nil, "JsSIP 3.10.0", "MD5,SHA-256"},
		{[]string{"SHA-256", "MD5"}, "baresip v1.0.0 (x86_64/linux)", "MD5"},
		{[]string{"SHA-256", "MD5"}, "Linphone/5.1.65 (belle-sip/5.1.64)", "SHA-256,MD5"},
		{[]string{"SHA-256"}, "baresip v1.0.0 (x86_64/linux)", "SHA-256"},
	} {
		ts := newTestServer(t, Config{DigestAlgorithms: tt.config})
		c := newClient(t, ts.udp)
		res := c.do(c.register("alice", []string{"<sip:alice@127.0.0.1:5999>"}, "User-Agent: "+tt.userAgent))
		if res.StatusCode != 401 {
			t.Fatalf("REGISTER without credentials: %s, want 401", res.StartLine())
		}
		if got := challengeAlgorithms(t, res); got != tt.want {
			t.Errorf("offer %q, User-Agent %q: challenged with %q, want %q", tt.config, tt.userAgent, got, tt.want)
		}
	}
}

// TestRegisterStrongestAnswer: a client that answers every challenge (as
// Linphone does) is checked on its SHA-256 answer, wherever it is.
func TestRegisterStrongestAnswer(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := newClient(t, ts.udp)
	contacts := []string{"<sip:alice@127.0.0.1:5999>"}
	req := c.register("alice", contacts)
	res := c.do(req)
	if res.StatusCode != 401 {
		t.Fatalf("first REGISTER: %s, want 401", res.StartLine())
	}
	// A wrong MD5 answer first: only the SHA-256 one is checked.
	md5 := answer(t, req, res, "MD5", "alice", "not the password", 1)
	sha := answer(t, req, res, "SHA-256", "alice", "wonderland", 1)
	res = c.do(c.register("alice", contacts, "Authorization: "+md5, "Authorization: "+sha))
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER answering MD5 (wrong) and SHA-256 (right): %s, want 200", res.StartLine())
	}
}

func TestRegister(t *testing.T) {
	for _, alg := range []string{"MD5", "SHA-256"} {
		t.Run(alg, func(t *testing.T) {
			ts := newTestServer(t, Config{})
			c := newClient(t, ts.udp)
			res := c.registered("alice", "wonderland", alg, []string{"<sip:alice@127.0.0.1:5999>"}, "Expires: 600")
			if res.StatusCode != 200 {
				t.Fatalf("REGISTER with %s digest: %s", alg, res.StartLine())
			}
			if got := contactsOf(res); len(got) != 1 || got["sip:alice@127.0.0.1:5999"] != 600 {
				t.Errorf("200 OK contacts %v, want sip:alice@127.0.0.1:5999 with expires 600", got)
			}
			if b := ts.srv.Bindings("alice"); len(b) != 1 || b[0].URI != "sip:alice@127.0.0.1:5999" {
				t.Errorf("Bindings(alice) = %+v", b)
			}
		})
	}
}

func TestRegisterOverTCP(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := newClient(t, ts.tcp)
	req := c.register("alice", []string{"<sip:alice@127.0.0.1:5999;transport=tcp>"})
	req.SetTransport("TCP")
	res := c.do(req)
	if res.StatusCode != 401 {
		t.Fatalf("REGISTER over TCP: %s, want 401", res.StartLine())
	}
	req2 := c.register("alice", []string{"<sip:alice@127.0.0.1:5999;transport=tcp>"}, "Authorization: "+answer(t, req, res, "SHA-256", "alice", "wonderland", 1))
	req2.SetTransport("TCP")
	if res := c.do(req2); res.StatusCode != 200 {
		t.Fatalf("REGISTER over TCP with credentials: %s", res.StartLine())
	}
}

func TestRegisterWrongPassword(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := newClient(t, ts.udp)
	for _, who := range []struct{ user, password string }{{"alice", "wrong"}, {"nobody", "wonderland"}} {
		res := c.registered(who.user, who.password, "MD5", []string{"<sip:x@127.0.0.1:5999>"})
		if res.StatusCode != 403 {
			t.Errorf("REGISTER as %s with a wrong password: %s, want 403", who.user, res.StartLine())
		}
	}
	// Credentials of bob for alice's address.
	req := c.register("alice", nil)
	res := c.do(req)
	req = c.register("alice", []string{"<sip:x@127.0.0.1:5999>"}, "Authorization: "+answer(t, req, res, "MD5", "bob", "builder", 1))
	if res := c.do(req); res.StatusCode != 403 {
		t.Errorf("REGISTER of alice with bob's credentials: %s, want 403", res.StartLine())
	}
	if b := ts.srv.Bindings("alice"); len(b) != 0 {
		t.Errorf("refused REGISTERs bound %+v", b)
	}
}

func TestRegisterReplayedNonce(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := newClient(t, ts.udp)
	req := c.register("alice", nil)
	res := c.do(req)
	authz := answer(t, req, res, "SHA-256", "alice", "wonderland", 1)
	if res := c.do(c.register("alice", []string{"<sip:a@127.0.0.1:5999>"}, "Authorization: "+authz)); res.StatusCode != 200 {
		t.Fatalf("first use: %s", res.StartLine())
	}
	// The same nonce and nonce-count again, in a new transaction.
	if res := c.do(c.register("alice", []string{"<sip:evil@127.0.0.1:6666>"}, "Authorization: "+authz)); res.StatusCode != 401 {
		t.Fatalf("replayed credentials: %s, want 401", res.StartLine())
	}
	// A higher nonce-count with the same nonce is a legitimate reuse.
	if res := c.do(c.register("alice", []string{"<sip:b@127.0.0.1:5999>"}, "Authorization: "+answer(t, req, res, "SHA-256", "alice", "wonderland", 2))); res.StatusCode != 200 {
		t.Fatalf("nonce-count 2: %s", res.StartLine())
	}
	if got := contactsOf(c.do(c.register("alice", nil, "Authorization: "+answer(t, req, res, "SHA-256", "alice", "wonderland", 3)))); len(got) != 2 || got["sip:evil@127.0.0.1:6666"] != 0 {
		t.Errorf("bindings after the replay: %v", got)
	}
}

func TestRegisterExpiredNonceIsStale(t *testing.T) {
	ts := newTestServer(t, Config{NonceLifetime: time.Nanosecond})
	c := newClient(t, ts.udp)
	req := c.register("alice", nil)
	res := c.do(req)
	res = c.do(c.register("alice", []string{"<sip:a@127.0.0.1:5999>"}, "Authorization: "+answer(t, req, res, "MD5", "alice", "wonderland", 1)))
	if res.StatusCode != 401 {
		t.Fatalf("expired nonce: %s, want 401", res.StartLine())
	}
	chal, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	if err != nil || !chal.Stale {
		t.Errorf("challenge after an expired nonce %v (%v), want stale=true", res.GetHeader("WWW-Authenticate"), err)
	}
}

// session registers alice once and lets the test reuse the nonce with
// increasing nonce-counts.
type session struct {
	c        *client
	req      *sip.Request
	chal     *sip.Response
	nc       int
	user, pw string
}

func (s *session) do(contacts []string, extra ...string) *sip.Response {
	s.nc++
	return s.c.do(s.c.register(s.user, contacts, append(extra, "Authorization: "+answer(s.c.t, s.req, s.chal, "MD5", s.user, s.pw, s.nc))...))
}

func newSession(c *client, user, pw string) *session {
	req := c.register(user, nil)
	return &session{c: c, req: req, chal: c.do(req), user: user, pw: pw}
}

func TestRegisterContactsExpiryAndRemoval(t *testing.T) {
	ts := newTestServer(t, Config{MinExpires: 60 * time.Second, MaxExpires: 7200 * time.Second})
	s := newSession(newClient(t, ts.udp), "alice", "wonderland")

	res := s.do([]string{"<sip:phone@127.0.0.1:5001>;expires=120", "<sip:desk@127.0.0.1:5002>"}, "Expires: 3600")
	if got := contactsOf(res); res.StatusCode != 200 || len(got) != 2 || got["sip:phone@127.0.0.1:5001"] != 120 || got["sip:desk@127.0.0.1:5002"] != 3600 {
		t.Fatalf("two contacts: %s %v", res.StartLine(), got)
	}
	// Too brief: 423 with Min-Expires, and nothing changes.
	res = s.do([]string{"<sip:laptop@127.0.0.1:5003>"}, "Expires: 30")
	if res.StatusCode != 423 || res.GetHeader("Min-Expires") == nil || res.GetHeader("Min-Expires").Value() != "60" {
		t.Fatalf("Expires: 30: %s Min-Expires %v, want 423 with 60", res.StartLine(), res.GetHeader("Min-Expires"))
	}
	// Above the maximum: capped.
	res = s.do([]string{"<sip:laptop@127.0.0.1:5003>"}, "Expires: 99999")
	if got := contactsOf(res); len(got) != 3 || got["sip:laptop@127.0.0.1:5003"] != 7200 {
		t.Fatalf("Expires: 99999: %v, want 3 contacts, laptop at 7200", got)
	}
	// Query: no Contact.
	if got := contactsOf(s.do(nil)); len(got) != 3 {
		t.Fatalf("query: %v", got)
	}
	// Un-REGISTER one.
	if got := contactsOf(s.do([]string{"<sip:phone@127.0.0.1:5001>"}, "Expires: 0")); len(got) != 2 || got["sip:phone@127.0.0.1:5001"] != 0 {
		t.Fatalf("after removing phone: %v", got)
	}
	// "*" without Expires: 0 is refused.
	if res := s.do([]string{"*"}); res.StatusCode != 400 {
		t.Fatalf("Contact: * without Expires: 0: %s, want 400", res.StartLine())
	}
	// "*" with Expires: 0 removes all.
	if res := s.do([]string{"*"}, "Expires: 0"); res.StatusCode != 200 || len(contactsOf(res)) != 0 {
		t.Fatalf("Contact: *: %s %v", res.StartLine(), contactsOf(res))
	}
	if b := ts.srv.Bindings("alice"); len(b) != 0 {
		t.Errorf("bindings after Contact: * %+v", b)
	}
}

func TestBindingsExpire(t *testing.T) {
	ts := newTestServer(t, Config{})
	s := newSession(newClient(t, ts.udp), "alice", "wonderland")
	if res := s.do([]string{"<sip:phone@127.0.0.1:5001>"}, "Expires: 60"); res.StatusCode != 200 {
		t.Fatal(res.StartLine())
	}
	later := time.Now().Add(61 * time.Second)
	ts.srv.reg.setNow(func() time.Time { return later })
	if b := ts.srv.Bindings("alice"); len(b) != 0 {
		t.Errorf("Bindings 61 s after a 60 s registration: %+v", b)
	}
	ts.srv.reg.prune(later)
	if len(ts.srv.reg.byAOR) != 0 {
		t.Errorf("prune kept %v", ts.srv.reg.byAOR)
	}
}

func TestOtherRequestsChallenged(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := newClient(t, ts.udp)
	req := sip.NewRequest(sip.MESSAGE, sip.Uri{Scheme: "sip", User: "bob", Host: testDomain})
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: testDomain}, Params: tagParams("x")})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: testDomain}})
	req.SetBody([]byte("hi"))
	req.SetDestination(ts.udp)
	res := c.do(req)
	if res.StatusCode != 407 || res.GetHeader("Proxy-Authenticate") == nil {
		t.Fatalf("MESSAGE from a domain user without credentials: %s, want 407 with Proxy-Authenticate", res.StartLine())
	}
}

// rawUDP sends a datagram and returns the reply, or "" on timeout.
func rawUDP(t *testing.T, addr, msg string) string {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func request(method, extra string) string {
	return method + " sip:" + testDomain + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK" + strconv.FormatInt(time.Now().UnixNano(), 36) + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:alice@" + testDomain + ">;tag=1\r\n" +
		"To: <sip:alice@" + testDomain + ">\r\n" +
		"Call-ID: raw-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "\r\n" +
		extra +
		"Content-Length: 0\r\n\r\n"
}

func TestMalformedRequests(t *testing.T) {
	ts := newTestServer(t, Config{})
	for _, m := range []struct{ name, msg string }{
		{"CSeq method mismatch", request("OPTIONS", "CSeq: 1 REGISTER\r\n")},
		{"no CSeq", request("OPTIONS", "")},
		{"unparseable From", strings.Replace(request("OPTIONS", "CSeq: 1 OPTIONS\r\n"), "From: <sip:alice@"+testDomain+">;tag=1", "From: <<<\"", 1)},
		{"header line without colon", request("OPTIONS", "CSeq: 1 OPTIONS\r\nGarbage line\r\n")},
	} {
		reply := rawUDP(t, ts.udp, m.msg)
		if !strings.HasPrefix(reply, "SIP/2.0 400 ") {
			t.Errorf("%s: reply %q, want 400", m.name, reply)
		}
	}
	// Datagrams that are not SIP at all get nothing back.
	for i := range 1000 {
		garbage := fmt.Sprintf("\x00\xff%d garbage\r\n\r\n", i)
		conn, _ := net.Dial("udp", ts.udp)
		conn.Write([]byte(garbage))
		conn.Close()
	}
	// And the server still answers. The burst can fill the socket's
	// receive buffer, dropping a datagram sent right after it, so the
	// OPTIONS is retransmitted as a UA would (RFC 3261 §17.1.2.2).
	opts, reply := request("OPTIONS", "CSeq: 1 OPTIONS\r\n"), ""
	for try := 0; try < 4 && reply == ""; try++ {
		reply = rawUDP(t, ts.udp, opts)
	}
	if !strings.HasPrefix(reply, "SIP/2.0 200 ") {
		t.Fatalf("OPTIONS after malformed requests: %q", reply)
	}
	// Over TCP a malformed but framed request gets 400 too, and the
	// connection stays usable.
	conn, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for _, want := range []struct{ msg, status string }{
		{strings.Replace(request("OPTIONS", "CSeq: 1 REGISTER\r\n"), "UDP", "TCP", 1), "SIP/2.0 400 "},
		{strings.Replace(request("OPTIONS", "CSeq: 2 OPTIONS\r\n"), "UDP", "TCP", 1), "SIP/2.0 200 "},
	} {
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := conn.Write([]byte(want.msg)); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, want.status) {
			t.Fatalf("over TCP: %q, %v; want %q", line, err, want.status)
		}
		for { // skip the rest of the response
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if l == "\r\n" {
				break
			}
		}
	}
}

// TestKeepAlive checks the RFC 5626 §3.5.1 CRLF keep-alive: a double CRLF
// ping gets a single CRLF pong on a stream transport.
func TestKeepAlive(t *testing.T) {
	ts := newTestServer(t, Config{})
	conn, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 2 {
		if _, err := conn.Write([]byte("\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 8)
		n, err := conn.Read(buf)
		if err != nil || string(buf[:n]) != "\r\n" {
			t.Fatalf("pong %q, %v; want CRLF", buf[:n], err)
		}
	}
}

func tagParams(tag string) sip.HeaderParams {
	p := sip.NewParams()
	p.Add("tag", tag)
	return p
}

// TestUnauthenticatedRegisterFlood: a flood of REGISTERs without
// credentials (and with wrong ones) gets challenges, binds nothing and
// keeps no state per challenge (nonces are stateless, digest.go); a real
// user registers normally right after it.
func TestUnauthenticatedRegisterFlood(t *testing.T) {
	// The flood and the real user share 127.0.0.1: the source's request
	// rate (TestRequestRates) is set above the flood, so that this test
	// sees what the challenges keep.
	ts := newTestServer(t, Config{SourceBurst: 10000})
	conn, err := net.Dial("udp", ts.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 3000 {
		msg := strings.Replace(request("REGISTER", fmt.Sprintf("CSeq: %d REGISTER\r\nContact: <sip:flood%d@127.0.0.1:5999>\r\n", i+1, i)),
			"Call-ID: raw-", fmt.Sprintf("Call-ID: flood-%d-", i), 1)
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	ts.srv.auth.mu.Lock()
	kept := len(ts.srv.auth.counts)
	ts.srv.auth.mu.Unlock()
	if kept != 0 {
		t.Errorf("the flood left %d nonce records; challenges must keep no state", kept)
	}
	c := newClient(t, ts.udp)
	res := c.registered("alice", "wonderland", "SHA-256", []string{"<sip:alice@127.0.0.1:5999>"}, "Expires: 600")
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER after the flood: %s", res.StartLine())
	}
	if b := ts.srv.Bindings("alice"); len(b) != 1 {
		t.Fatalf("alice's bindings after the flood: %+v", b)
	}
}

// The admin API's view of the registrar: every binding, and a user's
// registrations ended at once (as Contact: *, Expires: 0).
func TestRegistrationsAndUnregister(t *testing.T) {
	ts := newTestServer(t, Config{})
	alice := newSession(newClient(t, ts.udp), "alice", "wonderland")
	if res := alice.do([]string{"<sip:phone@127.0.0.1:5001>", "<sip:desk@127.0.0.1:5002>"}, "Expires: 600"); res.StatusCode != 200 {
		t.Fatal(res.StartLine())
	}
	regs := ts.srv.Registrations()
	if len(regs) != 2 || regs[0].URI != "sip:desk@127.0.0.1:5002" || regs[1].URI != "sip:phone@127.0.0.1:5001" || regs[0].AOR != "sip:alice@"+testDomain {
		t.Fatalf("Registrations() = %+v", regs)
	}
	if n := ts.srv.Unregister("bob"); n != 0 {
		t.Errorf("Unregister(bob) = %d, want 0", n)
	}
	if n := ts.srv.Unregister("alice"); n != 2 {
		t.Errorf("Unregister(alice) = %d, want 2", n)
	}
	if regs := ts.srv.Registrations(); len(regs) != 0 {
		t.Errorf("after Unregister: %+v", regs)
	}
	if got := contactsOf(alice.do(nil)); len(got) != 0 {
		t.Errorf("a REGISTER query after Unregister lists %v", got)
	}
}
