package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// chatOptions are the settings of the chat command.
type chatOptions struct {
	loginOptions
	Pairs    int
	Duration time.Duration
	// Rate is messages per second, all senders together.
	Rate float64
	// Grace is how long to wait for messages still under way after the
	// last one was sent.
	Grace time.Duration
	PID   int
}

// ChatReport is the result of the chat command.
type ChatReport struct {
	Command string      `json:"command"`
	Addr    string      `json:"addr"`
	Users   string      `json:"users"`
	Pairs   int         `json:"pairs"`
	Login   LoginReport `json:"login"`
	// PairsActive is the pairs whose two sessions both logged in.
	PairsActive     int     `json:"pairs_active"`
	TargetRate      float64 `json:"target_rate"`
	DurationSeconds float64 `json:"duration_seconds"`

	Sent       int `json:"sent"`
	SendErrors int `json:"send_errors"`
	// SendRate is the rate actually reached: it falls short of
	// TargetRate when the server pushes back (TCP flow control).
	SendRate float64 `json:"send_rate"`
	Received int     `json:"received"`
	// DeliveredRate is Received over the time from the first send to
	// the last receipt.
	DeliveredRate float64 `json:"delivered_rate"`
	// Lost counts messages sent but not received by the end of the
	// grace period.
	Lost       int `json:"lost"`
	Duplicates int `json:"duplicates"`
	// Misrouted counts messages of this run that reached a session other
	// than their pair's receiver; Foreign counts bench messages from
	// other runs (e.g. offline messages from an earlier, aborted run).
	Misrouted int `json:"misrouted"`
	Foreign   int `json:"foreign"`
	// Bounced counts error replies to messages, by condition.
	Bounced map[string]int `json:"bounced"`
	// Latency is from just before the sender's write to the receiver's
	// parse of the message.
	Latency Summary        `json:"latency_ms"`
	Dropped map[string]int `json:"dropped"`
	// Server covers the send phase and the grace period.
	Server *ServerUsage `json:"server,omitempty"`
}

// chatRecorder collects what the receivers see. Its clock is the
// monotonic time since start, which the senders put in every message.
type chatRecorder struct {
	runID string
	start time.Time
	count atomic.Int64 // unique messages of this run received

	mu         sync.Mutex
	received   map[uint64]struct{} // pair<<32 | seq
	latencies  []time.Duration
	lastRecv   time.Duration
	duplicates int
	misrouted  int
	foreign    int
	bounced    map[string]int
}

// onStanza is the fleet's handler: session i is the sender of pair i/2
// when i is even, its receiver when odd.
func (r *chatRecorder) onStanza(i int, _ *Client, e *element) {
	if e.XMLName.Local != "message" {
		return
	}
	now := time.Since(r.start)
	if e.attr("type") == "error" {
		r.mu.Lock()
		r.bounced[e.errorCondition()]++
		r.mu.Unlock()
		return
	}
	body := e.child("jabber:client", "body")
	if body == nil {
		return
	}
	// pb RUN PAIR SEQ SENT
	f := strings.Fields(body.Text)
	if len(f) != 5 || f[0] != "pb" {
		return
	}
	pair, err1 := strconv.ParseUint(f[2], 10, 32)
	seq, err2 := strconv.ParseUint(f[3], 10, 32)
	sent, err3 := strconv.ParseInt(f[4], 10, 64)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case f[1] != r.runID || err1 != nil || err2 != nil || err3 != nil:
		r.foreign++
		return
	case uint64(i) != 2*pair+1:
		r.misrouted++
		return
	}
	key := pair<<32 | seq
	if _, dup := r.received[key]; dup {
		r.duplicates++
		return
	}
	r.received[key] = struct{}{}
	r.latencies = append(r.latencies, now-time.Duration(sent))
	r.lastRecv = max(r.lastRecv, now)
	r.count.Add(1)
}

