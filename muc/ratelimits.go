package muc

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Per-user limits on what costs the server most to answer (issue 18,
// item 3): joins (each replays history and announces the user to the
// room), archive queries (XEP-0313, SIP /history) and full-text searches
// (XEP-0431). Each is a token bucket per user with a minute's worth as
// its burst; an empty bucket refuses with CodeResourceConstraint (XMPP
// resource-constraint, type wait), and other users are not affected. The
// administrator is not limited. Buckets are per node: in a pool a user
// whose commands reach several hosts is limited on each.

// Defaults of Config's per-minute limits.
const (
	DefaultJoinsPerMinute          = 60
	DefaultArchiveQueriesPerMinute = 120
	DefaultSearchesPerMinute       = 30
)

// userBuckets is one token bucket per user, forgotten once full again.
type userBuckets struct {
	name  string // the limit, for metrics and refusals
	limit rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastPrune time.Time
}

func newUserBuckets(name string, perMinute int) *userBuckets {
	return newHourlyBuckets(name, int64(perMinute)*60, perMinute)
}

// newHourlyBuckets is a bucket of burst tokens per user refilled at
// perHour an hour.
func newHourlyBuckets(name string, perHour int64, burst int) *userBuckets {
	return &userBuckets{name: name, limit: rate.Limit(float64(perHour) / 3600), burst: burst,
		buckets: make(map[string]*rate.Limiter)}
}

// allow takes a token from user's bucket, if there is one.
func (b *userBuckets) allow(user string, now time.Time) bool {
	return b.allowN(user, 1, now)
}

// allowN takes n tokens from user's bucket, if it holds them.
func (b *userBuckets) allowN(user string, n int, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.lastPrune) >= time.Minute {
		for k, l := range b.buckets {
			if l.TokensAt(now) >= float64(b.burst) {
				delete(b.buckets, k)
			}
		}
		b.lastPrune = now
	}
	l := b.buckets[user]
	if l == nil {
		l = rate.NewLimiter(b.limit, b.burst)
		b.buckets[user] = l
	}
	return l.AllowN(now, n)
}

// rateLimited refuses user when b has no token left for them (nil
// otherwise), counting the refusal.
func (e *Engine) rateLimited(b *userBuckets, user string) error {
	if isAdmin(user) || b.allow(user, e.cfg.Now()) {
		return nil
	}
	e.metrics.rateLimited.WithLabelValues(b.name).Inc()
	per := "a minute"
	if b.limit*60 < rate.Limit(b.burst) {
		per = "an hour"
	}
	return refuse(CodeResourceConstraint, "too many %s: at most %d %s, try again later", b.name, b.burst, per)
}
