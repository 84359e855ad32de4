package sip

import (
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/time/rate"
)

// Request rates (issue 18, item 3): every request is counted against its
// source address's token bucket before anything else is done with it, and
// an authenticated one against its user's too. A request over either is
// answered 503 Service Unavailable with Retry-After (RFC 3261 §21.5.4),
// which a UA takes as "try again later"; other sources and users are not
// affected.

// Defaults of Config's request rates, per second and burst.
const (
	DefaultSourceRate  = 50
	DefaultSourceBurst = 200
	DefaultUserRate    = 20
	DefaultUserBurst   = 100
)

// requestBuckets is one token bucket per key (a source address, a user),
// forgotten once full again.
type requestBuckets struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastPrune time.Time
}

func newRequestBuckets(perSecond float64, burst int) *requestBuckets {
	return &requestBuckets{limit: rate.Limit(perSecond), burst: burst, buckets: make(map[string]*rate.Limiter)}
}

func (b *requestBuckets) allow(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.lastPrune) >= time.Minute {
		for k, l := range b.buckets {
			if l.TokensAt(now) >= float64(b.burst) {
				delete(b.buckets, k)
			}
		}
		b.lastPrune = now
	}
	l := b.buckets[key]
	if l == nil {
		l = rate.NewLimiter(b.limit, b.burst)
		b.buckets[key] = l
	}
	return l.AllowN(now, 1)
}

// sourceHost is the address a request came from, without its port.
func sourceHost(req *sip.Request) string {
	if host, _, err := net.SplitHostPort(req.Source()); err == nil {
		return host
	}
	return req.Source()
}

// overRate answers a request over a rate: 503 with Retry-After, counted
// by limit (source, user).
func (s *Server) overRate(req *sip.Request, limit string) *sip.Response {
	s.metrics.rateLimited.WithLabelValues(limit).Inc()
	res := s.response(req, sip.StatusServiceUnavailable, "Service Unavailable: too many requests, slow down")
	res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(1)))
	return res
}