// runChat logs in o.Pairs pairs of sessions; the first of each pair sends
// chat messages to the second, o.Rate per second over all pairs, for
// o.Duration.
func runChat(ctx context.Context, log *slog.Logger, o chatOptions) (*ChatReport, error) {
	if err := checkFDs(2 * o.Pairs); err != nil {
		return nil, err
	}
	if o.Rate <= 0 {
		return nil, fmt.Errorf("--rate must be positive, not %g", o.Rate)
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	rec := &chatRecorder{
		runID:    hex.EncodeToString(id[:]),
		start:    time.Now(),
		received: make(map[uint64]struct{}),
		bounced:  make(map[string]int),
	}
	f := newFleet(o.loginOptions, log, rec.onStanza)
	defer f.close()
	log.Info("logging in", "pairs", o.Pairs, "addr", o.Addr)
	f.connect(ctx, 2*o.Pairs)
	r := &ChatReport{
		Command:         "chat",
		Addr:            o.Addr,
		Users:           userRange(o.Prefix, o.Offset, 2*o.Pairs),
		Pairs:           o.Pairs,
		Login:           f.loginReport(),
		TargetRate:      o.Rate,
		DurationSeconds: o.Duration.Seconds(),
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted while logging in: %w", ctx.Err())
	}

	// Only pairs whose two sessions are up take part.
	type pair struct {
		index  int
		sender *Client
		to     string
		seq    uint32
	}
	var pairs []*pair
	for p := range o.Pairs {
		s, rcv := f.client(2*p), f.client(2*p+1)
		if s != nil && rcv != nil {
			pairs = append(pairs, &pair{index: p, sender: s, to: escape(f.jid(2*p + 1))})
		}
	}
	r.PairsActive = len(pairs)
	if len(pairs) == 0 {
		return r, fmt.Errorf("no pair of sessions logged in; login failures: %s", formatCounts(r.Login.Failures))
	}

	var before ProcSample
	if o.PID != 0 {
		var err error
		if before, err = sampleProc(o.PID); err != nil {
			return nil, err
		}
	}
	log.Info("sending", "rate", o.Rate, "for", o.Duration, "pairs", len(pairs))
	begin := time.Now()
	end := begin.Add(o.Duration)
	interval := float64(time.Second) / o.Rate
	var buf []byte
	for k := 0; ; k++ {
		due := begin.Add(time.Duration(float64(k) * interval))
		if !due.Before(end) || !sleepUntil(ctx, due) {
			break
		}
		p := pairs[k%len(pairs)]
		sent := time.Since(rec.start)
		buf = fmt.Appendf(buf[:0], "<message to='%s' type='chat' id='%d'><body>pb %s %d %d %d</body></message>",
			p.to, p.seq, rec.runID, p.index, p.seq, int64(sent))
		p.seq++
		if err := p.sender.Send(buf); err != nil {
			r.SendErrors++
			log.Debug("send failed", "err", err)
			continue
		}
		r.Sent++
	}
	sendTime := time.Since(begin)
	r.SendRate = round(float64(r.Sent)/sendTime.Seconds(), 1)

	// Wait for the messages still under way.
	graceEnd := time.Now().Add(o.Grace)
	for rec.count.Load() < int64(r.Sent) && time.Now().Before(graceEnd) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if o.PID != 0 {
		if after, err := sampleProc(o.PID); err != nil {
			log.Warn("measuring the server after sending", "err", err)
		} else {
			r.Server = serverUsage(o.PID, before, after, time.Since(begin))
		}
	}
	f.close()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	r.Received = len(rec.received)
	r.Lost = r.Sent - r.Received
	r.Duplicates, r.Misrouted, r.Foreign = rec.duplicates, rec.misrouted, rec.foreign
	r.Bounced = copyCounts(rec.bounced)
	if window := rec.lastRecv - begin.Sub(rec.start); window > 0 {
		r.DeliveredRate = round(float64(r.Received)/window.Seconds(), 1)
	}
	r.Latency = summarize(rec.latencies)
	r.Dropped = f.droppedCounts()
	return r, nil
}

// Text is the human-readable report.
func (r *ChatReport) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "parley-bench chat: %d pairs (%s) on %s, %g msgs/s for %.1f s\n",
		r.Pairs, r.Users, r.Addr, r.TargetRate, r.DurationSeconds)
	r.Login.writeText(&b)
	fmt.Fprintf(&b, "pairs active  %d\n", r.PairsActive)
	fmt.Fprintf(&b, "sent          %d (%.1f msgs/s), %d send errors\n", r.Sent, r.SendRate, r.SendErrors)
	fmt.Fprintf(&b, "delivered     %d (%.1f msgs/s)\n", r.Received, r.DeliveredRate)
	fmt.Fprintf(&b, "lost          %d; duplicates %d, misrouted %d, from other runs %d\n", r.Lost, r.Duplicates, r.Misrouted, r.Foreign)
	fmt.Fprintf(&b, "bounced       %s\n", formatCounts(r.Bounced))
	fmt.Fprintf(&b, "latency       %s\n", r.Latency)
	fmt.Fprintf(&b, "dropped       %s\n", formatCounts(r.Dropped))
	if r.Server != nil {
		fmt.Fprintf(&b, "server        %s\n", r.Server)
	}
	return b.String()
}
