package sip

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"sync"
)

// Trusting another domain's server by its TLS identity (RFC 5922 §7.1,
// RFC 3261 §26.3.2.2): on SIP over TLS the peer may present a certificate
// (ServeTLS asks for one when Config.TrustedPeerNames is set). Once the
// handshake is done, the connection's verified identities are kept by its
// remote address, which is the Source() of every request read from it, and
// forgotten when it closes; sipgo hands its handler the request alone, so
// the listener ServeTLS gives sipgo wraps each connection to do this.
//
// A request is then from a trusted peer (trustedPeer) when it came over
// TLS, its From is in a domain named in Config.TrustedPeerNames, and the
// certificate, verified against Config.PeerRoots, names that domain: a
// certificate speaks for its own domain's users only.

// tlsPeers holds the verified identities of the TLS connections open now.
type tlsPeers struct {
	mu    sync.Mutex
	byKey map[string]*tlsPeerConn // by remote address
}

// identities returns the names the certificate of the TLS connection
// from addr verified for, or nil.
func (p *tlsPeers) identities(addr string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.byKey[addr]; c != nil {
		return c.names
	}
	return nil
}

// tlsPeerListener is the TLS listener sipgo serves: its connections keep
// their peers' verified identities in s.tlsPeers.
type tlsPeerListener struct {
	net.Listener // a tls.NewListener
	s            *Server
}

func (l *tlsPeerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*tls.Conn)
	if !ok {
		return c, nil
	}
	return &tlsPeerConn{Conn: tc, s: l.s, key: tc.RemoteAddr().String()}, nil
}

// tlsPeerConn is a TLS connection whose peer's identities are recorded
// when the handshake, which its first Read does, completes.
type tlsPeerConn struct {
	*tls.Conn
	s     *Server
	key   string
	once  sync.Once
	names []string // set once, before the first request is read
}

func (c *tlsPeerConn) Read(b []byte) (int, error) {
	c.once.Do(func() {
		if err := c.Conn.Handshake(); err != nil {
			return
		}
		names := c.s.peerIdentities(c.Conn.ConnectionState())
		if len(names) == 0 {
			return
		}
		c.names = names
		p := &c.s.tlsPeers
		p.mu.Lock()
		p.byKey[c.key] = c
		p.mu.Unlock()
		c.s.log.Debug("SIP over TLS: peer certificate verified", "source", c.key, "names", names)
	})
	return c.Conn.Read(b)
}

func (c *tlsPeerConn) Close() error {
	p := &c.s.tlsPeers
	p.mu.Lock()
	if p.byKey[c.key] == c {
		delete(p.byKey, c.key)
	}
	p.mu.Unlock()
	return c.Conn.Close()
}

// peerIdentities verifies the peer's certificate chain against
// Config.PeerRoots (for any purpose: a server's certificate presented as
// a client's) and returns the domains it names, lower-case (RFC 5922
// §7.1: the hosts of its sip: URI subjectAltNames and its DNS names, or
// its Common Name when it has neither); nil if it has none or does not
// verify.
func (s *Server) peerIdentities(cs tls.ConnectionState) []string {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.cfg.PeerRoots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		s.log.Info("SIP over TLS: peer certificate does not verify", "subject", leaf.Subject.String(), "err", err)
		return nil
	}
	var names []string
	for _, u := range leaf.URIs {
		if strings.EqualFold(u.Scheme, "sip") && u.Opaque != "" {
			// sip:example.org parses with the domain as the opaque part.
			names = append(names, strings.ToLower(u.Opaque))
		} else if strings.EqualFold(u.Scheme, "sip") && u.Host != "" {
			names = append(names, strings.ToLower(u.Hostname()))
		}
	}
	for _, d := range leaf.DNSNames {
		names = append(names, strings.ToLower(d))
	}
	if len(leaf.URIs) == 0 && len(leaf.DNSNames) == 0 && leaf.Subject.CommonName != "" {
		names = append(names, strings.ToLower(leaf.Subject.CommonName))
	}
	return names
}

// trustedByName reports whether domain, the From domain of a request that
// came over TLS from source, is in Config.TrustedPeerNames and named by
// the certificate of that connection.
func (s *Server) trustedByName(source, domain string) bool {
	domain = strings.ToLower(domain)
	if !slices.Contains(s.cfg.TrustedPeerNames, domain) {
		return false
	}
	return slices.Contains(s.tlsPeers.identities(source), domain)
}
