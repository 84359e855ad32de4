package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loginOptions are the settings of the commands that log sessions in.
type loginOptions struct {
	Addr         string
	Domain       string
	Prefix       string
	Password     string
	Offset       int
	Rate         float64 // new sessions per second; 0 is unlimited
	MaxInFlight  int     // logins under way at once
	Timeout      time.Duration
	WriteTimeout time.Duration
	// Mech is "scram" or "plain"; NoTLS skips STARTTLS; Register creates
	// each account in-band (XEP-0077) before logging in.
	Mech     string
	NoTLS    bool
	Register bool
	// Sources are the local addresses the sessions come from, in turn.
	Sources sourceList
}

// register defines the login flags on fs; rateFlag names the flag for the
// login rate ("rate" for sessions, "login-rate" for chat).
func (o *loginOptions) register(fs *flag.FlagSet, rateFlag string) {
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:5222", "the server's XMPP c2s (STARTTLS) listener `HOST:PORT`; several, comma-separated (the nodes of a pool), take the sessions in turn")
	fs.StringVar(&o.Domain, "domain", "localhost", "the server's XMPP `DOMAIN`")
	fs.StringVar(&o.Prefix, "prefix", "bench", "user names are `PREFIX`0, PREFIX1, …")
	fs.StringVar(&o.Password, "password", "bench", "every user's `PASSWORD`")
	fs.IntVar(&o.Offset, "offset", 0, "number of the first user (bench`N`), to run several bench processes on disjoint users")
	fs.Float64Var(&o.Rate, rateFlag, 200, "start at most `R` logins per second (0: no limit)")
	fs.IntVar(&o.MaxInFlight, "max-inflight", 16, "at most `N` logins under way at once; keep it below the server's --max-unauth-per-ip")
	fs.DurationVar(&o.Timeout, "login-timeout", 30*time.Second, "give up on a login after `DURATION`")
	fs.DurationVar(&o.WriteTimeout, "write-timeout", 10*time.Second, "give up on a write to the server after `DURATION`")
	fs.StringVar(&o.Mech, "mech", "scram", "log in with SASL `MECH`: scram (SCRAM-SHA-256, or SCRAM-SHA-1 when the server offers only that) or plain")
	fs.BoolVar(&o.NoTLS, "no-starttls", false, "do not negotiate STARTTLS (only for servers that allow plain-text streams)")
	fs.BoolVar(&o.Register, "register", false, "create each account by in-band registration (XEP-0077) before logging in (the server must allow it; an existing account is fine): for servers whose database the bench cannot write")
	fs.Var(&o.Sources, "source", "connect from the local `ADDRESSES` in turn: a comma-separated list or a range 127.0.0.1-127.0.0.8 (spreads the server's per-address limits); empty: the system's choice")
}

