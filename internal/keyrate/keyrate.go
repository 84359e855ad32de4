// Package keyrate keeps a token bucket per key (a client address, a user):
// the shape of Parley's abuse limits. A bucket that is full again is
// forgotten, at most once a minute, so the map holds only the keys seen
// lately. Standard library and golang.org/x/time/rate only.
package keyrate

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Buckets is a token bucket per key, each of burst tokens refilled at
// limit a second. The zero value is not usable: call New.
type Buckets struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastPrune time.Time
}

// New returns buckets of burst tokens refilled at limit a second.
func New(limit rate.Limit, burst int) *Buckets {
	return &Buckets{limit: limit, burst: burst, buckets: make(map[string]*rate.Limiter)}
}

// PerMinute is the limit of n tokens a minute.
func PerMinute(n float64) rate.Limit { return rate.Limit(n / 60) }

// AllowN takes n tokens from key's bucket if it holds them, and reports
// whether it did.
func (b *Buckets) AllowN(key string, n int, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bucketLocked(key, now).AllowN(now, n)
}

// Tokens is how many tokens key's bucket holds now.
func (b *Buckets) Tokens(key string, now time.Time) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bucketLocked(key, now).TokensAt(now)
}

// Len is how many keys have a bucket.
func (b *Buckets) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buckets)
}

func (b *Buckets) bucketLocked(key string, now time.Time) *rate.Limiter {
	if now.Sub(b.lastPrune) >= time.Minute {
		for k, l := range b.buckets {
			if l.TokensAt(now) >= float64(b.burst) {
				delete(b.buckets, k)
			}
		}
		b.lastPrune = now
	}
	l := b.buckets[key]
	if l == nil {
		l = rate.NewLimiter(b.limit, b.burst)
		b.buckets[key] = l
	}
	return l
}
