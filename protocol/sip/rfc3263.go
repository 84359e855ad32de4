package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// Finding another domain's SIP server (RFC 3263 §4): a configured route
// (Config.Routes, "HOST:PORT" or "HOST:PORT;transport=tcp"); else the
// domain's NAPTR records (§4.1), for the transports this server speaks
// (SIP+D2U, SIP+D2T), whose replacement names the SRV records to look up;
// else the _sip._udp and _sip._tcp SRV records (§4.1 without NAPTR, by
// priority); else the domain's own address on 5060 over UDP (§4.2).
// Go's resolver does not ask for NAPTR: that question is built with
// golang.org/x/net/dns/dnsmessage and sent to Config.DNSServer, or the
// first nameserver of /etc/resolv.conf.

// peerTarget is where a MESSAGE to another domain goes.
type peerTarget struct {
	addr      string // host:port
	transport string // "UDP" or "TCP"
}

func (t peerTarget) String() string { return t.addr + ";transport=" + strings.ToLower(t.transport) }

// typeNAPTR is the NAPTR record type (RFC 3403).
const typeNAPTR dnsmessage.Type = 35

// naptrServices are the NAPTR services this server can use, with their
// transport (RFC 3263 §4.1).
var naptrServices = map[string]string{"SIP+D2U": "UDP", "SIP+D2T": "TCP"}

// parseRoute reads a Config.Routes value: HOST:PORT, optionally
// ";transport=udp|tcp".
func parseRoute(v string) (peerTarget, error) {
	addr, params, _ := strings.Cut(v, ";")
	t := peerTarget{addr: strings.TrimSpace(addr), transport: "UDP"}
	if _, _, err := net.SplitHostPort(t.addr); err != nil {
		return peerTarget{}, fmt.Errorf("sip route %q: %w", v, err)
	}
	for _, p := range strings.Split(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch {
		case k == "":
		case strings.EqualFold(k, "transport") && (strings.EqualFold(val, "udp") || strings.EqualFold(val, "tcp")):
			t.transport = strings.ToUpper(val)
		default:
			return peerTarget{}, fmt.Errorf("sip route %q: only ;transport=udp or ;transport=tcp may follow the address", v)
		}
	}
	return t, nil
}

// peerTarget finds the SIP server of domain (see above).
func (s *Server) peerTarget(ctx context.Context, domain string) (peerTarget, error) {
	if v, ok := s.cfg.Routes[domain]; ok {
		return parseRoute(v)
	}
	res := s.resolver()
	naptrs, err := s.lookupNAPTR(ctx, domain)
	if err != nil {
		s.log.Debug("NAPTR lookup failed; trying SRV", "domain", domain, "err", err)
	}
	for _, n := range naptrs {
		tp, ok := naptrServices[strings.ToUpper(n.service)]
		if !ok || !strings.EqualFold(n.flags, "s") || n.replacement == "" {
			continue
		}
		if _, srvs, err := res.LookupSRV(ctx, "", "", n.replacement); err == nil && len(srvs) > 0 {
			return srvTarget(srvs[0], tp), nil
		}
	}
	type found struct {
		srv *net.SRV
		tp  string
	}
	var all []found
	for _, tp := range []string{"udp", "tcp"} {
		if _, srvs, err := res.LookupSRV(ctx, "sip", tp, domain); err == nil {
			for _, r := range srvs {
				all = append(all, found{r, strings.ToUpper(tp)})
			}
		}
	}
	if len(all) > 0 {
		slices.SortStableFunc(all, func(a, b found) int { return int(a.srv.Priority) - int(b.srv.Priority) })
		return srvTarget(all[0].srv, all[0].tp), nil
	}
	addrs, err := res.LookupHost(ctx, domain)
	if err != nil {
		return peerTarget{}, fmt.Errorf("resolving %s: %w", domain, err)
	}
	return peerTarget{addr: net.JoinHostPort(addrs[0], "5060"), transport: "UDP"}, nil
}

func srvTarget(r *net.SRV, transport string) peerTarget {
	return peerTarget{addr: net.JoinHostPort(strings.TrimSuffix(r.Target, "."), strconv.Itoa(int(r.Port))), transport: transport}
}

// resolver is the resolver for SRV and address records: one that asks
// Config.DNSServer when it is set.
func (s *Server) resolver() *net.Resolver {
	if s.cfg.DNSServer == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.cfg.DNSServer)
	}}
}

// naptr is one NAPTR record (RFC 3403 §4.1).
type naptr struct {
	order, preference           uint16
	flags, service, replacement string
}

// lookupNAPTR asks for domain's NAPTR records, ordered by order and
// preference.
func (s *Server) lookupNAPTR(ctx context.Context, domain string) ([]naptr, error) {
	server := s.cfg.DNSServer
	if server == "" {
		var err error
		if server, err = systemNameserver(); err != nil {
			return nil, err
		}
	}
	name, err := dnsmessage.NewName(strings.TrimSuffix(domain, ".") + ".")
	if err != nil {
		return nil, err
	}
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: name, Type: typeNAPTR, Class: dnsmessage.ClassINET})
	query, err := b.Finish()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write(query); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	return parseNAPTRResponse(buf[:n], id)
}

// parseNAPTRResponse reads the NAPTR answers of a DNS response.
func parseNAPTRResponse(msg []byte, id uint16) ([]naptr, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil, err
	}
	if h.ID != id {
		return nil, errors.New("DNS response for another query")
	}
	if h.RCode != dnsmessage.RCodeSuccess {
		return nil, fmt.Errorf("DNS: %v", h.RCode)
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil, err
	}
	var out []naptr
	for {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return nil, err
		}
		if rh.Type != typeNAPTR {
			if err := p.SkipAnswer(); err != nil {
				return nil, err
			}
			continue
		}
		r, err := p.UnknownResource()
		if err != nil {
			return nil, err
		}
		if n, ok := decodeNAPTR(r.Data); ok {
			out = append(out, n)
		}
	}
	slices.SortStableFunc(out, func(a, b naptr) int {
		if a.order != b.order {
			return int(a.order) - int(b.order)
		}
		return int(a.preference) - int(b.preference)
	})
	return out, nil
}

// decodeNAPTR reads NAPTR RDATA: order, preference, three
// character-strings (flags, services, regexp) and an uncompressed domain
// name (RFC 3403 §4.1).
func decodeNAPTR(d []byte) (naptr, bool) {
	if len(d) < 4 {
		return naptr{}, false
	}
	n := naptr{order: binary.BigEndian.Uint16(d), preference: binary.BigEndian.Uint16(d[2:])}
	d = d[4:]
	var strs [3]string
	for i := range strs {
		if len(d) < 1 || len(d) < 1+int(d[0]) {
			return naptr{}, false
		}
		strs[i], d = string(d[1:1+int(d[0])]), d[1+int(d[0]):]
	}
	n.flags, n.service = strs[0], strs[1]
	var labels []string
	for len(d) > 0 && d[0] != 0 {
		l := int(d[0])
		if l > 63 || len(d) < 1+l {
			return naptr{}, false
		}
		labels, d = append(labels, string(d[1:1+l])), d[1+l:]
	}
	n.replacement = strings.Join(labels, ".")
	return n, true
}

// systemNameserver is the first nameserver of /etc/resolv.conf.
func systemNameserver() (string, error) {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" {
			return net.JoinHostPort(f[1], "53"), nil
		}
	}
	return "", errors.New("no nameserver in /etc/resolv.conf")
}
