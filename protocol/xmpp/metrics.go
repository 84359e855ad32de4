package xmpp

import "github.com/prometheus/client_golang/prometheus"

// metrics are the front door's Prometheus instruments, all prefixed
// parley_xmpp_.
type metrics struct {
	connections   prometheus.Counter
	sessions      prometheus.Gauge
	parked        prometheus.Gauge
	logins        prometheus.Counter
	authFailures  prometheus.Counter
	stanzasIn     prometheus.Counter
	stanzasOut    prometheus.Counter
	streamErrors  *prometheus.CounterVec
	slowConsumers prometheus.Counter
	offlineStored prometheus.Counter
	// The senders' limits (limits.go): stanzas delayed or refused, by
	// the bucket that imposed it (session, user, ip), the time readers
	// waited, unauthenticated connections refused per address, and the
	// configured limits themselves.
	stanzasThrottled *prometheus.CounterVec
	stanzasRefused   *prometheus.CounterVec
	throttleSeconds  prometheus.Counter
	unauthRefused    prometheus.Counter
	limits           *prometheus.GaugeVec
	// rosterLimited counts subscriptions and roster sets refused on a
	// full roster (items) and requests dropped for a user with too many
	// unanswered ones (requests).
	rosterLimited *prometheus.CounterVec
	// csiHeld counts stanzas held back for inactive clients (XEP-0352,
	// csi.go); csiSuperseded those of them replaced by a later one
	// before the client became active, and so never written.
	csiHeld       prometheus.Counter
	csiSuperseded prometheus.Counter
	// Stream management (XEP-0198, sm.go).
	smDetached     prometheus.Gauge
	smResumed      prometheus.Counter
	smResumeFailed prometheus.Counter
	smExpired      prometheus.Counter
	smRescued      prometheus.Counter
	smLimited      *prometheus.CounterVec
	// FAST (XEP-0484, fast.go) and push (XEP-0357, push.go).
	fastLogins   prometheus.Counter
	fastTokens   prometheus.Counter
	pushSent     *prometheus.CounterVec
	pushDisabled prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_connections_total", Help: "Client connections accepted."}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_xmpp_sessions", Help: "Bound client sessions (resources) now."}),
		parked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_xmpp_parked_sessions", Help: "Bound client sessions with nothing to read, waiting for input on a minimal goroutine with no read buffer (the rest of parley_xmpp_sessions are reading)."}),
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
			Name: "parley_xmpp_slow_consumers_total", Help: "Sessions cut off as slow consumers: over their send queue bound while draining below the minimum rate, over the queue's byte limit, or taking nothing for a whole write timeout."}),
		offlineStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_offline_messages_stored_total", Help: "Messages stored for offline users."}),
		stanzasThrottled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_xmpp_stanzas_throttled_total", Help: "Stanzas read late because their sender was over a stanza rate, by the limit (session, user, ip)."}, []string{"limit"}),
		stanzasRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_xmpp_stanzas_refused_total", Help: "Stanzas refused with policy-violation because their sender was far over a stanza rate, by the limit (session, user, ip)."}, []string{"limit"}),
		throttleSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_throttle_seconds_total", Help: "Time connections were not read because their sender was over a stanza rate."}),
		unauthRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_unauth_refused_total", Help: "Connections refused because their address already held the most unauthenticated connections allowed."}),
		limits: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "parley_xmpp_limit", Help: "The front door's configured limits, by name (rates per second, sizes in bytes, times in seconds)."}, []string{"limit"}),
		rosterLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_xmpp_roster_limited_total", Help: "Roster additions refused on a full roster (limit=items) and subscription requests dropped for a user with the most unanswered ones (limit=requests)."}, []string{"limit"}),
		csiHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_csi_held_total", Help: "Presence and chat-state stanzas held back for clients that said they are inactive (XEP-0352)."}),
		csiSuperseded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_csi_superseded_total", Help: "Held-back stanzas replaced by a later update from the same sender before their client became active, never written."}),
		smDetached: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_xmpp_sm_detached_sessions", Help: "Sessions whose connection was lost, waiting to be resumed (XEP-0198)."}),
		smResumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_sm_resumed_total", Help: "Sessions resumed by a new connection (XEP-0198)."}),
		smResumeFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_sm_resume_failed_total", Help: "Resumption attempts refused: unknown or expired previd, another node's session, or a bad h."}),
		smExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_sm_expired_total", Help: "Detached sessions ended without being resumed."}),
		smRescued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_sm_messages_to_offline_total", Help: "Messages a client never acknowledged, stored offline when its session ended."}),
		smLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_xmpp_sm_limited_total", Help: "Stream management limits reached: resumable (an account's resumable sessions: enabled without resumption), queue (a session's unacknowledged stanzas: the session ends)."}, []string{"limit"}),
		fastLogins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_fast_logins_total", Help: "Logins with a FAST token (XEP-0484)."}),
		fastTokens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_fast_tokens_issued_total", Help: "FAST tokens issued (XEP-0484), rotations included."}),
		pushSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_xmpp_push_notifications_total", Help: "Push notifications (XEP-0357) sent to app servers, by result (ok, error, timeout, coalesced: counted into a later one by --push-interval)."}, []string{"result"}),
		pushDisabled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_xmpp_push_disabled_total", Help: "Push registrations disabled after --push-max-errors failed publishes in a row."}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.sessions, m.parked, m.logins, m.authFailures, m.stanzasIn,
			m.stanzasOut, m.streamErrors, m.slowConsumers, m.offlineStored,
			m.stanzasThrottled, m.stanzasRefused, m.throttleSeconds, m.unauthRefused, m.limits, m.rosterLimited,
			m.csiHeld, m.csiSuperseded,
			m.smDetached, m.smResumed, m.smResumeFailed, m.smExpired, m.smRescued, m.smLimited,
			m.fastLogins, m.fastTokens, m.pushSent, m.pushDisabled)
	}
	return m
}

