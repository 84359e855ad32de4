// Package weborigin decides whether a browser page may open a session on
// one of the server's web transports (XMPP over WebSocket and BOSH, SIP
// over WebSocket): the same rule, from one list (--http-allowed-origins),
// for every front door, so that a page on another site cannot use a
// visitor's browser to reach the server.
package weborigin

import (
	"net/http"
	"net/url"
	"strings"
)

// Allowed applies the request's Origin header (RFC 6454) to allowed: a
// request without one (not from a web page) passes; one from a page of the
// same host and port as the request passes; otherwise the origin must be
// listed (scheme://host[:port], a trailing slash ignored), or the list
// hold "*".
func Allowed(r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range allowed {
		if o == "*" || strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}
