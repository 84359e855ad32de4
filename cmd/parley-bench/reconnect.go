package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"
)

// reconnector logs sessions whose stream ended back in, as clients do when
// their server goes away: after a random pause of up to Jitter (so that
// thousands of clients do not all come back in the same millisecond),
// then every Retry, to their own address again (mode "home": the node is
// restarted) or to the next addresses of --addr in turn (mode "next":
// another node of the pool takes them), following a <see-other-host/>
// redirect. Once logged in, the session is handed back to its reader and
// rejoin runs on a goroutine of its own; what it took is recorded.
type reconnector struct {
	ctx     context.Context
	log     *slog.Logger
	mode    string
	jitter  time.Duration
	retry   time.Duration
	giveUp  time.Duration               // per session, from its drop
	reset   func(i int)                 // on the reader's goroutine, before it reads the new stream
	rejoin  func(i int, c *Client) bool // on its own goroutine; true once back in its room
	rejoins sync.WaitGroup

	mu       sync.Mutex
	dropped  map[int]time.Time // when each session's stream ended (its last drop)
	back     []time.Duration   // from a drop to being back in the room
	lastBack time.Time
	timings  []LoginTiming // of the logins that got a session back
	failures map[string]int
	attempts int
}

func newReconnector(ctx context.Context, log *slog.Logger, mode string) *reconnector {
	return &reconnector{
		ctx: ctx, log: log, mode: mode,
		jitter: time.Second, retry: 500 * time.Millisecond, giveUp: 5 * time.Minute,
		dropped: make(map[int]time.Time), failures: make(map[string]int),
	}
}

// run logs session i back in; it returns the new client, or nil when it
// gave up or the run ends.
func (r *reconnector) run(f *fleet, i int) *Client {
	drop := time.Now()
	r.mu.Lock()
	r.dropped[i] = drop
	r.mu.Unlock()
	addrs := strings.Split(f.opts.Addr, ",")
	home := i % len(addrs)
	addr := strings.TrimSpace(addrs[home])
	if !sleepFor(r.ctx, time.Duration(mrand.Int64N(int64(r.jitter)+1))) {
		return nil
	}
	for attempt := 1; time.Since(drop) < r.giveUp; attempt++ {
		if r.mode == "next" {
			addr = strings.TrimSpace(addrs[(home+attempt)%len(addrs)])
		}
		c, err := Login(r.ctx, f.clientConfig(i, addr))
		r.mu.Lock()
		r.attempts++
		if err != nil {
			r.failures[failureReason(err)]++
		}
		r.mu.Unlock()
		if err == nil {
			// closing is checked under f.mu, as fleet.close takes its
			// list of clients to close under it: checked before, a
			// close in between missed this client, whose reader then
			// kept close waiting for ever (a pool run hung so).
			f.mu.Lock()
			if f.closing.Load() {
				f.mu.Unlock()
				c.Close()
				return nil
			}
			f.clients[i] = c
			f.mu.Unlock()
			r.mu.Lock()
			r.timings = append(r.timings, c.Timing)
			r.mu.Unlock()
			r.reset(i)
			r.rejoins.Go(func() {
				if r.rejoin(i, c) {
					now := time.Now()
					r.mu.Lock()
					r.back = append(r.back, now.Sub(drop))
					if now.After(r.lastBack) {
						r.lastBack = now
					}
					r.mu.Unlock()
				}
			})
			return c
		}
		var se *StreamError
		if errors.As(err, &se) && se.Condition == "see-other-host" && se.Other != "" {
			addr = se.Other // RFC 6120 §4.9.3.19: go there at once
			continue
		}
		if r.ctx.Err() != nil || !sleepFor(r.ctx, r.retry) {
			return nil
		}
	}
	r.mu.Lock()
	r.failures["gave up"]++
	r.mu.Unlock()
	return nil
}

// ReconnectReport is what the reconnections took: the storm after a node
// of a pool is killed.
type ReconnectReport struct {
	Mode string `json:"mode"`
	// Displaced is the sessions whose stream ended; Back those logged in
	// and rejoined since.
	Displaced int `json:"displaced"`
	Back      int `json:"back"`
	// BackAfter is from each session's drop to being back in its room;
	// AllBackSeconds from the first drop to the last one back.
	BackAfter      Summary        `json:"back_after_ms"`
	AllBackSeconds float64        `json:"all_back_seconds"`
	Login          Summary        `json:"login_ms"`
	Attempts       int            `json:"attempts"`
	Failures       map[string]int `json:"failures"`
	// LastBackUnixNano is when the last session got back, for the
	// reports of several processes to be merged (merge.go).
	LastBackUnixNano int64 `json:"last_back_unix_ns,omitempty"`
	BackHist         Hist  `json:"back_hist"`
	LoginHist        Hist  `json:"login_hist"`
}

func (r *reconnector) report() *ReconnectReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &ReconnectReport{Mode: r.mode, Displaced: len(r.dropped), Back: len(r.back), Attempts: r.attempts, Failures: copyCounts(r.failures)}
	var bh, lh hist
	for _, d := range r.back {
		bh.record(d)
	}
	for _, t := range r.timings {
		lh.record(t.Total())
	}
	rep.BackHist, rep.LoginHist = bh.snapshot(), lh.snapshot()
	if !r.lastBack.IsZero() {
		rep.LastBackUnixNano = r.lastBack.UnixNano()
	}
	rep.BackAfter = summarize(append([]time.Duration(nil), r.back...))
	var first time.Time
	for _, t := range r.dropped {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if !first.IsZero() && !r.lastBack.IsZero() {
		rep.AllBackSeconds = round(r.lastBack.Sub(first).Seconds(), 3)
	}
	totals := make([]time.Duration, len(r.timings))
	for k, t := range r.timings {
		totals[k] = t.Total()
	}
	rep.Login = summarize(totals)
	return rep
}

func (r *ReconnectReport) String() string {
	return fmt.Sprintf("%d displaced, %d back in their rooms (all back %.1f s after the first drop); back after %s; re-login %s; %d attempts, failed %s",
		r.Displaced, r.Back, r.AllBackSeconds, r.BackAfter, r.Login, r.Attempts, formatCounts(r.Failures))
}

// sleepFor waits d; it reports false if ctx ended first.
func sleepFor(ctx context.Context, d time.Duration) bool {
	return sleepUntil(ctx, time.Now().Add(d))
}
