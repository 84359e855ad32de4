package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// The HTTPS listener (--https) serves with the server's certificate:
// XEP-0156 host-meta naming wss: and https: endpoints, XMPP over wss:
// (RFC 7395) as far as the stream features, upload URLs under https:, and
// the security headers on every response.
func TestHTTPSListener(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := start(t, "--data", data,
		"--xmpp-c2s", "127.0.0.1:0", "--xmpp-tls", "", "--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--sip", "", "--sip-tls", "",
		"--admin-http", "", "--xmpp-s2s", "")
	// The web client line names the page whether or not the client is built
	// in (make webclient): " at https://…/" or "https://…/ says so".
	addr := d.addr(t, "HTTPS (web client, /xmpp-websocket, /http-bind, upload, /sip)")
	_, port, _ := strings.Cut(addr, ":")
	if out := d.stdout.String(); !strings.Contains(out, "https://localhost:"+port+"/") || !strings.Contains(out, "files under https://localhost:") {
		t.Errorf("start-up message does not name the web client and upload URLs on https://localhost:%s:\n%s", port, out)
	}
	pem, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tlsCfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}

	resp, err := client.Get("https://" + addr + "/.well-known/host-meta.json")
	if err != nil {
		t.Fatalf("host-meta over HTTPS with the server's certificate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"href":"wss://` + addr + `/xmpp-websocket"`, `"href":"https://` + addr + `/http-bind"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("host-meta.json lacks %s: %s", want, body)
		}
	}
	for _, path := range []string{"/.well-known/host-meta", "/healthz", "/no-such-page"} {
		resp, err := client.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: no nosniff or CSP: %v", path, resp.Header)
		}
	}

	dialer := ws.Dialer{Protocols: []string{"xmpp"}, TLSConfig: tlsCfg, Timeout: 5 * time.Second}
	conn, _, _, err := dialer.Dial(context.Background(), "wss://"+addr+"/xmpp-websocket")
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	defer conn.Close()
	if err := wsutil.WriteClientText(conn, []byte(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, want := range []string{"<open ", "<stream:features"} {
		msg, err := wsutil.ReadServerText(conn)
		if err != nil {
			t.Fatalf("wss: reading %s: %v", want, err)
		}
		if !strings.HasPrefix(string(msg), want) {
			t.Fatalf("wss: got %s, want %s…", msg, want)
		}
		if want == "<stream:features" && (!strings.Contains(string(msg), "SCRAM-SHA-256") || strings.Contains(string(msg), "starttls")) {
			t.Errorf("wss features: want SASL and no STARTTLS: %s", msg)
		}
	}
}
