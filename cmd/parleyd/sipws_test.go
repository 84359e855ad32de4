package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestSIPOverWebSocket: parleyd serves SIP over WebSocket (RFC 7118) at
// /sip of its HTTP listener; an OPTIONS over it is answered there.
func TestSIPOverWebSocket(t *testing.T) {
	d := start(t, "--data", filepath.Join(t.TempDir(), "data"),
		"--xmpp-c2s", "", "--xmpp-tls", "", "--https", "", "--http", "127.0.0.1:0", "--sip", "", "--sip-tls", "", "--xmpp-s2s", "")
	httpAddr := d.addr(t, "HTTP (/healthz, upload, /sip)")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, _, hs, err := ws.Dialer{Protocols: []string{"sip"}}.Dial(ctx, "ws://"+httpAddr+"/sip")
	if err != nil {
		t.Fatalf("WebSocket to /sip: %v", err)
	}
	defer conn.Close()
	if hs.Protocol != "sip" {
		t.Errorf("subprotocol %q", hs.Protocol)
	}
	options := "OPTIONS sip:localhost SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKws1\r\nMax-Forwards: 70\r\n" +
		"From: <sip:anonymous@x.invalid>;tag=1\r\nTo: <sip:localhost>\r\nCall-ID: ws1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if err := wsutil.WriteClientText(conn, []byte(options)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := wsutil.ReadServerText(conn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(res), "SIP/2.0 200 OK\r\n") || !strings.Contains(string(res), "Allow: REGISTER") {
		t.Errorf("OPTIONS over WebSocket: %q", res)
	}
}
