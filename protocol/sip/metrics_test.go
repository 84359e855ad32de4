package sip

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetrics: requests by method and response class, digest failures and
// registered contacts are exported.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := newTestServer(t, Config{Registerer: reg})
	c := newClient(t, ts.udp)
	if res := c.registered("alice", "wonderland", "MD5", []string{"<sip:alice@127.0.0.1:5999>"}); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %s", res.StartLine())
	}
	if res := c.registered("bob", "not the password", "MD5", []string{"<sip:bob@127.0.0.1:5998>"}); res.StatusCode != 403 {
		t.Fatalf("REGISTER with a wrong password: %s", res.StartLine())
	}
	m := ts.srv.metrics
	for _, tt := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"REGISTER 2xx", m.requests.WithLabelValues("REGISTER", "2xx"), 1},
		{"REGISTER 4xx", m.requests.WithLabelValues("REGISTER", "4xx"), 3}, // two 401s, one 403
		{"digest failures", m.digestFailure, 1},
	} {
		if got := testutil.ToFloat64(tt.c); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "parley_sip_registrations"); err != nil || n != 1 {
		t.Fatalf("parley_sip_registrations: %d series, %v", n, err)
	}
	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() == "parley_sip_registrations" && f.GetMetric()[0].GetGauge().GetValue() != 1 {
			t.Errorf("parley_sip_registrations = %v, want 1", f.GetMetric()[0].GetGauge().GetValue())
		}
	}
}
