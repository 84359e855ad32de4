package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// sessionsOptions are the settings of the sessions command.
type sessionsOptions struct {
	loginOptions
	Count int
	// Hold is how long the sessions stay open after the last login,
	// before the server's memory is measured.
	Hold time.Duration
	// VerifyTimeout bounds the wait for the answers to the final pings.
	VerifyTimeout time.Duration
	// PID is the server's process id, 0 for none.
	PID int
}

// SessionsReport is the result of the sessions command.
type SessionsReport struct {
	Command     string      `json:"command"`
	Addr        string      `json:"addr"`
	Users       string      `json:"users"`
	Count       int         `json:"count"`
	Rate        float64     `json:"rate"`
	MaxInFlight int         `json:"max_inflight"`
	Login       LoginReport `json:"login"`
	HoldSeconds float64     `json:"hold_seconds"`
	// Alive counts the sessions that answered a ping after the hold.
	Alive int `json:"alive"`
	// Dropped counts established sessions that ended before the bench
	// closed them, by reason.
	Dropped map[string]int `json:"dropped"`
	Server  *ServerUsage   `json:"server,omitempty"`
	// BenchRSSKB is this process's own resident memory with every
	// session open.
	BenchRSSKB int64 `json:"bench_rss_kb"`
}

// fdHeadroom is the descriptors a bench process needs besides one per
// session (stdio, the poller, a few spares).
const fdHeadroom = 32

// checkFDs fails early, with advice, when this process cannot hold n
// connections. (Go raises the soft RLIMIT_NOFILE to the hard limit at
// start-up, so the soft limit is all there is.)
func checkFDs(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // unknown: let the logins report it
	}
	if uint64(n)+fdHeadroom > lim.Cur {
		return fmt.Errorf("%d sessions need %d file descriptors, but this process may open %d: raise `ulimit -n` or split the sessions over several bench processes with --offset (e.g. two of %d)",
			n, n+fdHeadroom, lim.Cur, (n+1)/2)
	}
	return nil
}

// runSessions opens o.Count sessions, holds them, checks that they still
// answer, and reports.
func runSessions(ctx context.Context, log *slog.Logger, o sessionsOptions) (*SessionsReport, error) {
	if err := checkFDs(o.Count); err != nil {
		return nil, err
	}
	var before ProcSample
	if o.PID != 0 {
		var err error
		if before, err = sampleProc(o.PID); err != nil {
			return nil, err
		}
	}
	started := time.Now()

	var alive atomic.Int64
	f := newFleet(o.loginOptions, log, func(i int, c *Client, e *element) {
		if e.XMLName.Local == "iq" && e.attr("id") == "verify" && e.attr("type") == "result" {
			alive.Add(1)
		}
	})
	defer f.close()
	log.Info("opening sessions", "count", o.Count, "addr", o.Addr, "rate", o.Rate)
	f.connect(ctx, o.Count)
	r := &SessionsReport{
		Command:     "sessions",
		Addr:        o.Addr,
		Users:       userRange(o.Prefix, o.Offset, o.Count),
		Count:       o.Count,
		Rate:        o.Rate,
		MaxInFlight: o.MaxInFlight,
		Login:       f.loginReport(),
	}
	log.Info("logins done", "established", r.Login.Established, "failed", r.Login.Attempted-r.Login.Established)

	// Hold the sessions (^C ends the hold early), then measure.
	holdStart := time.Now()
	if o.Hold > 0 && ctx.Err() == nil {
		log.Info("holding sessions", "for", o.Hold)
		sleepUntil(ctx, holdStart.Add(o.Hold))
	}
	r.HoldSeconds = round(time.Since(holdStart).Seconds(), 1)
	r.BenchRSSKB = selfRSSKB()
	if o.PID != 0 {
		// The sessions are measured: a server that is gone by now is
		// reported, not fatal.
		if after, err := sampleProc(o.PID); err != nil {
			log.Warn("measuring the server after the hold", "err", err)
		} else {
			r.Server = serverUsage(o.PID, before, after, time.Since(started))
			if r.Login.Established > 0 {
				r.Server.KBPerSession = round(float64(after.RSSKB-before.RSSKB)/float64(r.Login.Established), 1)
			}
		}
	}

	// Every session still open must answer a ping to the server.
	live := f.live()
	ping := []byte("<iq type='get' id='verify' to='" + escape(o.Domain) + "'><ping xmlns='" + nsPing + "'/></iq>")
	for _, i := range live {
		if c := f.client(i); c != nil {
			_ = c.Send(ping)
		}
	}
	deadline := time.Now().Add(o.VerifyTimeout)
	for alive.Load() < int64(len(live)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r.Alive = int(alive.Load())
	f.close()
	r.Dropped = f.droppedCounts()
	return r, nil
}

// userRange names the users of a run: "bench0..bench9999".
func userRange(prefix string, offset, count int) string {
	if count <= 1 {
		return fmt.Sprintf("%s%d", prefix, offset)
	}
	return fmt.Sprintf("%s%d..%s%d", prefix, offset, prefix, offset+count-1)
}

// Text is the human-readable report.
func (r *SessionsReport) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "parley-bench sessions: %d sessions to %s as %s, %s, %d at once\n",
		r.Count, r.Addr, r.Users, rateText(r.Rate), r.MaxInFlight)
	r.Login.writeText(&b)
	fmt.Fprintf(&b, "held          %.1f s; %d of %d answered a ping afterwards\n", r.HoldSeconds, r.Alive, r.Login.Established)
	fmt.Fprintf(&b, "dropped       %s\n", formatCounts(r.Dropped))
	if r.Server != nil {
		fmt.Fprintf(&b, "server        %s\n", r.Server)
	}
	fmt.Fprintf(&b, "bench RSS     %s\n", fmtKB(r.BenchRSSKB))
	return b.String()
}

// rateText describes a login rate limit; 0 means none.
func rateText(r float64) string {
	if r <= 0 {
		return "no login rate limit"
	}
	return fmt.Sprintf("at most %g logins/s", r)
}
