package main

import (
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/parleychat/parley/internal/keyrate"
)

// httpRates paces the public HTTP listeners' requests per client address
// (issue 18, item 3): a token bucket per address (--http-request-rate,
// --http-request-burst); a request over it is answered 429 Too Many
// Requests with Retry-After (RFC 6585 §4) and counted. Slow clients are
// held to newServer's header, read and idle timeouts (slowloris).
type httpRates struct {
	buckets *keyrate.Buckets
	refused prometheus.Counter
}

func newHTTPRates(perSecond float64, burst int, reg prometheus.Registerer) *httpRates {
	h := &httpRates{buckets: keyrate.New(rate.Limit(perSecond), burst),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_http_rate_limited_total",
			Help: "HTTP requests answered 429 because their client address was over --http-request-rate."})}
	if reg != nil {
		reg.MustRegister(h.refused)
	}
	return h
}

func (h *httpRates) allow(addr string, now time.Time) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return h.buckets.AllowN(host, 1, now)
}

// wrap paces next; a nil httpRates does not.
func (h *httpRates) wrap(next http.Handler) http.Handler {
	if h == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.allow(r.RemoteAddr, time.Now()) {
			h.refused.Inc()
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests, slow down", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}
