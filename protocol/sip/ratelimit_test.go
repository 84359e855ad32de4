package sip

import (
	"context"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// Requests are limited per source address and per authenticated user
// (issue 18, item 3): over its rate a request is answered 503 with
// Retry-After (RFC 3261 §21.5.4), and other sources and users are not
// affected.
func TestRequestRates(t *testing.T) {
	ts, _ := newRoomServerWith(t, Config{SourceRate: 0.001, SourceBurst: 3, UserRate: 0.001, UserBurst: 2})
	options := func(source string) *sip.Response {
		req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: testDomain})
		req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "x", Host: testDomain}, Params: tagParams("o")})
		req.AppendHeader(&sip.ToHeader{Address: req.Recipient})
		req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
		cid := sip.CallIDHeader("rate-" + source)
		req.AppendHeader(&cid)
		via := sip.NewParams()
		via.Add("branch", sip.GenerateBranch())
		req.AppendHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "10.0.0.1", Port: 5060, Params: via})
		req.SetSource(source)
		return ts.srv.Respond(context.Background(), req)
	}
	for i := range 3 {
		if res := options("192.0.2.1:5060"); res.StatusCode != 200 {
			t.Fatalf("request %d from a source: %s", i, res.StartLine())
		}
	}
	res := options("192.0.2.1:5061")
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Errorf("fourth request from the same address: %s, want 503 with Retry-After", res.StartLine())
	}
	if res := options("192.0.2.2:5060"); res.StatusCode != 200 {
		t.Errorf("another source: %s", res.StartLine())
	}

	// alice's third authenticated request is over her rate; bob's pass.
	ts2, _ := newRoomServerWith(t, Config{UserRate: 0.001, UserBurst: 2})
	alice, _ := registerOverSIP(t, ts2, "alice", "wonderland", 600) // one authenticated REGISTER
	if res := alice.send("lobby", "hello"); res.StatusCode != 200 {
		t.Fatalf("alice's post: %s", res.StartLine())
	}
	if res := alice.send("lobby", "again"); res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Errorf("alice's third authenticated request: %s, want 503", res.StartLine())
	}
	bob, _ := registerOverSIP(t, ts2, "bob", "builder", 600)
	if res := bob.send("lobby", "hi"); res.StatusCode != 200 {
		t.Errorf("bob's post: %s", res.StartLine())
	}
}
