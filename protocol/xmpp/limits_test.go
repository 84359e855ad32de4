package xmpp

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The senders' stanza rates and the slow-consumer rule (limits.go,
// session.go), over real sockets. No test here asserts how long anything
// takes: each waits for a state (a count, a metric, a queue over its
// bound) and asserts what happened.

// noRates lifts the senders' stanza rates out of the way, for tests of the
// outbound queue alone.
func noRates(c *Config) {
	c.StanzaRate, c.StanzaBurst = 1e9, 1<<30
	c.UserStanzaRate, c.UserStanzaBurst = 1e9, 1<<30
	c.IPStanzaRate, c.IPStanzaBurst = 1e9, 1<<30
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// queued is how many stanzas wait in the session's outbound queue.
func (s *session) queueLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// sessionOf is the server's session for a client's full JID, or nil.
func (ts *testServer) sessionOf(c *testClient) *session {
	bare, res, _ := strings.Cut(c.jid, "/")
	return ts.srv.router.session(bare, res)
}

// flood sends n chat messages with ids flood0, flood1, … from c to "to" as fast as
// the socket takes them, in its own goroutine; write errors (the server
// or the test closing the connection) end it quietly. It returns when the
// goroutine has stopped, which the caller must wait for.
func flood(c *testClient, to string, n int, body string) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b strings.Builder
		for i := range n {
			b.Reset()
			fmt.Fprintf(&b, `<message to='%s' type='chat' id='flood%d'><body>%s</body></message>`, to, i, body)
			_ = c.conn.SetWriteDeadline(time.Now().Add(time.Minute))
			if _, err := io.WriteString(c.conn, b.String()); err != nil {
				return
			}
		}
	}()
	return func() { <-done }
}

