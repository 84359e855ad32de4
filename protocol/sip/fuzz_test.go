package sip

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/sqlite"
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

// FuzzSubscribe feeds arbitrary bytes, parsed by sipgo and validated as
// every request is, to the SUBSCRIBE handler as an authenticated user, on
// a server with a room engine: it may not panic, and answers every
// request with a final response; a 200 makes a dialog (a To tag, Expires,
// Contact). What follows the response (NOTIFYs) is not run: the fuzzer's
// Contact hosts are not to be sent to.
func FuzzSubscribe(f *testing.F) {
	sub := func(uri, extra string) string {
		return "SUBSCRIBE " + uri + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKf1\r\nMax-Forwards: 70\r\n" +
			"From: <sip:alice@" + testDomain + ">;tag=f\r\nTo: <" + uri + ">\r\nCall-ID: fuzz\r\nCSeq: 1 SUBSCRIBE\r\n" +
			extra + "Content-Length: 0\r\n\r\n"
	}
	room := "sip:lobby@conference." + testDomain
	f.Add(sub(room, "Event: conference\r\nContact: <sip:alice@127.0.0.1:5999>\r\nExpires: 600\r\n"))
	f.Add(sub(room, "Event: conference;id=1\r\nContact: <sip:alice@127.0.0.1:5999>\r\nExpires: 0\r\nAccept: application/conference-info+xml\r\n"))
	f.Add(sub(room, "Event: presence\r\nContact: <sip:alice@127.0.0.1:5999>\r\n"))
	f.Add(sub("sip:board@conference."+testDomain, "Event: conference\r\nContact: <sip:a@h>\r\nExpires: 5\r\n"))
	f.Add(sub(room, "Event: conference\r\nContact: *\r\nRecord-Route: <sip:p1;lr>, <sip:p2;lr>\r\n"))
	f.Add(strings.Replace(sub(room, "Event: conference\r\nContact: <sip:a@h>\r\n"), "To: <"+room+">", "To: <"+room+">;tag=x", 1))
	store, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "parley.db"), contentrules.Rules{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	engine, err := muc.New(context.Background(), muc.Config{Store: store, Logger: slog.New(slog.DiscardHandler), Secret: []byte("fuzz")})
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range []muc.CreateRoomRequest{
		{Room: storage.Room{Name: "lobby"}, Creator: muc.ActorAdmin, Privacy: muc.Open},
		{Room: storage.Room{Name: "board"}, Creator: muc.ActorAdmin, Privacy: muc.Closed},
	} {
		if _, err := engine.CreateRoom(context.Background(), r); err != nil {
			f.Fatal(err)
		}
	}
	srv, err := NewServer(Config{Domain: testDomain, Accounts: &accounts{}, Rooms: engine, MaxSubscriptions: 4})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	f.Fuzz(func(t *testing.T, data string) {
		msg, err := sip.NewParser().ParseSIP([]byte(data))
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok || req.Method != sip.SUBSCRIBE || validate(req) != nil {
			return
		}
		req.SetSource("127.0.0.1:5999")
		defer srv.closeSubscriptions()
		res, _ := srv.subscribe(context.Background(), req, "alice")
		if res == nil || res.StatusCode < 200 || res.StatusCode > 699 {
			t.Fatalf("response %v", res)
		}
		if res.StatusCode == 200 {
			if tag, _ := res.To().Params.Get("tag"); tag == "" || res.GetHeader("Expires") == nil || res.GetHeader("Contact") == nil {
				t.Fatalf("200 without a dialog: %s", res)
			}
		}
	})
}

// FuzzCPIM: unwrapping arbitrary message/cpim bodies may not panic and
// gives UTF-8 text; what the room wraps unwraps to the same text.
func FuzzCPIM(f *testing.F) {
	f.Add([]byte("From: <sip:a@b>\r\nTo: <sip:r@c>\r\n\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\nhello"))
	f.Add([]byte("\n\nbare"))
	f.Add([]byte("From: \"x\\\"y\" <im:a@b>\r\nDateTime: 2026-01-01T00:00:00Z\r\n\r\nContent-Type: text/html\r\n\r\n<b/>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if text, err := unwrapCPIM(data); err == nil && !utf8.ValidString(text) {
			t.Fatalf("unwrapped %q from %q: not UTF-8", text, data)
		}
		if !utf8.Valid(data) {
			return
		}
		p := cpimPost{nick: string(data), from: "sip:a@" + testDomain, to: "sip:r@conference." + testDomain, text: string(data)}
		wrapped := p.render()
		got, err := unwrapCPIM(wrapped)
		if err != nil || got != string(data) {
			t.Fatalf("render then unwrap of %q: %q, %v\n%s", data, got, err, wrapped)
		}
	})
}
