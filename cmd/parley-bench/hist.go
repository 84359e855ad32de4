package main

import (
	"math"
	"sync/atomic"
	"time"
)

// A histogram of latencies with logarithmic buckets 1% wide, from 1 µs to
// about 1,000 s: recording is one atomic add, a run holds any number of
// samples in fixed memory, and the histograms of several bench processes
// add up (the reports carry them) to the percentiles of the whole run.
type hist struct {
	counts [histBuckets]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

const (
	histGrowth  = 1.01
	histBuckets = 2100 // histGrowth^2100 µs ≈ 1,200 s
)

var logGrowth = math.Log(histGrowth)

func histBucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	return min(int(math.Log(us)/logGrowth), histBuckets-1)
}

// histValue is the upper bound of bucket b.
func histValue(b int) time.Duration {
	return time.Duration(math.Pow(histGrowth, float64(b+1)) * float64(time.Microsecond))
}

func (h *hist) record(d time.Duration) {
	h.counts[histBucket(d)].Add(1)
	h.sum.Add(int64(d))
}

// Hist is a histogram as reports carry it: sparse buckets.
type Hist struct {
	Buckets map[int]uint64 `json:"buckets,omitempty"`
	SumNS   int64          `json:"sum_ns,omitempty"`
}

// snapshot copies h.
func (h *hist) snapshot() Hist {
	out := Hist{Buckets: make(map[int]uint64), SumNS: h.sum.Load()}
	for b := range h.counts {
		if n := h.counts[b].Load(); n > 0 {
			out.Buckets[b] = n
		}
	}
	return out
}

// add adds o's counts to h.
func (h *Hist) add(o Hist) {
	if h.Buckets == nil {
		h.Buckets = make(map[int]uint64)
	}
	for b, n := range o.Buckets {
		h.Buckets[b] += n
	}
	h.SumNS += o.SumNS
}

// sub is h minus an earlier snapshot of the same histogram.
func (h Hist) sub(earlier Hist) Hist {
	out := Hist{Buckets: make(map[int]uint64), SumNS: h.SumNS - earlier.SumNS}
	for b, n := range h.Buckets {
		if d := n - earlier.Buckets[b]; d > 0 {
			out.Buckets[b] = d
		}
	}
	return out
}

// Summary gives the percentiles, each the upper bound of its bucket
// (within 1%).
func (h Hist) Summary() Summary {
	var total uint64
	top := -1
	for b, n := range h.Buckets {
		total += n
		top = max(top, b)
	}
	if total == 0 {
		return Summary{}
	}
	var counts [histBuckets]uint64
	for b, n := range h.Buckets {
		counts[b] = n
	}
	rank := func(p float64) float64 {
		want := uint64(math.Ceil(p * float64(total)))
		var seen uint64
		for b, n := range counts {
			seen += n
			if seen >= max(want, 1) {
				return ms(histValue(b))
			}
		}
		return ms(histValue(top))
	}
	return Summary{
		Count: int(total),
		Mean:  ms(time.Duration(h.SumNS / int64(total))),
		P50:   rank(0.50),
		P95:   rank(0.95),
		P99:   rank(0.99),
		Max:   ms(histValue(top)),
	}
}
