package sip

import (
	"strconv"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the SIP front door's Prometheus series (Config.Registerer),
// named like the XMPP front door's (parley_xmpp_*).
type metrics struct {
	requests      *prometheus.CounterVec
	digestFailure prometheus.Counter
	rateLimited   *prometheus.CounterVec
}

// countedMethods are the methods requests are counted by; others count as
// "other", so a client cannot grow the series without bound.
var countedMethods = map[sip.RequestMethod]bool{
	sip.REGISTER: true, sip.OPTIONS: true, sip.MESSAGE: true, sip.SUBSCRIBE: true, sip.NOTIFY: true,
	sip.INVITE: true, sip.ACK: true, sip.CANCEL: true, sip.BYE: true, sip.INFO: true, sip.PUBLISH: true,
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_sip_requests_total",
			Help: "SIP requests answered, by method and class of the final response (2xx, 4xx…; none for ACK)."},
			[]string{"method", "class"}),
		digestFailure: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_sip_digest_failures_total",
			Help: "Digest credentials refused with 403: a wrong password or an unknown user."}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_sip_rate_limited_total",
			Help: "Requests answered 503 because their source address or user was over its request rate, by limit (source, user)."},
			[]string{"limit"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.digestFailure, m.rateLimited, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_sip_registrations",
			Help: "Registered contacts (bindings) that have not expired."},
			func() float64 { return float64(s.reg.count()) }))
	}
	return m
}

// request counts one request and its final response (nil for an ACK).
func (m *metrics) request(req *sip.Request, res *sip.Response) {
	method := "other"
	if countedMethods[req.Method] {
		method = string(req.Method)
	}
	class := "none"
	if res != nil {
		class = strconv.Itoa(res.StatusCode/100) + "xx"
	}
	m.requests.WithLabelValues(method, class).Inc()
}
