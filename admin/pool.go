package admin

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/storage"
)

// UpWithin is how recent a node's status must be for the node to count
// as up: the pool's own rule (package pool's default DBStaleAfter; nodes
// write their status every second), so that the admin tools and the
// majority check agree on who is alive.
const UpWithin = 6 * time.Second

// ErrNoPool is the pool status of a node whose database is not a pool's.
var ErrNoPool = errors.New("a pool keeps its state in one MySQL database shared by its nodes: give the pool's --storage mysql:USER@tcp(HOST:PORT)/DB")

// PoolNode is one node of the pool: what it last wrote about itself,
// judged by the database's clock, and the rooms the database says it
// hosts.
type PoolNode struct {
	Node string `json:"node"`
	// Role is the configured role; Active whether it serves clients and
	// hosts rooms now (false for a node that is down).
	Role   string `json:"role"`
	Active bool   `json:"active"`
	Up     bool   `json:"up"`
	// LastSeen is how long ago the node last wrote its status.
	LastSeen    float64 `json:"last_seen_seconds"`
	Sessions    int     `json:"sessions"`
	CPU         float64 `json:"cpu_cores"`
	RoomsHosted int     `json:"rooms_hosted"`
	Peers       int     `json:"peers"`
	BusLatency  float64 `json:"bus_latency_ms"`
	DBLatency   float64 `json:"db_latency_ms"`
	ClientAddr  string  `json:"client_addr"`
	PoolAddr    string  `json:"pool_addr"`
	// StartedAt is zero for a node that holds rooms but has no status
	// (forgotten while it still hosted them).
	StartedAt time.Time `json:"started_at"`
}

// PoolStatus lists the pool's nodes from the shared database: every node
// writes its status there every second.
func (b *bound) PoolStatus(ctx context.Context) ([]PoolNode, error) {
	ps, ok := b.s.cfg.Store.(storage.PoolStore)
	if !ok {
		return nil, ErrNoPool
	}
	statuses, err := ps.NodeStatuses(ctx)
	if err != nil {
		return nil, err
	}
	hosted, err := ps.HostedRooms(ctx)
	if err != nil {
		return nil, err
	}
	nodes := []PoolNode{}
	for _, st := range statuses {
		up := st.Age < UpWithin
		nodes = append(nodes, PoolNode{
			Node: st.Node, Role: st.Role, Active: up && st.Active, Up: up,
			LastSeen: st.Age.Seconds(), Sessions: st.Sessions, CPU: st.CPU, RoomsHosted: hosted[st.Node], Peers: st.Peers,
			BusLatency: milliseconds(st.BusLatency), DBLatency: milliseconds(st.DBLatency),
			ClientAddr: st.ClientAddr, PoolAddr: st.PoolAddr, StartedAt: st.StartedAt.UTC(),
		})
		delete(hosted, st.Node)
	}
	// Host records of nodes without a status: rooms that still wait for
	// a live node to claim them.
	for node, n := range hosted {
		nodes = append(nodes, PoolNode{Node: node, RoomsHosted: n, LastSeen: -1})
	}
	slices.SortFunc(nodes, func(a, b PoolNode) int { return strings.Compare(a.Node, b.Node) })
	return nodes, nil
}

func milliseconds(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// Metrics is a summary of the node's metrics for people: a few series by
// name (the Prometheus metric, summed over its labels), in order.
type Metrics struct {
	Node   string   `json:"node"`
	Uptime float64  `json:"uptime_seconds"`
	Series []Series `json:"series"`
}

// Series is one metric of the summary.
type Series struct {
	Name  string  `json:"name"`
	Help  string  `json:"help"`
	Value float64 `json:"value"`
}

func (b *bound) Metrics(context.Context) (Metrics, error) {
	if b.s.cfg.Node == nil {
		return Metrics{}, ErrNoNode
	}
	return b.s.cfg.Node.Metrics(), nil
}

// summaryMetrics are the metrics the summary shows, in its order.
var summaryMetrics = []string{
	"parley_xmpp_sessions", "parley_xmpp_web_sessions", "parley_sip_registrations",
	"parley_muc_rooms_active", "parley_muc_occupants", "parley_muc_posts_total", "parley_muc_deliveries_total",
	"parley_xmpp_logins_total", "parley_xmpp_auth_failures_total", "parley_xmpp_slow_consumers_total",
	"parley_upload_files_total", "parley_compliance_lease_held", "parley_compliance_events_copied_total",
	"parley_http_rate_limited_total", "parley_admin_logins_total",
	"process_resident_memory_bytes", "go_goroutines",
}

// SummarizeMetrics reads the summary's metrics from g, each summed over
// its labels (a histogram by its count).
func SummarizeMetrics(g prometheus.Gatherer) ([]Series, error) {
	families, err := g.Gather()
	if err != nil && len(families) == 0 {
		return nil, err
	}
	byName := make(map[string]Series)
	for _, f := range families {
		s := Series{Name: f.GetName(), Help: f.GetHelp()}
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				s.Value += m.Counter.GetValue()
			case m.Gauge != nil:
				s.Value += m.Gauge.GetValue()
			case m.Histogram != nil:
				s.Value += float64(m.Histogram.GetSampleCount())
			case m.Untyped != nil:
				s.Value += m.Untyped.GetValue()
			}
		}
		byName[s.Name] = s
	}
	out := []Series{}
	for _, name := range summaryMetrics {
		if s, ok := byName[name]; ok {
			out = append(out, s)
		}
	}
	return out, nil
}
