package ldapauth

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the directory's Prometheus series (Config.Registerer).
type metrics struct {
	// ops counts requests to the directory by operation (connect, bind,
	// search) and result (ok, refused: the directory said no, error: it
	// could not be asked); opTime is how long they took.
	ops    *prometheus.CounterVec
	opTime *prometheus.HistogramVec
	// cache counts the logins answered from the verifier cache while the
	// directory was unavailable: hit (accepted), wrong_password,
	// unseen (no entry: refused).
	cache *prometheus.CounterVec
	// groups counts group resolutions: hit (from the cache), lookup
	// (asked the directory), stale (directory down: the last answer
	// kept), error (nothing to answer with).
	groups *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, d *Directory) *metrics {
	m := &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_ldap_operations_total",
			Help: "Requests to the LDAP directory (--auth ldap) by operation (connect, bind as a user, search) and result (ok, refused by the directory, error: unreachable, timed out or failed)."},
			[]string{"op", "result"}),
		opTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_ldap_operation_seconds",
			Help:    "Time of one request to the LDAP directory, by operation.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5}}, []string{"op"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_ldap_cache_logins_total",
			Help: "Logins answered from the cache of recent good logins (--ldap-cache-ttl) while the directory was unavailable: hit (accepted), wrong_password (refused), unseen (no recent login: refused)."},
			[]string{"result"}),
		groups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_ldap_group_resolutions_total",
			Help: "Directory group memberships resolved for policy (group: entries): hit (cached), lookup (asked the directory), stale (directory unavailable: the last answer kept), error (unavailable and nothing cached: fail closed)."},
			[]string{"result"}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.ops, m.opTime, m.cache, m.groups,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_ldap_cache_entries",
			Help: "Users in the cache of recent good logins (salted verifiers, never passwords)."},
			func() float64 { return float64(d.logins.len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_ldap_pool_idle_connections",
			Help: "Idle connections to the directory kept for searches (at most --ldap-pool-size)."},
			func() float64 { return float64(len(d.idle)) }),
	)
	return m
}

// observe records one operation that started at start.
func (m *metrics) observe(op, result string, start time.Time) {
	m.ops.WithLabelValues(op, result).Inc()
	m.opTime.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
