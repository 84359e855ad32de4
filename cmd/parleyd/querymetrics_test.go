package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/storage"
)

// observed is a store that hands its query observer to the test.
type observed struct {
	observe func(op string, took time.Duration, err error)
}

func (o *observed) ObserveQueries(f func(op string, took time.Duration, err error)) { o.observe = f }

// TestQueryMetricsUnavailable: a statement refused because no database
// server was writable (a failover) counts as result="unavailable", apart
// from other errors, so that a dashboard shows the failover window.
func TestQueryMetricsUnavailable(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := &observed{}
	if err := registerQueryMetrics(reg, "content", s); err != nil {
		t.Fatal(err)
	}
	s.observe("AppendHistory", time.Millisecond, nil)
	s.observe("AppendHistory", time.Millisecond, fmt.Errorf("storage/mysql: append: %w", storage.ErrUnavailable))
	s.observe("AppendHistory", time.Millisecond, fmt.Errorf("storage/mysql: append: %w", storage.ErrUnavailable))
	s.observe("AppendHistory", time.Millisecond, errors.New("disk on fire"))
	for result, want := range map[string]uint64{"ok": 1, "unavailable": 2, "error": 1} {
		h, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var got uint64
		for _, mf := range h {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == result {
						got += m.GetHistogram().GetSampleCount()
					}
				}
			}
		}
		if got != want {
			t.Errorf("result=%s: %d observations, want %d", result, got, want)
		}
	}
}
