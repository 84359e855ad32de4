package sip

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/interop"
)

// 1:1 MESSAGEs between SIP users of the domain through the interop
// Router, with only the SIP front door behind it (the XMPP side is tested
// with real clients in package interop).

func newIMServer(t *testing.T) *testServer {
	t.Helper()
	router := interop.NewRouter()
	ts := newTestServer(t, Config{IM: router})
	router.AddDeliverer(ts.srv)
	return ts
}

// imMessage sends a MESSAGE from user to sip:TO@testDomain answering the
// 407 challenge, and returns the final response.
func imMessage(t *testing.T, c *client, user, pw, to, contentType, body string, extra ...sip.Header) *sip.Response {
	t.Helper()
	build := func() *sip.Request {
		req := sip.NewRequest(sip.MESSAGE, sip.Uri{Scheme: "sip", User: to, Host: testDomain})
		req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: testDomain}, Params: tagParams("im")})
		req.AppendHeader(&sip.ToHeader{Address: req.Recipient})
		if contentType != "" {
			req.AppendHeader(sip.NewHeader("Content-Type", contentType))
		}
		for _, h := range extra {
			req.AppendHeader(h)
		}
		req.SetBody([]byte(body))
		req.SetDestination(c.server)
		req.SetTransport("UDP")
		return req
	}
	res := c.do(build())
	if res.StatusCode != 407 {
		t.Fatalf("MESSAGE without credentials: %s, want 407", res.StartLine())
	}
	var chal *digest.Challenge
	for _, h := range res.GetHeaders("Proxy-Authenticate") {
		if ch, err := digest.ParseChallenge(h.Value()); err == nil && ch.Algorithm == "MD5" {
			chal = ch
		}
	}
	if chal == nil {
		t.Fatal("no MD5 Proxy-Authenticate")
	}
	req := build()
	cred, err := digest.Digest(chal, digest.Options{Method: "MESSAGE", URI: req.Recipient.String(),
		Username: user, Password: pw, Count: 1, Cnonce: "1m"})
	if err != nil {
		t.Fatal(err)
	}
	req.AppendHeader(sip.NewHeader("Proxy-Authorization", cred.String()))
	return c.do(req)
}

// A MESSAGE to a user with a registered contact is queued for it (202,
// RFC 3428 §7) and arrives from the sender's address of record, with the
// body, Subject and Call-ID (RFC 7572: <thread/>) carried through.
func TestIMToRegisteredContact(t *testing.T) {
	ts := newIMServer(t)
	u := newUAS(t)
	if res := newClient(t, ts.udp).registered("bob", "builder", "MD5", []string{u.contact("bob")}); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %s", res.StartLine())
	}
	c := newClient(t, ts.udp)
	callID := sip.CallIDHeader("thread-42@example")
	res := imMessage(t, c, "alice", "wonderland", "bob", "text/plain", "lunch?",
		sip.NewHeader("Subject", "food"), &callID)
	if res.StatusCode != sip.StatusAccepted {
		t.Fatalf("MESSAGE to bob: %s, want 202", res.StartLine())
	}
	select {
	case req := <-u.msgs:
		if from := req.From().Address; from.User != "alice" || from.Host != testDomain {
			t.Errorf("From %s, want sip:alice@%s", from.String(), testDomain)
		}
		if string(req.Body()) != "lunch?" {
			t.Errorf("body %q", req.Body())
		}
		if s := req.GetHeader("Subject"); s == nil || s.Value() != "food" {
			t.Errorf("Subject %v, want food", s)
		}
		if id := req.CallID(); id == nil || id.Value() != "thread-42@example" {
			t.Errorf("Call-ID %v, want the sender's (RFC 7572 thread)", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bob's contact got no MESSAGE")
	}
}

// Requests the mapping refuses get SIP errors, and the server serves on.
func TestIMRefusals(t *testing.T) {
	ts := newIMServer(t)
	c := newClient(t, ts.udp)
	for _, tc := range []struct {
		what, to, ctype, body string
		want                  int
	}{
		{"not text/plain", "bob", "application/json", `{"a":1}`, sip.StatusUnsupportedMediaType},
		{"a body XML cannot carry", "bob", "text/plain", "bell\x07", sip.StatusBadRequest},
		{"invalid UTF-8", "bob", "text/plain", "bad \xff", sip.StatusBadRequest},
		{"a lone surrogate", "bob", "text/plain", "half \xed\xb0\x80", sip.StatusBadRequest},
		{"a noncharacter", "bob", "text/plain", "not \U0010FFFF", sip.StatusBadRequest},
		{"an empty body", "bob", "text/plain", " \r\n", sip.StatusBadRequest},
		{"an address with no JID", "bad%zz", "text/plain", "hi", sip.StatusNotFound},
		// No live endpoint and no offline store behind this Router:
		// recipient-unavailable, RFC 7247 §8.1.
		{"nobody reachable", "bob", "text/plain", "hi", 480},
	} {
		res := imMessage(t, c, "alice", "wonderland", tc.to, tc.ctype, tc.body)
		if res.StatusCode != tc.want {
			t.Errorf("MESSAGE with %s: %s, want %d", tc.what, res.StartLine(), tc.want)
		}
	}
	if res := newClient(t, ts.udp).do(optionsRequest(ts.udp)); res.StatusCode != 200 {
		t.Errorf("OPTIONS after the refusals: %s", res.StartLine())
	}
}

func optionsRequest(server string) *sip.Request {
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: testDomain})
	req.SetDestination(server)
	req.SetTransport("UDP")
	return req
}

