package interop

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"
)

// TestTLSPolicy: every TLS listener of parleyd (XMPP c2s after STARTTLS,
// XMPP direct TLS, XMPP s2s after STARTTLS, SIP over TLS, HTTPS) refuses a
// client that offers only TLS 1.1, or TLS 1.2 with only CBC suites, and
// takes one that offers TLS 1.2 with ECDHE and AES-GCM, and TLS 1.3
// (internal/tlspolicy: RFC 8996, RFC 9325 §4.2).
func TestTLSPolicy(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	ports := freePorts(t, 2)
	sipTLS, s2s := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	s.args = []string{"--sip-tls", sipTLS, "--xmpp-s2s", s2s}
	s.start()

	// Each listener, as a function that connects and brings the
	// connection to where the TLS handshake starts.
	plain := func(addr string) func() (net.Conn, error) {
		return func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }
	}
	starttls := func(addr, header string) func() (net.Conn, error) {
		return func() (net.Conn, error) {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return nil, err
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write([]byte(header)); err == nil {
				if err = readUntil(c, "</stream:features>"); err == nil {
					if _, err = c.Write([]byte(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err == nil {
						err = readUntil(c, "<proceed")
					}
				}
			}
			if err != nil {
				c.Close()
				return nil, err
			}
			c.SetDeadline(time.Time{})
			return c, nil
		}
	}
	const stream = `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' version='1.0' `
	listeners := []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"XMPP c2s (STARTTLS)", starttls(fmt.Sprintf("127.0.0.1:%d", s.c2s), stream+`xmlns='jabber:client' to='`+domain+`'>`)},
		{"XMPP direct TLS", plain(fmt.Sprintf("127.0.0.1:%d", s.tls))},
		{"XMPP s2s (STARTTLS)", starttls(s2s, stream+`xmlns='jabber:server' from='peer.example' to='`+domain+`'>`)},
		{"SIP over TLS", plain(sipTLS)},
		{"HTTPS", plain(fmt.Sprintf("127.0.0.1:%d", s.https))},
	}
	clients := []struct {
		name string
		ok   bool
		cfg  *tls.Config
	}{
		{"TLS 1.1", false, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}},
		{"TLS 1.2 with AES-CBC only", false, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256}}},
		{"TLS 1.2 with ECDHE and AES-GCM", true, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}},
		{"TLS 1.3", true, &tls.Config{MinVersion: tls.VersionTLS13}},
	}
	for _, l := range listeners {
		for _, cl := range clients {
			raw, err := l.dial()
			if err != nil {
				t.Errorf("%s: connect: %v", l.name, err)
				continue
			}
			cfg := cl.cfg.Clone()
			cfg.ServerName = domain
			cfg.InsecureSkipVerify = true // the self-signed certificate; the policy is what is tested
			c := tls.Client(raw, cfg)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			err = c.Handshake()
			c.Close()
			switch {
			case cl.ok && err != nil:
				t.Errorf("%s: a client with %s was refused: %v", l.name, cl.name, err)
			case !cl.ok && err == nil:
				st := c.ConnectionState()
				t.Errorf("%s: a client with %s was accepted (%s, %s)", l.name, cl.name,
					tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
			case !cl.ok:
				t.Logf("%s: %s refused: %v", l.name, cl.name, err)
			}
		}
	}
}

// readUntil reads from c until what it read holds want.
func readUntil(c net.Conn, want string) error {
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte(want)) {
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("waiting for %s (got %q): %w", want, got, err)
		}
		got = append(got, buf[:n]...)
	}
	return nil
}