// The attack of issue 18: one user sends tens of thousands of messages to
// another as fast as the socket allows. The flooder is read at its stanza
// rate (throttled, nothing dropped); the victim, who reads all along,
// stays connected and gets the messages in order; a third user on the same
// address still reaches the victim.
func TestFloodedReaderStaysConnected(t *testing.T) {
	ts := startServer(t)
	for _, u := range []string{"mallory", "victim", "carol"} {
		ts.addUser(t, u, "secret")
	}
	victim := ts.online(t, "victim", "secret", "v")
	carol := ts.online(t, "carol", "secret", "c")
	mallory := ts.login(t, "mallory", "secret", "m")

	// The victim reads continuously, as a real client does, spending a
	// little time on each stanza (slixmpp spends more): slower than an
	// unchecked flood, far faster than a sender held to its rate.
	var (
		mu       sync.Mutex
		received int
		outOfSeq string
		seen     = map[string]bool{}
	)
	readErr := make(chan error, 1)
	go func() {
		for {
			el, err := victim.nextOrErr(time.Minute)
			if err != nil {
				readErr <- err
				return
			}
			mu.Lock()
			if el.Name.Local == "stream" || el.Name.Space == nsStreams {
				outOfSeq = "stream error: " + el.String()
			}
			if id := el.AttrValue("id"); strings.HasPrefix(id, "flood") {
				if want := fmt.Sprintf("flood%d", received); id != want && outOfSeq == "" {
					outOfSeq = fmt.Sprintf("got %s, want %s", id, want)
				}
				received++
			} else if id != "" {
				seen[id] = true
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	state := func() (int, string, bool) {
		mu.Lock()
		defer mu.Unlock()
		select {
		case err := <-readErr:
			readErr <- err
			return received, fmt.Sprintf("victim's stream ended after %d messages: %v", received, err), false
		default:
		}
		return received, outOfSeq, true
	}

	const sent = 30000
	wait := flood(mallory, "victim@localhost", sent, strings.Repeat("flood ", 150))
	defer wait()
	defer mallory.conn.Close()

	// Well past the burst: from here on mallory is read at her rate.
	want := DefaultStanzaBurst + 2*DefaultStanzaRate
	waitFor(t, fmt.Sprintf("%d flood messages at the victim", want), func() bool {
		n, problem, ok := state()
		if problem != "" || !ok {
			t.Fatal(problem)
		}
		return n >= want
	})
	if n := testutil.ToFloat64(ts.srv.metrics.stanzasThrottled.WithLabelValues("session")); n == 0 {
		t.Error("the flooder was never throttled")
	}

	// Others still get through to the victim, and the victim's own
	// stanzas are answered, while the flood goes on.
	carol.send(`<message to='victim@localhost' type='chat' id='from-carol'><body>hi</body></message>`)
	victim.send(`<iq type='get' id='victim-ping' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	waitFor(t, "carol's message and the victim's ping answer", func() bool {
		_, problem, ok := state()
		if problem != "" || !ok {
			t.Fatal(problem)
		}
		mu.Lock()
		defer mu.Unlock()
		return seen["from-carol"] && seen["victim-ping"]
	})
	n, _, _ := state()
	if n >= sent {
		t.Errorf("all %d flood messages delivered at once: the flooder was not limited", n)
	}
	if c := testutil.ToFloat64(ts.srv.metrics.slowConsumers); c != 0 {
		t.Errorf("%v sessions cut off as slow consumers", c)
	}
}

// A flooder that closes its socket while it is being throttled does not
// leave its unread backlog trickling on at its rate: the keepalive the
// server sends a throttled sender meets a reset, and the session ends.
func TestThrottledSenderThatLeavesIsDropped(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "mallory", "secret")
	ts.addUser(t, "victim", "secret")
	victim := ts.online(t, "victim", "secret", "v")
	mallory := ts.login(t, "mallory", "secret", "m")
	ms := ts.sessionOf(mallory)
	go func() { // the victim reads, and its reads do not matter here
		for {
			if _, err := victim.nextOrErr(time.Minute); err != nil {
				return
			}
		}
	}()
	wait := flood(mallory, "victim@localhost", 30000, strings.Repeat("flood ", 30))
	waitFor(t, "the flooder throttled", func() bool {
		return testutil.ToFloat64(ts.srv.metrics.stanzasThrottled.WithLabelValues("session")) > 0
	})
	mallory.conn.Close()
	wait()
	waitFor(t, "the flooder's session to end", func() bool { return ts.sessionOf(mallory) != ms })
}

// A client that reads, even after a pause, is not cut off because a sender
// filled its queue past the bound: the rule judges how the client drains,
// not how full the queue is.
func TestFullQueueOfAReadingClientIsNotCutOff(t *testing.T) {
	ts := startServer(t, noRates, func(c *Config) {
		c.SendQueueLength = 16
		c.SlowConsumerTime = time.Minute // the pause below is never that long
		c.SendQueueBytes = 256 << 20
	})
	ts.addUser(t, "sender", "secret")
	ts.addUser(t, "reader", "secret")
	reader := ts.online(t, "reader", "secret", "r")
	sender := ts.online(t, "sender", "secret", "s")
	rs := ts.sessionOf(reader)
	body := strings.Repeat("x", 1000)

	// The reader reads nothing until its queue is over the bound: the
	// socket buffers fill first, then the queue.
	sent := 0
	for rs.queueLen() <= 16 {
		if ts.sessionOf(reader) != rs {
			t.Fatalf("the reader was cut off after %d messages, with its queue full", sent)
		}
		for range 100 {
			sender.send(`<message to='reader@localhost' type='chat' id='f%d'><body>%s</body></message>`, sent, body)
			sent++
		}
		sender.roundTrip()
		if sent > 200000 {
			t.Fatalf("the reader's queue never went over its bound (%d queued)", rs.queueLen())
		}
	}
	// Now it reads everything, in order, and stays connected.
	for i := range sent {
		el, err := reader.nextOrErr(30 * time.Second)
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, sent, err)
		}
		if want := fmt.Sprintf("f%d", i); el.AttrValue("id") != want {
			t.Fatalf("got %s, want id %s", el, want)
		}
	}
	reader.roundTrip()
	if c := testutil.ToFloat64(ts.srv.metrics.slowConsumers); c != 0 {
		t.Errorf("%v sessions cut off as slow consumers", c)
	}
}

// A client that stops reading is still cut off: after SlowConsumerTime
// over its bound without draining, or at once when its queue passes
// SendQueueBytes. The sender stays connected.
func TestStalledReaderIsCutOff(t *testing.T) {
	for _, tt := range []struct {
		name      string
		configure func(*Config)
	}{
		{"no progress", func(c *Config) { c.SlowConsumerTime = 100 * time.Millisecond }},
		{"byte limit", func(c *Config) { c.SlowConsumerTime = time.Hour; c.SendQueueBytes = 64 << 10 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, noRates, func(c *Config) { c.SendQueueLength = 16 }, tt.configure)
			ts.addUser(t, "sender", "secret")
			ts.addUser(t, "stalled", "secret")
			stalled := ts.online(t, "stalled", "secret", "r")
			sender := ts.online(t, "sender", "secret", "s")
			body := strings.Repeat("x", 1000)
			for i := 0; ts.sessionOf(stalled) != nil; i++ {
				sender.send(`<message to='stalled@localhost' type='chat' id='f%d'><body>%s</body></message>`, i, body)
				if i%100 == 99 {
					sender.roundTrip()
				}
				if i > 200000 {
					t.Fatal("the stalled reader was never cut off")
				}
			}
			if c := testutil.ToFloat64(ts.srv.metrics.slowConsumers); c != 1 {
				t.Errorf("slow consumers: %v, want 1", c)
			}
			sender.roundTrip()
		})
	}
}

// A stanza that would wait far longer than the throttle allows is refused
// with policy-violation of type wait (RFC 6120 §8.3.3.12), not delivered;
// the sender's stream goes on, and others on the same address are not
// affected.
func TestStanzaFarOverRateIsRefused(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.UserStanzaRate, c.UserStanzaBurst = 0.001, 3 // a token every 1000 s
	})
	for _, u := range []string{"hasty", "bob", "carol"} {
		ts.addUser(t, u, "secret")
	}
	// bob and carol each spend two of their three tokens going online.
	bob := ts.online(t, "bob", "secret", "b")
	carol := ts.online(t, "carol", "secret", "c")
	hasty := ts.login(t, "hasty", "secret", "h")
	for i := range 3 {
		hasty.send(`<message to='bob@localhost' type='chat' id='ok%d'><body>%d</body></message>`, i, i)
		bob.expect("message within the burst", func(e *Element) bool { return e.AttrValue("id") == fmt.Sprintf("ok%d", i) })
	}
	hasty.send(`<message to='bob@localhost' type='chat' id='over'><body>one too many</body></message>`)
	el := hasty.expect("the refusal", func(e *Element) bool { return e.AttrValue("id") == "over" })
	e := el.Child(nsClient, "error")
	if el.AttrValue("type") != "error" || e == nil || e.AttrValue("type") != "wait" || e.Child(nsStanzas, "policy-violation") == nil {
		t.Fatalf("got %s, want a policy-violation error of type wait", el)
	}
	if n := testutil.ToFloat64(ts.srv.metrics.stanzasRefused.WithLabelValues("user")); n != 1 {
		t.Errorf("refused by the user limit: %v, want 1", n)
	}
	// carol, on the same address, is not held up; bob never got "over".
	carol.send(`<message to='bob@localhost' type='chat' id='carol'><body>hi</body></message>`)
	got := bob.expect("carol's message", func(e *Element) bool { return e.AttrValue("id") == "carol" || e.AttrValue("id") == "over" })
	if got.AttrValue("id") == "over" {
		t.Error("the refused message was delivered")
	}
}

// One ordinary user is not touched by the default limits: logging in,
// going online and pasting 50 lines is within every burst.
func TestOrdinaryBurstIsNotThrottled(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	ts.addUser(t, "bob", "secret")
	bob := ts.online(t, "bob", "secret", "b")
	alice := ts.online(t, "alice", "secret", "a")
	for i := range 50 {
		alice.send(`<message to='bob@localhost' type='chat' id='p%d'><body>line %d of the paste</body></message>`, i, i)
	}
	alice.roundTrip()
	for i := range 50 {
		bob.expect("pasted line", func(e *Element) bool { return e.AttrValue("id") == fmt.Sprintf("p%d", i) })
	}
	for _, limit := range []string{"session", "user", "ip"} {
		if n := testutil.ToFloat64(ts.srv.metrics.stanzasThrottled.WithLabelValues(limit)); n != 0 {
			t.Errorf("%v stanzas throttled by the %s limit", n, limit)
		}
	}
}

// The direct TLS port (XEP-0368) counts a connection against its
// address's unauthenticated limit from the moment it is accepted, as the
// STARTTLS port does: connections that never start TLS cannot pile up.
func TestDirectTLSUnauthPerIP(t *testing.T) {
	const limit = 5
	ts := startServer(t, func(c *Config) {
		c.MaxUnauthPerIP = limit
		c.UnauthTimeout = time.Minute
	})
	ts.addUser(t, "alice", "secret")
	var idle []net.Conn
	for range limit {
		c, err := net.Dial("tcp", ts.tlsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	waitFor(t, fmt.Sprintf("%d unauthenticated connections counted", limit), func() bool {
		return ts.srv.limits.unauthCount("127.0.0.1") == limit
	})

	handshake := func() error {
		raw, err := net.Dial("tcp", ts.tlsAddr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { raw.Close() })
		_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
		return tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}).Handshake()
	}
	if err := handshake(); err == nil {
		t.Fatalf("connection %d got a TLS session", limit+1)
	}
	if n := testutil.ToFloat64(ts.srv.metrics.unauthRefused); n != 1 {
		t.Errorf("refused: %v, want 1", n)
	}

	// One idle connection goes: a real client gets in again.
	idle[0].Close()
	waitFor(t, "the closed connection's slot released", func() bool {
		return ts.srv.limits.unauthCount("127.0.0.1") == limit-1
	})
	if err := handshake(); err != nil {
		t.Fatalf("after a slot was freed: %v", err)
	}
}

// With SocketSendBuffer set, an accepted connection's kernel send buffer
// is fixed at that size (Linux reports twice what was asked, socket(7));
// without it the kernel's autotuning is left alone.
func TestSocketSendBuffer(t *testing.T) {
	for _, tt := range []struct {
		set  int
		want func(got int) bool
	}{
		{64 << 10, func(got int) bool { return got == 2*(64<<10) }},
		{0, func(got int) bool { return got != 2*(64<<10) }},
	} {
		ts := startServer(t, func(c *Config) { c.SocketSendBuffer = tt.set })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		ts.srv.tuneSocket(raw)
		sc, err := raw.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		var sockErr error
		if err := sc.Control(func(fd uintptr) {
			got, sockErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
		}); err != nil || sockErr != nil {
			t.Fatal(err, sockErr)
		}
		if !tt.want(got) {
			t.Errorf("SocketSendBuffer %d: SO_SNDBUF is %d", tt.set, got)
		}
		raw.Close()
		client.Close()
		ln.Close()
	}
}