// errorSink is the front door a bounce goes back to: it records the error
// messages routed to it.
type errorSink chan interop.Message

func (e errorSink) Deliver(_ context.Context, m interop.Message) (bool, error) {
	if m.Type == "error" {
		e <- m
	}
	return true, nil
}

// More messages for a user than the send queue holds are dropped, and
// each drop goes back to its sender as resource-constraint.
func TestIMQueueFullBounces(t *testing.T) {
	router := interop.NewRouter()
	ts := newTestServer(t, Config{IM: router, SendQueue: 1})
	router.AddDeliverer(ts.srv)
	bounced := make(errorSink, 10)
	router.AddDeliverer(bounced)
	// A contact that never answers: the first MESSAGE stays in flight.
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hole.Close() })
	contact := "<sip:bob@" + hole.LocalAddr().String() + ">"
	if res := newClient(t, ts.udp).registered("bob", "builder", "MD5", []string{contact}); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %s", res.StartLine())
	}
	from := jid.MustParse("alice@" + testDomain + "/desk")
	for i := range 3 { // one in flight, one queued: at least one dropped
		ok, err := ts.srv.Deliver(context.Background(), interop.Message{From: from, To: jid.MustParse("bob@" + testDomain),
			Type: "chat", ID: "m" + strconv.Itoa(i), Body: "hi"})
		if !ok || err != nil {
			t.Fatalf("Deliver %d = %v, %v; want taken", i, ok, err)
		}
	}
	select {
	case m := <-bounced:
		if m.Error == nil || m.Error.Condition != interop.ResourceConstraint || !m.To.Equal(from) || m.ID == "" {
			t.Errorf("bounce %+v (error %+v), want resource-constraint to %s with the message's id", m, m.Error, from)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no bounce for a dropped message")
	}
}

// A MESSAGE whose Subject header holds a character XML forbids is refused
// like such a body (RFC 7572: Subject becomes the XMPP <subject/>), and
// reaches no one.
func TestIMSubjectXMLCannotCarry(t *testing.T) {
	ts := newIMServer(t)
	u := newUAS(t)
	if res := newClient(t, ts.udp).registered("bob", "builder", "MD5", []string{u.contact("bob")}); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %s", res.StartLine())
	}
	res := imMessage(t, newClient(t, ts.udp), "alice", "wonderland", "bob", "text/plain", "hi",
		sip.NewHeader("Subject", "ding\x07"))
	if res.StatusCode != sip.StatusBadRequest || !strings.Contains(res.Reason, "Subject: character U+0007") {
		t.Errorf("MESSAGE with a bell in its Subject: %s, want 400 naming it", res.StartLine())
	}
	select {
	case req := <-u.msgs:
		t.Errorf("bob's contact got %q", req.Body())
	case <-time.After(300 * time.Millisecond):
	}
}