// LoginReport sums up the logins of a run.
type LoginReport struct {
	Attempted   int            `json:"attempted"`
	Established int            `json:"established"`
	Failures    map[string]int `json:"failures"`
	// Seconds is from the first connect to the end of the last login.
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"logins_per_second"`
	// Latency is from the start of the TCP connect to the server's
	// answer to the ping sent after initial presence.
	Latency Summary            `json:"latency_ms"`
	Phases  map[string]Summary `json:"phases_ms"`
}

// fleet is the sessions of one run. It logs them in at a bounded rate and
// then runs one reader goroutine per session (the goroutine that logged
// it in); nothing else is kept per session.
type fleet struct {
	opts   loginOptions
	log    *slog.Logger
	handle func(i int, c *Client, e *element) // called on the readers
	// recvBuffer, if set, gives session i's TCP receive buffer (see
	// ClientConfig.RecvBuffer); ended, if set, is told when an
	// established session's stream ends before close, and why.
	recvBuffer func(i int) int
	ended      func(i int, err error)
	// reconnect, if set, logs a session whose stream ended back in
	// (reconnect.go) instead of letting it go.
	reconnect *reconnector

	closing atomic.Bool
	readers sync.WaitGroup
	up      atomic.Int64 // established so far
	failed  atomic.Int64 // failed logins so far

	mu       sync.Mutex
	clients  []*Client // by index; nil if not (or no longer) connected
	failures map[string]int
	dropped  map[string]int
	timings  []LoginTiming
	elapsed  time.Duration
}

func newFleet(opts loginOptions, log *slog.Logger, handle func(i int, c *Client, e *element)) *fleet {
	return &fleet{
		opts:     opts,
		log:      log,
		handle:   handle,
		failures: make(map[string]int),
		dropped:  make(map[string]int),
	}
}

// username is the name of session i.
func (f *fleet) username(i int) string { return fmt.Sprintf("%s%d", f.opts.Prefix, f.opts.Offset+i) }

// jid is the bare JID of session i.
func (f *fleet) jid(i int) string { return f.username(i) + "@" + f.opts.Domain }

// connect logs in sessions 0..n-1, starting at most opts.Rate per second
// with at most opts.MaxInFlight under way, and returns when every attempt
// has ended. Established sessions stay open until close.
func (f *fleet) connect(ctx context.Context, n int) {
	f.clients = make([]*Client, n)
	sem := make(chan struct{}, max(f.opts.MaxInFlight, 1))
	var logins sync.WaitGroup
	start := time.Now()
	progressDone := make(chan struct{})
	go f.progress(n, progressDone)
	defer close(progressDone)
	for i := 0; i < n; i++ {
		if f.opts.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / f.opts.Rate * float64(time.Second)))
			if !sleepUntil(ctx, due) {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		logins.Add(1)
		go f.session(ctx, i, sem, &logins)
	}
	logins.Wait()
	f.mu.Lock()
	f.elapsed = time.Since(start)
	f.mu.Unlock()
}

// clientConfig is how session i logs in to addr (a reconnection too).
func (f *fleet) clientConfig(i int, addr string) ClientConfig {
	return ClientConfig{
		Addr:         addr,
		Domain:       f.opts.Domain,
		Username:     f.username(i),
		Password:     f.opts.Password,
		Resource:     "parley-bench",
		Timeout:      f.opts.Timeout,
		WriteTimeout: f.opts.WriteTimeout,
		Mech:         f.opts.Mech,
		NoTLS:        f.opts.NoTLS,
		Source:       f.opts.Sources.pick(i),
	}
}

// progress logs how the logins go every few seconds until done closes.
func (f *fleet) progress(n int, done <-chan struct{}) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			f.log.Info("logging in", "established", f.up.Load(), "failed", f.failed.Load(), "of", n)
		}
	}
}

// session logs in session i, then reads its stream until it ends.
func (f *fleet) session(ctx context.Context, i int, sem <-chan struct{}, logins *sync.WaitGroup) {
	cfg := f.clientConfig(i, f.opts.addrOf(i))
	cfg.Register, cfg.RecvBuffer = f.opts.Register, f.recvBufferOf(i)
	c, err := Login(ctx, cfg)
	<-sem
	f.mu.Lock()
	if err != nil {
		f.failures[failureReason(err)]++
		f.mu.Unlock()
		f.failed.Add(1)
		logins.Done()
		f.log.Debug("login failed", "user", f.username(i), "err", err)
		return
	}
	if f.closing.Load() {
		f.mu.Unlock()
		logins.Done()
		c.Close()
		return
	}
	f.clients[i] = c
	f.timings = append(f.timings, c.Timing)
	f.readers.Add(1)
	f.mu.Unlock()
	f.up.Add(1)
	logins.Done()

	defer f.readers.Done()
	f.read(i, c)
}

func (f *fleet) recvBufferOf(i int) int {
	if f.recvBuffer == nil {
		return 0
	}
	return f.recvBuffer(i)
}

// addrOf is the server address of session i: the addresses of --addr
// take the sessions in turn.
func (o loginOptions) addrOf(i int) string {
	addrs := strings.Split(o.Addr, ",")
	return strings.TrimSpace(addrs[i%len(addrs)])
}

// read handles session i's incoming stanzas until its stream ends.
func (f *fleet) read(i int, c *Client) {
	for {
		e, err := c.Next()
		if err != nil && f.reconnect != nil && !f.closing.Load() {
			f.mu.Lock()
			f.clients[i] = nil
			f.dropped[failureReason(err)]++
			f.mu.Unlock()
			c.Close()
			if c = f.reconnect.run(f, i); c == nil {
				return
			}
			continue
		}
		if err != nil {
			f.mu.Lock()
			f.clients[i] = nil
			closing := f.closing.Load()
			if !closing {
				f.dropped[failureReason(err)]++
				f.log.Debug("session ended", "user", f.username(i), "err", err)
			}
			f.mu.Unlock()
			if !closing && f.ended != nil {
				f.ended(i, err)
			}
			c.Close()
			return
		}
		if e.XMLName.Local == "iq" {
			answerIQ(c, e)
		}
		if f.handle != nil {
			f.handle(i, c, e)
		}
	}
}

// answerIQ answers requests from the server, as RFC 6120 §8.2.3 requires:
// pings (XEP-0199) with a result, anything else with service-unavailable.
func answerIQ(c *Client, e *element) {
	typ := e.attr("type")
	if typ != "get" && typ != "set" {
		return
	}
	to := ""
	if from := e.attr("from"); from != "" {
		to = " to='" + escape(from) + "'"
	}
	id := escape(e.attr("id"))
	if typ == "get" && e.child(nsPing, "ping") != nil {
		_ = c.Send([]byte("<iq type='result' id='" + id + "'" + to + "/>"))
		return
	}
	_ = c.Send([]byte("<iq type='error' id='" + id + "'" + to + "><error type='cancel'><service-unavailable xmlns='" + nsStanzas + "'/></error></iq>"))
}

// live returns the indexes of the sessions still connected.
func (f *fleet) live() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for i, c := range f.clients {
		if c != nil {
			out = append(out, i)
		}
	}
	return out
}

// client returns session i, or nil if it is not connected.
func (f *fleet) client(i int) *Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clients[i]
}

// close ends every session and waits for the readers.
func (f *fleet) close() {
	f.closing.Store(true)
	f.mu.Lock()
	clients := make([]*Client, 0, len(f.clients))
	for _, c := range f.clients {
		if c != nil {
			clients = append(clients, c)
		}
	}
	f.mu.Unlock()
	for _, c := range clients {
		c.Close()
	}
	f.readers.Wait()
}

// loginReport sums up the logins.
func (f *fleet) loginReport() LoginReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := LoginReport{
		Established: len(f.timings),
		Failures:    copyCounts(f.failures),
		Seconds:     round(f.elapsed.Seconds(), 3),
		Phases:      make(map[string]Summary),
	}
	for _, n := range f.failures {
		r.Attempted += n
	}
	r.Attempted += r.Established
	if f.elapsed > 0 {
		r.PerSecond = round(float64(r.Established)/f.elapsed.Seconds(), 1)
	}
	totals := make([]time.Duration, len(f.timings))
	for i, t := range f.timings {
		totals[i] = t.Total()
	}
	r.Latency = summarize(totals)
	for p := range numPhases {
		ds := make([]time.Duration, len(f.timings))
		for i, t := range f.timings {
			ds[i] = t[p]
		}
		r.Phases[phaseNames[p]] = summarize(ds)
	}
	return r
}

// droppedCounts is why established sessions ended before close.
func (f *fleet) droppedCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return copyCounts(f.dropped)
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// formatCounts writes counts by reason, largest first, or "none".
func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if m[keys[a]] != m[keys[b]] {
			return m[keys[a]] > m[keys[b]]
		}
		return keys[a] < keys[b]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d × %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

// writeText prints the login part of a report.
func (r LoginReport) writeText(b *strings.Builder) {
	fmt.Fprintf(b, "established   %d of %d in %.1f s (%.0f logins/s)\n", r.Established, r.Attempted, r.Seconds, r.PerSecond)
	fmt.Fprintf(b, "login failed  %s\n", formatCounts(r.Failures))
	fmt.Fprintf(b, "login time    %s\n", r.Latency)
	if r.Latency.Count > 0 {
		b.WriteString("  phases p50/p99:")
		for _, name := range phaseNames {
			s := r.Phases[name]
			fmt.Fprintf(b, " %s %s/%s", name, fmtMS(s.P50), fmtMS(s.P99))
		}
		b.WriteString("\n")
	}
}

// sleepUntil waits until t; it reports false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sourceList is the --source flag: local addresses to connect from.
type sourceList []net.IP

func (l *sourceList) String() string {
	parts := make([]string, len(*l))
	for i, ip := range *l {
		parts[i] = ip.String()
	}
	return strings.Join(parts, ",")
}

// Set parses "A,B,C" or "FIRST-LAST" (IPv4, the last octet counting up).
func (l *sourceList) Set(v string) error {
	*l = nil
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		first, last, isRange := strings.Cut(part, "-")
		a := net.ParseIP(first).To4()
		if !isRange {
			ip := net.ParseIP(part)
			if ip == nil {
				return fmt.Errorf("%q is not an IP address", part)
			}
			*l = append(*l, ip)
			continue
		}
		b := net.ParseIP(last).To4()
		if a == nil || b == nil || a[0] != b[0] || a[1] != b[1] || a[2] != b[2] || a[3] > b[3] {
			return fmt.Errorf("%q is not a range of IPv4 addresses like 127.0.0.1-127.0.0.8", part)
		}
		for o := int(a[3]); o <= int(b[3]); o++ {
			*l = append(*l, net.IPv4(a[0], a[1], a[2], byte(o)))
		}
	}
	return nil
}

// pick is the source of session i, or nil.
func (l sourceList) pick(i int) net.IP {
	if len(l) == 0 {
		return nil
	}
	return l[i%len(l)]
}
