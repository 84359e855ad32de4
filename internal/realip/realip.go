// Package realip finds the address of the browser or program behind a
// reverse proxy the operator trusts (--http-trusted-proxies), so that the
// per-address limits (HTTP request rate, web sessions per address, admin
// login attempts, upload slots) count each client, not the proxy that
// carries all of them.
//
// Only a request whose immediate peer is a trusted proxy is looked into:
// its X-Forwarded-For list is read from the right (the entry the trusted
// proxy appended last) past any further trusted proxies, and the first
// address that is not one of them is the client. A client cannot choose
// its address by sending its own X-Forwarded-For: the entries it wrote
// are to the left of the one the proxy added.
package realip

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies is a list of trusted proxy addresses and networks.
type Proxies []netip.Prefix

// ParseProxies reads a comma-separated list of addresses and CIDR
// networks, such as "127.0.0.1, 10.0.0.0/8".
func ParseProxies(list string) (Proxies, error) {
	var out Proxies
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("invalid proxy address %q: want an IP address or a CIDR network such as 10.0.0.0/8", item)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// trusts reports whether a is one of the proxies.
func (p Proxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// peerKey keys the immediate peer's address in a rewritten request's
// context.
type peerKey struct{}

// Handler serves next with r.RemoteAddr set to the client's address when
// the request came through a trusted proxy that names it in
// X-Forwarded-For; the proxy's own address stays available through Peer.
// With no proxies it is next itself.
func (p Proxies) Handler(next http.Handler) http.Handler {
	if len(p) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if client, ok := p.client(r); ok {
			r2 := r.Clone(context.WithValue(r.Context(), peerKey{}, r.RemoteAddr))
			r2.RemoteAddr = net.JoinHostPort(client.String(), "0")
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// client is the address a trusted proxy forwarded r for.
func (p Proxies) client(r *http.Request) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !p.trusts(peer.Addr()) {
		return netip.Addr{}, false
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// Not an address: what is left of it cannot be trusted.
			return netip.Addr{}, false
		}
		if !p.trusts(a) {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// Peer is the address of the connection's other end: the proxy's, for a
// request Handler rewrote; r.RemoteAddr otherwise.
func Peer(r *http.Request) string {
	if peer, ok := r.Context().Value(peerKey{}).(string); ok {
		return peer
	}
	return r.RemoteAddr
}
