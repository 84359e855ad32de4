package xmpp

import "github.com/prometheus/client_golang/prometheus"

// metrics are the front door's Prometheus instruments, all prefixed
// parley_xmpp_.
type metrics struct {
	connections   prometheus.Counter
	sessions      prometheus.Gauge
	logins        prometheus.Counter
	authFailures  prometheus.Counter
	stanzasIn     prometheus.Counter
	stanzasOut    prometheus.Counter
	streamErrors  *prometheus.CounterVec
	slowConsumers prometheus.Counter
	offlineStored prometheus.Counter
	unauthRefused prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_connections_total", Help: "Client connections accepted."}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_xmpp_sessions", Help: "Bound client sessions (resources) now."}),
		logins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_logins_total", Help: "Successful SASL authentications."}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_auth_failures_total", Help: "Failed SASL authentications."}),
		stanzasIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_stanzas_in_total", Help: "Stanzas received from bound sessions."}),
		stanzasOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_stanzas_out_total", Help: "Stanzas written to bound sessions."}),
		streamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_xmpp_stream_errors_total", Help: "Stream errors sent, by condition."}, []string{"condition"}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_slow_consumers_total", Help: "Sessions cut off because their outbound queue was full."}),
		offlineStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_offline_messages_stored_total", Help: "Messages stored for offline users."}),
		unauthRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_unauth_refused_total", Help: "Connections refused because their address already held the most unauthenticated connections allowed."}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.sessions, m.logins, m.authFailures, m.stanzasIn,
			m.stanzasOut, m.streamErrors, m.slowConsumers, m.offlineStored, m.unauthRefused)
	}
	return m
}
