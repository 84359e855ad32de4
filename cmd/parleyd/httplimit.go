package main

import (
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/parleychat/parley/internal/keyrate"
)

// httpLimits are the public HTTP listeners' limits (issue 18, item 3): a
// token bucket of requests per client address (--http-request-rate,
// --http-request-burst; a request over it is answered 429 Too Many
// Requests with Retry-After, RFC 6585 §4, and counted), and the timeouts
// that hold slow clients (slowloris: --http-header-timeout,
// --http-read-timeout, --http-write-timeout, --http-idle-timeout). The
// configured values are the gauge parley_http_limit{limit}.
type httpLimits struct {
	buckets  *keyrate.Buckets
	refused  prometheus.Counter
	timeouts httpTimeouts
}

func newHTTPLimits(perSecond float64, burst int, timeouts httpTimeouts, reg prometheus.Registerer) *httpLimits {
	h := &httpLimits{buckets: keyrate.New(rate.Limit(perSecond), burst), timeouts: timeouts,
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_http_rate_limited_total",
			Help: "HTTP requests answered 429 because their client address was over --http-request-rate."})}
	configured := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "parley_http_limit",
		Help: "The public HTTP listeners' configured limits, by name (requests per second, requests, seconds)."}, []string{"limit"})
	for name, v := range map[string]float64{
		"request_rate": perSecond, "request_burst": float64(burst),
		"header_timeout": timeouts.Header.Seconds(), "read_timeout": timeouts.Read.Seconds(),
		"write_timeout": timeouts.Write.Seconds(), "idle_timeout": timeouts.Idle.Seconds(),
	} {
		configured.WithLabelValues(name).Set(v)
	}
	if reg != nil {
		reg.MustRegister(h.refused, configured)
	}
	return h
}

// timeoutsOrDefault are the listeners' timeouts; without limits (tests),
// the operators' listener's.
func (h *httpLimits) timeoutsOrDefault() httpTimeouts {
	if h == nil {
		return operatorTimeouts()
	}
	return h.timeouts
}

func (h *httpLimits) allow(addr string, now time.Time) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return h.buckets.AllowN(host, 1, now)
}

// wrap paces next; a nil httpLimits does not.
func (h *httpLimits) wrap(next http.Handler) http.Handler {
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