// setLimits exports the configured limits that stay as the server started;
// setLiveLimits the others.
func (m *metrics) setLimits(c *Config) {
	for name, v := range map[string]float64{
		"max_unauth_per_ip":       float64(c.MaxUnauthPerIP),
		"max_web_sessions_per_ip": float64(c.MaxWebSessionsPerIP),
		"send_queue":              float64(c.SendQueueLength),
		"sm_max_resumable":        float64(c.SMMaxResumable),
		"sm_max_queue":            float64(c.SMMaxQueue),
		"fast_token_lifetime":     c.FastTokenLifetime.Seconds(),
		"push_interval":           c.PushInterval.Seconds(),
		"push_max_errors":         float64(c.PushMaxErrors),
		"sm_resume_timeout":       c.SMResumeTimeout.Seconds(),
		"max_roster_items":        float64(c.MaxRosterItems),
		"max_pending_requests":    float64(c.MaxPendingRequests),
		"send_queue_bytes":        float64(c.SendQueueBytes),
		"socket_send_buffer":      float64(c.SocketSendBuffer),
		"slow_consumer_time":      c.SlowConsumerTime.Seconds(),
		"slow_consumer_rate":      float64(c.SlowConsumerRate),
		"stanza_rate":             c.StanzaRate,
		"stanza_burst":            float64(c.StanzaBurst),
		"user_stanza_rate":        c.UserStanzaRate,
		"user_stanza_burst":       float64(c.UserStanzaBurst),
		"ip_stanza_rate":          c.IPStanzaRate,
		"ip_stanza_burst":         float64(c.IPStanzaBurst),
	} {
		m.limits.WithLabelValues(name).Set(v)
	}
}

// setLiveLimits exports the live limits (live.go), again at each change.
func (m *metrics) setLiveLimits(l *LiveLimits) {
	for name, v := range map[string]float64{
		"max_stanza_size":        float64(l.MaxStanzaSize),
		"unauth_timeout":         l.UnauthTimeout.Seconds(),
		"max_auth_failures":      float64(l.MaxAuthFailures),
		"auth_failure_delay":     l.AuthFailureDelay.Seconds(),
		"max_offline_messages":   float64(l.MaxOfflineMessages),
		"max_resources_per_user": float64(l.MaxResourcesPerUser),
	} {
		m.limits.WithLabelValues(name).Set(v)
	}
}
