package compliance

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/storage"
)

// statsTimeout bounds the outbox query behind a scrape.
const statsTimeout = 2 * time.Second

// metrics are the worker's Prometheus instruments, all prefixed
// parley_compliance_. The outbox backlog and lag are measured when scraped,
// on every node, whether or not it holds the lease: they describe the
// pool's one outbox.
type metrics struct {
	copied    prometheus.Counter
	errors    prometheus.Counter
	leaseHeld prometheus.Gauge
	lastRun   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, outbox storage.ComplianceOutbox) (*metrics, error) {
	m := &metrics{
		copied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_compliance_events_copied_total",
			Help: "Outbox events this node copied into the compliance database (each event once)."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_compliance_copy_errors_total",
			Help: "Failed attempts to copy outbox events into the compliance database (retried)."}),
		leaseHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_compliance_lease_held",
			Help: "1 while this node holds the compliance worker lease (is the pool's active worker), else 0."}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_compliance_last_run_timestamp_seconds",
			Help: "When this node last completed a pass over the outbox (Unix time; 0: never)."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.copied, m.errors, m.leaseHeld, m.lastRun, &outboxCollector{outbox: outbox}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

var (
	backlogDesc = prometheus.NewDesc("parley_compliance_outbox_backlog",
		"Events in the content database's outbox not yet copied to the compliance database.", nil, nil)
	lagDesc = prometheus.NewDesc("parley_compliance_outbox_lag_seconds",
		"Age of the oldest event waiting in the outbox (0 when it is empty).", nil, nil)
)

// outboxCollector measures the outbox when scraped.
type outboxCollector struct {
	outbox storage.ComplianceOutbox
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backlogDesc
	ch <- lagDesc
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	st, err := c.outbox.OutboxStats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(backlogDesc, err)
		ch <- prometheus.NewInvalidMetric(lagDesc, err)
		return
	}
	lag := 0.0
	if !st.Oldest.IsZero() {
		lag = max(0, time.Since(st.Oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(st.Events))
	ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, lag)
}

// adapterMetrics are the adapter runner's instruments, labelled with the
// adapter's name, for the node that runs the adapters (the lease holder).
type adapterMetrics struct {
	lastRun     *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	written     *prometheus.CounterVec
	failures    *prometheus.CounterVec
}

func newAdapterMetrics(reg prometheus.Registerer) (*adapterMetrics, error) {
	m := &adapterMetrics{
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "parley_compliance_adapter_last_run_timestamp_seconds",
			Help: "When the adapter last ran on this node, successfully or not (Unix time)."}, []string{"adapter"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "parley_compliance_adapter_last_success_timestamp_seconds",
			Help: "When the adapter last ran without an error on this node (Unix time)."}, []string{"adapter"}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_compliance_adapter_events_written_total",
			Help: "Compliance events the adapter wrote on this node (a window written again after a failure counts again)."}, []string{"adapter"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_compliance_adapter_failures_total",
			Help: "Adapter runs that failed on this node (retried from the same position)."}, []string{"adapter"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.lastRun, m.lastSuccess, m.written, m.failures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe records one run of the adapter called name.
func (m *adapterMetrics) observe(name string, run storage.AdapterRun) {
	at := float64(run.At.UnixNano()) / 1e9
	m.lastRun.WithLabelValues(name).Set(at)
	m.written.WithLabelValues(name).Add(float64(run.Events))
	if run.Error != "" {
		m.failures.WithLabelValues(name).Inc()
		return
	}
	m.lastSuccess.WithLabelValues(name).Set(at)
}
