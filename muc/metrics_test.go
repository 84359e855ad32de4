package muc

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// gathered returns each gathered series' value (a histogram's sample
// count), by metric name.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				out[f.GetName()] += m.Counter.GetValue()
			case m.Gauge != nil:
				out[f.GetName()] += m.Gauge.GetValue()
			case m.Histogram != nil:
				out[f.GetName()] += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// TestMetrics: rooms hosted, their occupants, committed posts and their
// commit times are exported.
func TestMetrics(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	e, err := New(context.Background(), Config{Store: f.store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Secret: []byte("test"), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	f.e = e
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	f.createRoom("annex", Open, Normal, nil, nil, nil)
	f.mustJoin("lobby", "alice@localhost", "alice")
	f.mustJoin("lobby", "bob@localhost", "bob")
	f.mustJoin("annex", "alice@localhost", "alice")
	before := gathered(t, reg)
	deliveries, batches := before["parley_muc_deliveries_total"], before["parley_muc_group_commit_writes"]
	for _, body := range []string{"one", "two", "three"} {
		if err := f.post("lobby", "alice@localhost", "alice", body); err != nil {
			t.Fatal(err)
		}
	}
	got := gathered(t, reg)
	for name, want := range map[string]float64{
		"parley_muc_rooms_active":        2,
		"parley_muc_occupants":           3,
		"parley_muc_posts_total":         3,
		"parley_muc_post_commit_seconds": 3,
		// One post at a time: a transaction each.
		"parley_muc_group_commit_writes": batches + 3,
		// Three posts to the two sessions in lobby.
		"parley_muc_deliveries_total": deliveries + 6,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}
