package xmpp

import (
	"crypto/tls"
	"encoding/xml"
	"testing"
)

// A client that comes back resumes its TLS session from the ticket the
// server gave it (RFC 8446 §2.2), also when the certificate is chosen per
// handshake (GetCertificate, as parleyd serves it: each connection's
// configuration is then a clone, which must share the ticket keys). A
// server whose tickets are off gives none to resume.
func TestTLSSessionResumption(t *testing.T) {
	perHandshake := func(c *Config) {
		cert := c.TLS.Certificates[0]
		c.TLS = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }}
	}
	for _, tc := range []struct {
		name      string
		configure func(*Config)
		want      bool
	}{
		{"certificate", func(*Config) {}, true},
		{"certificate per handshake", perHandshake, true},
		{"tickets off", func(c *Config) { perHandshake(c); c.TLS.SessionTicketsDisabled = true }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.configure)
			ts.addUser(t, "romeo", "secret")
			cache := tls.NewLRUClientSessionCache(1)
			resumed := func() bool {
				c := dialRaw(t, ts.addr)
				c.openStream()
				c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
				if el := c.next(); el.Name.Local != "proceed" {
					t.Fatalf("expected proceed, got %s", el)
				}
				tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", ClientSessionCache: cache})
				if err := tc.Handshake(); err != nil {
					t.Fatalf("TLS handshake: %v", err)
				}
				c.conn = tc
				c.dec = xml.NewDecoder(c.reader(tc))
				c.openStream() // reading after the handshake takes the ticket in
				if !c.scramAuth("SCRAM-SHA-256", "romeo", "secret") {
					t.Fatal("SCRAM-SHA-256 login failed")
				}
				return tc.ConnectionState().DidResume
			}
			if resumed() {
				t.Fatal("the first connection resumed a session")
			}
			if got := resumed(); got != tc.want {
				t.Errorf("second connection resumed %v, want %v", got, tc.want)
			}
		})
	}
}
