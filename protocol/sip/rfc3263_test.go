package sip

import (
	"log/slog"
	"testing"

	"github.com/parleychat/parley/internal/dnstest"
)

// RFC 3263 §4 against a DNS server of the test's own on loopback: NAPTR
// first (the first usable service by order and preference; SIPS and
// unknown services skipped), then SRV for UDP and TCP by priority, then
// the domain's address on 5060; a route overrides DNS and may say TCP.
func TestPeerTarget(t *testing.T) {
	dns := dnstest.Start(t)
	// naptr.test: NAPTR says TLS (which this server does not speak) at
	// order 10, TCP at 20 and UDP at 30; the TCP SRV is used.
	dns.NAPTR("naptr.test",
		dnstest.NAPTR{Order: 30, Preference: 10, Flags: "S", Service: "SIP+D2U", Replacement: "_sip._udp.naptr.test"},
		dnstest.NAPTR{Order: 10, Preference: 10, Flags: "S", Service: "SIPS+D2T", Replacement: "_sips._tcp.naptr.test"},
		dnstest.NAPTR{Order: 20, Preference: 10, Flags: "S", Service: "SIP+D2T", Replacement: "_sip._tcp.naptr.test"},
	)
	dns.SRV("_sips._tcp.naptr.test", dnstest.SRV{Priority: 1, Weight: 1, Port: 5061, Target: "tls.naptr.test"})
	dns.SRV("_sip._tcp.naptr.test", dnstest.SRV{Priority: 1, Weight: 1, Port: 5070, Target: "tcp.naptr.test"})
	dns.SRV("_sip._udp.naptr.test", dnstest.SRV{Priority: 1, Weight: 1, Port: 5080, Target: "udp.naptr.test"})
	// srv.test: no NAPTR; a UDP and a better TCP SRV record.
	dns.SRV("_sip._udp.srv.test", dnstest.SRV{Priority: 20, Weight: 1, Port: 5090, Target: "sip.srv.test"})
	dns.SRV("_sip._tcp.srv.test", dnstest.SRV{Priority: 10, Weight: 1, Port: 5091, Target: "sip.srv.test"})
	// plain.test: an address only.
	dns.A("plain.test", "192.0.2.7")
	// naptr-bad.test: NAPTR names only services this server does not
	// speak; its SRV record is used.
	dns.NAPTR("naptr-bad.test", dnstest.NAPTR{Order: 1, Flags: "S", Service: "SIPS+D2T", Replacement: "_sips._tcp.naptr-bad.test"})
	dns.SRV("_sip._udp.naptr-bad.test", dnstest.SRV{Priority: 1, Weight: 1, Port: 5099, Target: "udp.naptr-bad.test"})

	s := &Server{cfg: Config{DNSServer: dns.Addr(), Routes: map[string]string{"routed.test": "198.51.100.1:5062;transport=tcp", "udp.test": "198.51.100.2:5063"}}, log: slog.New(slog.DiscardHandler)}
	for domain, want := range map[string]string{
		"naptr.test":     "tcp.naptr.test:5070;transport=tcp",
		"srv.test":       "sip.srv.test:5091;transport=tcp",
		"plain.test":     "192.0.2.7:5060;transport=udp",
		"naptr-bad.test": "udp.naptr-bad.test:5099;transport=udp",
		"routed.test":    "198.51.100.1:5062;transport=tcp",
		"udp.test":       "198.51.100.2:5063;transport=udp",
	} {
		got, err := s.peerTarget(t.Context(), domain)
		if err != nil || got.String() != want {
			t.Errorf("%s: %v, %v; want %s", domain, got, err, want)
		}
	}
	if n := dns.Queries("NAPTR", "naptr.test"); n != 1 {
		t.Errorf("NAPTR naptr.test asked %d times, want 1", n)
	}
	if n := dns.Queries("NAPTR", "routed.test"); n != 0 {
		t.Errorf("a routed domain was looked up in DNS (%d NAPTR queries)", n)
	}
	if _, err := s.peerTarget(t.Context(), "nowhere.test"); err == nil {
		t.Error("a domain with no record at all: found a server")
	}
}
