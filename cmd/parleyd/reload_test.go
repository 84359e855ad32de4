package main

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// servedCert returns the leaf certificate a TLS handshake on conn gets.
func servedCert(t *testing.T, conn net.Conn) []byte {
	t.Helper()
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake with %s: %v", conn.RemoteAddr(), err)
	}
	defer tc.Close()
	return tc.ConnectionState().PeerCertificates[0].Raw
}

// readUntil reads from conn until the text read holds want, and returns it.
func readUntil(t *testing.T, conn net.Conn, want string) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte(want)) {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %q from %s: %v after %q", want, conn.RemoteAddr(), err, got)
		}
		got = append(got, buf[:n]...)
	}
	return string(got)
}

const streamHeader = `<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

// openStream connects to the c2s port and opens a stream, up to the
// server's first stream features.
func openStream(t *testing.T, c2s string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", c2s, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, streamHeader)
	readUntil(t, conn, "</stream:features>")
	return conn
}

// tlsCerts returns the certificates parleyd serves on XMPP STARTTLS (c2s)
// and on each listener in direct, which speak TLS from the first byte
// (XMPP direct TLS, SIP over TLS, HTTPS), in that order.
func tlsCerts(t *testing.T, c2s string, direct ...string) [][]byte {
	t.Helper()
	out := make([][]byte, 1+len(direct))
	conn := openStream(t, c2s)
	defer conn.Close()
	io.WriteString(conn, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	readUntil(t, conn, "<proceed")
	out[0] = servedCert(t, conn)
	for i, addr := range direct {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		out[i+1] = servedCert(t, conn)
	}
	return out
}

// writeCert writes a new self-signed certificate and its key to the files
// and returns the certificate's DER.
func writeCert(t *testing.T, certFile, keyFile string) []byte {
	t.Helper()
	certPEM, keyPEM, err := generateSelfSigned("localhost", certNames("localhost"))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert.Certificate[0]
}

// oversizedRefused reports whether a 16 KiB element sent before STARTTLS
// ends a new c2s stream with policy-violation (the stanza size limit).
func oversizedRefused(t *testing.T, c2s string) bool {
	t.Helper()
	conn := openStream(t, c2s)
	defer conn.Close()
	io.WriteString(conn, "<message><body>"+strings.Repeat("x", 16<<10)+"</body></message>")
	got := readUntil(t, conn, "</stream:stream>")
	return strings.Contains(got, "policy-violation")
}

// waitLog waits until the log holds want n times.
func (d *daemon) waitLog(t *testing.T, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(d.stderr.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %d× %q in the log within 10s:\n%s", n, want, d.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReload: SIGHUP reloads the configuration file and the certificate:
// every TLS listener serves the renewed certificate, a changed live limit
// applies to new streams, a setting that needs a restart is named in the
// log, and a configuration that does not load changes nothing.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, file := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "parley.toml")
	writeConfig := func(extra string) {
		t.Helper()
		text := "tls-cert = \"" + certFile + "\"\ntls-key = \"" + keyFile + "\"\n" + extra
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	first := writeCert(t, certFile, keyFile)
	writeConfig("")
	d := start(t, "--config", file, "--data", filepath.Join(dir, "data"),
		"--xmpp-c2s", "127.0.0.1:0", "--xmpp-tls", "127.0.0.1:0", "--sip-tls", "127.0.0.1:0", "--sip", "", "--https", "127.0.0.1:0", "--http", "")
	c2s, direct, sipTLS := d.addr(t, "XMPP c2s (STARTTLS)"), d.addr(t, "XMPP direct TLS (XEP-0368)"), d.addr(t, "SIP over TLS")
	https := d.addr(t, "HTTPS (web client, /xmpp-websocket, /http-bind, upload, /sip)")
	for i, got := range tlsCerts(t, c2s, direct, sipTLS, https) {
		if !bytes.Equal(got, first) {
			t.Errorf("listener %d does not serve the configured certificate", i)
		}
	}
	if oversizedRefused(t, c2s) {
		t.Error("a 16 KiB element was refused under the default 256 KiB limit")
	}

	// Renew the certificate in place, lower the stanza size limit, and
	// change a setting that needs a restart.
	second := writeCert(t, certFile, keyFile)
	writeConfig("max-stanza-size = \"8KiB\"\ncompliance-interval = \"10m\"\n")
	d.reload <- syscall.SIGHUP
	d.waitLog(t, "msg=reloaded", 1)
	for i, got := range tlsCerts(t, c2s, direct, sipTLS, https) {
		if !bytes.Equal(got, second) {
			t.Errorf("listener %d does not serve the renewed certificate after the reload", i)
		}
	}
	if !oversizedRefused(t, c2s) {
		t.Error("a 16 KiB element was taken after the limit went down to 8 KiB")
	}
	log := d.stderr.String()
	for _, want := range []string{`changed=[max-stanza-size]`, `msg="restart needed`, `keys=[compliance-interval]`} {
		if !strings.Contains(log, want) {
			t.Errorf("log after the reload lacks %q:\n%s", want, log)
		}
	}

	// A broken file changes nothing, certificate included.
	writeCert(t, certFile, keyFile)
	if err := os.WriteFile(file, []byte("max-stanza-size = \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.reload <- syscall.SIGHUP
	d.waitLog(t, "reload: the configuration did not load; nothing changed", 1)
	for i, got := range tlsCerts(t, c2s, direct, sipTLS, https) {
		if !bytes.Equal(got, second) {
			t.Errorf("listener %d changed its certificate on a reload that failed", i)
		}
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d after the reloads\n%s", code, d.stderr)
	}
}
