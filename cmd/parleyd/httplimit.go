package main

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// httpRates paces the public HTTP listeners' requests per client address
// (issue 18, item 3): a token bucket per address (--http-request-rate,
// --http-request-burst); a request over it is answered 429 Too Many
// Requests with Retry-After (RFC 6585 §4) and counted. Slow clients are
// held to newServer's header, read and idle timeouts (slowloris).
type httpRates struct {
	limit   rate.Limit
	burst   int
	refused prometheus.Counter

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastPrune time.Time
}

func newHTTPRates(perSecond float64, burst int, reg prometheus.Registerer) *httpRates {
	h := &httpRates{limit: rate.Limit(perSecond), burst: burst, buckets: make(map[string]*rate.Limiter),
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
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Sub(h.lastPrune) >= time.Minute {
		for k, l := range h.buckets {
			if l.TokensAt(now) >= float64(h.burst) {
				delete(h.buckets, k)
			}
		}
		h.lastPrune = now
	}
	l := h.buckets[host]
	if l == nil {
		l = rate.NewLimiter(h.limit, h.burst)
		h.buckets[host] = l
	}
	return l.Allow()
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
