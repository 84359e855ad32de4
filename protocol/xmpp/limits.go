package xmpp

import (
	"context"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
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

// maxThrottleDelay is the longest a stanza waits for its sender's tokens;
// one that would wait longer is refused with policy-violation. Only a
// bucket shared by many sessions (an account's, an address's) can ask for
// more: a session alone waits at most for one token of its own rate.
const maxThrottleDelay = 5 * time.Second

// throttleProbeInterval is how often a connection that is not read
// because of its stanza rate is sent a whitespace keepalive (admit).
const throttleProbeInterval = time.Second

var whitespaceKeepalive = []byte(" ")

// bytesPerToken is how many bytes of a stanza one token pays for beyond
// the first: a large stanza costs more than a short one, so a rate in
// stanzas also bounds the bytes a sender pushes through.
const bytesPerToken = 4 << 10

// bucketPruneInterval is how often idle buckets are forgotten.
const bucketPruneInterval = time.Minute

// stanzaBuckets are token buckets keyed by a bare JID or an IP address,
// shared by every session with that key. A bucket that has filled up
// again is forgotten (it is the same as a new one), so only senders
// active in the last seconds hold memory, and reconnecting does not
// refill anyone's bucket faster.
type stanzaBuckets struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastPrune time.Time
}

func newStanzaBuckets(perSecond float64, burst int) *stanzaBuckets {
	return &stanzaBuckets{limit: rate.Limit(perSecond), burst: burst, buckets: make(map[string]*rate.Limiter)}
}

// reserve takes the tokens for a stanza of size bytes from key's bucket.
func (b *stanzaBuckets) reserve(key string, size int64, now time.Time) *rate.Reservation {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.lastPrune) >= bucketPruneInterval {
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
	return l.ReserveN(now, stanzaCost(size, b.burst))
}

// stanzaCost is the tokens a stanza of size bytes takes: one, plus one per
// full bytesPerToken, at most a whole bucket.
func stanzaCost(size int64, burst int) int {
	return int(min(1+size/bytesPerToken, int64(burst)))
}

// admit reads a stanza of size bytes through its sender's rates (RFC 6120
// §13.1 lets a server limit what a client sends): the session's own
// bucket, its account's and its address's. When a bucket is empty it
// waits for the tokens, so that the connection is not read meanwhile and
// TCP slows the sender down (as Prosody's mod_limits and ejabberd's
// shapers do); nothing is dropped. It reports false when the stanza must
// be refused instead (it would wait longer than maxThrottleDelay), and an
// error when the connection is torn down while it waits.
func (c *conn) admit(ctx context.Context, size int64) (bool, error) {
	now := time.Now()
	limits := [...]struct {
		name string
		r    *rate.Reservation
	}{
		{"session", c.rate.ReserveN(now, stanzaCost(size, c.rate.Burst()))},
		{"user", c.srv.userRates.reserve(c.sess.bare, size, now)},
		{"ip", c.srv.ipRates.reserve(c.remoteIP, size, now)},
	}
	var delay time.Duration
	by := ""
	for _, l := range limits {
		if d := l.r.DelayFrom(now); d > delay {
			delay, by = d, l.name
		}
	}
	if delay == 0 {
		return true, nil
	}
	if delay > maxThrottleDelay {
		for _, l := range limits {
			l.r.CancelAt(now)
		}
		c.srv.metrics.stanzasRefused.WithLabelValues(by).Inc()
		return false, nil
	}
	c.srv.metrics.stanzasThrottled.WithLabelValues(by).Inc()
	c.srv.metrics.throttleSeconds.Add(delay.Seconds())
	if now.Sub(c.lastProbe) >= throttleProbeInterval {
		// A whitespace keepalive (RFC 6120 §4.6.1) to a sender we are
		// not reading: if it has closed its socket, its system answers
		// with a reset, and the backlog it left in our buffers goes
		// with the connection instead of trickling on at its rate.
		c.lastProbe = now
		c.sess.sendNonza(whitespaceKeepalive)
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true, nil
	case <-c.stop:
		return false, net.ErrClosed
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// refuse answers a stanza its sender's rates did not let through with
// policy-violation of type wait (RFC 6120 §8.3.3.12): the client may send
// it again later. An error or an IQ result is dropped instead: it must
// not be answered with an error (RFC 6120 §8.3.1).
func (c *conn) refuse(el *Element) {
	switch el.AttrValue("type") {
	case "error", "result":
		return
	}
	c.sess.sendElement(errorReply(el, errPolicyViolation("too many stanzas: slow down and send this again later"), ""))
}
