// Package dnstest is a small authoritative DNS server on loopback for
// tests: the records a test gives it (A, SRV, NAPTR), over UDP, and a
// net.Resolver that asks it and nothing else, so that a test of DNS-based
// routing (RFC 6120 §3.2, XEP-0368, RFC 3263) never depends on the
// machine's resolver.
package dnstest

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// TypeNAPTR is the NAPTR record type (RFC 3403).
const TypeNAPTR dnsmessage.Type = 35

// SRV is one SRV record's data.
type SRV struct {
	Priority, Weight, Port uint16
	Target                 string
}

// NAPTR is one NAPTR record's data (RFC 3403 §4.1).
type NAPTR struct {
	Order, Preference      uint16
	Flags, Service, Regexp string
	Replacement            string
}

// Server answers for the records it was given; any other name is
// NXDOMAIN. Queries counts the questions it was asked, by "TYPE name".
type Server struct {
	conn *net.UDPConn

	mu      sync.Mutex
	a       map[string][]netip.Addr
	srv     map[string][]SRV
	naptr   map[string][]NAPTR
	queries map[string]int
}

// Start runs a server on 127.0.0.1 until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{conn: c, a: map[string][]netip.Addr{}, srv: map[string][]SRV{}, naptr: map[string][]NAPTR{}, queries: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve()
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return s
}

func fqdn(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) + "." }

// A adds address records for name.
func (s *Server) A(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range addrs {
		s.a[fqdn(name)] = append(s.a[fqdn(name)], netip.MustParseAddr(a))
	}
}

// SRV adds SRV records for name (_service._proto.domain).
func (s *Server) SRV(name string, recs ...SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv[fqdn(name)] = append(s.srv[fqdn(name)], recs...)
}

// NAPTR adds NAPTR records for name.
func (s *Server) NAPTR(name string, recs ...NAPTR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.naptr[fqdn(name)] = append(s.naptr[fqdn(name)], recs...)
}

// Queries reports how many times "TYPE name" was asked ("NAPTR example.org.").
func (s *Server) Queries(typ, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[typ+" "+fqdn(name)]
}

// Addr is the server's UDP address.
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// Resolver is a net.Resolver that asks this server only.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.Addr())
	}}
}

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if out := s.answer(buf[:n]); out != nil {
			_, _ = s.conn.WriteToUDP(out, from)
		}
	}
}

// answer builds the response to one query.
func (s *Server) answer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.ToLower(q.Name.String())
	s.mu.Lock()
	s.queries[typeName(q.Type)+" "+name]++
	a, srv, naptr := s.a[name], s.srv[name], s.naptr[name]
	known := a != nil || srv != nil || naptr != nil
	s.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeSuccess}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	hdr := dnsmessage.ResourceHeader{Name: q.Name, Type: q.Type, Class: dnsmessage.ClassINET, TTL: 60}
	switch q.Type {
	case dnsmessage.TypeA:
		for _, ip := range a {
			if ip.Is4() {
				_ = b.AResource(hdr, dnsmessage.AResource{A: ip.As4()})
			}
		}
	case dnsmessage.TypeSRV:
		for _, r := range srv {
			_ = b.SRVResource(hdr, dnsmessage.SRVResource{Priority: r.Priority, Weight: r.Weight, Port: r.Port,
				Target: dnsmessage.MustNewName(fqdn(r.Target))})
		}
	case TypeNAPTR:
		for _, r := range naptr {
			_ = b.UnknownResource(hdr, dnsmessage.UnknownResource{Type: TypeNAPTR, Data: encodeNAPTR(r)})
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

func typeName(t dnsmessage.Type) string {
	if t == TypeNAPTR {
		return "NAPTR"
	}
	return strings.TrimPrefix(t.String(), "Type")
}

// encodeNAPTR writes a NAPTR record's RDATA (RFC 3403 §4.1): the
// replacement is an uncompressed domain name.
func encodeNAPTR(r NAPTR) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, r.Order)
	b = binary.BigEndian.AppendUint16(b, r.Preference)
	for _, s := range []string{r.Flags, r.Service, r.Regexp} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	repl := strings.TrimSuffix(r.Replacement, ".")
	if repl != "" {
		for _, label := range strings.Split(repl, ".") {
			b = append(b, byte(len(label)))
			b = append(b, label...)
		}
	}
	return append(b, 0)
}
