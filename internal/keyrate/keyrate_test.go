package keyrate

import (
	"testing"
	"time"
)

// Each key has its own bucket; a bucket refills at the limit; full
// buckets are forgotten at the next prune.
func TestBuckets(t *testing.T) {
	b := New(PerMinute(60), 2) // one a second, two at once
	now := time.Unix(1_000_000, 0)
	for i, want := range []bool{true, true, false} {
		if got := b.AllowN("a", 1, now); got != want {
			t.Errorf("a, take %d: %v, want %v", i+1, got, want)
		}
	}
	if !b.AllowN("b", 2, now) {
		t.Error("b's bucket is a's")
	}
	if got := b.Tokens("a", now.Add(time.Second)); got < 0.99 || got > 1.01 {
		t.Errorf("a after a second: %v tokens, want 1", got)
	}
	if !b.AllowN("a", 1, now.Add(time.Second)) {
		t.Error("a refilled: refused")
	}
	if b.Len() != 2 {
		t.Errorf("%d buckets, want 2", b.Len())
	}
	b.Tokens("c", now.Add(2*time.Minute)) // prunes a and b, full again
	if b.Len() != 1 {
		t.Errorf("after the prune %d buckets, want 1 (c)", b.Len())
	}
}
