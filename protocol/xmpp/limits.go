package xmpp

import (
	"sync"
	"time"
)

// maxAuthBackoff caps the delay before a failed SASL attempt is answered.
const maxAuthBackoff = 30 * time.Second

// authFailureMemory is how long a failed attempt counts towards the
// back-off of its address.
const authFailureMemory = 10 * time.Minute

// ipLimits tracks, per remote address, the streams that have not yet
// authenticated and the recent authentication failures.
type ipLimits struct {
	maxUnauth int

	mu     sync.Mutex
	unauth map[string]int
	fails  map[string]failRecord
}

type failRecord struct {
	count int
	last  time.Time
}

func newIPLimits(maxUnauth int) *ipLimits {
	return &ipLimits{maxUnauth: maxUnauth, unauth: make(map[string]int), fails: make(map[string]failRecord)}
}

// acquireUnauth takes one of the address's unauthenticated-stream slots.
func (l *ipLimits) acquireUnauth(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.unauth[ip] >= l.maxUnauth {
		return false
	}
	l.unauth[ip]++
	return true
}

// unauthCount is how many unauthenticated streams the address holds.
func (l *ipLimits) unauthCount(ip string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unauth[ip]
}

func (l *ipLimits) releaseUnauth(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.unauth[ip] <= 1 {
		delete(l.unauth, ip)
	} else {
		l.unauth[ip]--
	}
}

// authFailed records a failure and returns how long to wait before
// answering it: base, doubled for every earlier recent failure from the
// same address, at most maxAuthBackoff.
func (l *ipLimits) authFailed(ip string, base time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	r := l.fails[ip]
	if now.Sub(r.last) > authFailureMemory {
		r.count = 0
	}
	r.count++
	r.last = now
	l.fails[ip] = r
	if len(l.fails) > 100000 {
		l.pruneLocked(now)
	}
	d := base
	for i := 1; i < r.count && d < maxAuthBackoff; i++ {
		d *= 2
	}
	return min(d, maxAuthBackoff)
}

// authSucceeded forgets the address's failures.
func (l *ipLimits) authSucceeded(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, ip)
}

func (l *ipLimits) pruneLocked(now time.Time) {
	for ip, r := range l.fails {
		if now.Sub(r.last) > authFailureMemory {
			delete(l.fails, ip)
		}
	}
}
