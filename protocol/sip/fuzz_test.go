package sip

import (
	"context"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// FuzzRequest feeds arbitrary bytes through what a datagram goes through:
// the stateless 400 of readFilter when sipgo cannot parse it, else
// Respond. Neither may panic, and every non-ACK request gets a final
// response.
func FuzzRequest(f *testing.F) {
	f.Add(request("OPTIONS", "CSeq: 1 OPTIONS\r\n"))
	f.Add(request("REGISTER", "CSeq: 1 REGISTER\r\nContact: *\r\nExpires: 0\r\n"))
	f.Add(request("REGISTER", "CSeq: 2 REGISTER\r\nContact: <sip:a@127.0.0.1>;expires=60, <sip:b@127.0.0.1>\r\n"+
		`Authorization: Digest username="alice", realm="example.test", nonce="AAAA", uri="sip:example.test", response="00", qop=auth, nc=00000001, cnonce="x", algorithm=SHA-256`+"\r\n"))
	f.Add(request("MESSAGE", "CSeq: 1 MESSAGE\r\n"))
	f.Add("INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n")
	srv, err := NewServer(Config{Domain: testDomain, Accounts: &accounts{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	f.Fuzz(func(t *testing.T, data string) {
		msg, err := sip.NewParser().ParseSIP([]byte(data))
		if err != nil {
			if res := badRequest([]byte(data)); res != nil && !strings.HasPrefix(string(res), "SIP/2.0 400 Bad Request\r\n") {
				t.Fatalf("stateless reply %q", res)
			}
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("127.0.0.1:5999")
		res := srv.Respond(context.Background(), req)
		if (res == nil) != req.IsAck() {
			t.Fatalf("%s: response %v", req.Method, res)
		}
		if res != nil && (res.StatusCode < 200 || res.StatusCode > 699) {
			t.Fatalf("%s: status %d", req.Method, res.StatusCode)
		}
	})
}
