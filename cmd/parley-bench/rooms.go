package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/backend"
)

// roomsOptions are the settings of the rooms command.
type roomsOptions struct {
	loginOptions
	// Storage is the server's content database, where missing rooms are
	// created; empty means the rooms must exist.
	Storage    string
	RoomPrefix string
	Rooms      int
	Size       int
	// Rate is posts per second over all rooms; 0 is saturation: post as
	// fast as the server reflects the posts to their senders, with at
	// most InFlight posts not yet reflected.
	Rate     float64
	InFlight int
	Duration time.Duration
	// Grace is how long to wait for deliveries still under way after the
	// last post.
	Grace time.Duration
	// JoinInFlight bounds the joins under way at once; JoinTimeout
	// bounds each.
	JoinInFlight int
	JoinTimeout  time.Duration
	// StallTimeout ends a saturation run when no post has been reflected
	// for that long (posts lost, or the server stuck).
	StallTimeout time.Duration
	PID          int
}

// RoomsReport is the result of the rooms command.
type RoomsReport struct {
	Command string `json:"command"`
	Addr    string `json:"addr"`
	Users   string `json:"users"`
	Rooms   int    `json:"rooms"`
	Size    int    `json:"size"`
	// Mode is "rate" (TargetRate posts/s) or "saturation" (InFlight posts
	// awaiting their reflection at most).
	Mode            string  `json:"mode"`
	TargetRate      float64 `json:"target_rate,omitempty"`
	InFlight        int     `json:"inflight,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`

	RoomsCreated  int `json:"rooms_created"`
	RoomsExisting int `json:"rooms_existing"`

	Login LoginReport `json:"login"`
	// Joined is the sessions that joined their room (the subject that
	// ends a join arrived); JoinFailures counts the others by reason.
	Joined       int            `json:"joined"`
	JoinFailures map[string]int `json:"join_failures"`
	JoinSeconds  float64        `json:"join_seconds"`
	// JoinLatency is from the join presence to the subject.
	JoinLatency Summary `json:"join_latency_ms"`
	RoomsActive int     `json:"rooms_active"`

	Posts      int `json:"posts"`
	SendErrors int `json:"send_errors"`
	// PostRate is the posting rate reached.
	PostRate float64 `json:"post_rate"`
	// Acked is the posts reflected to their sender.
	Acked int `json:"acked"`
	// Stalled says why a saturation run stopped early, if it did.
	Stalled string `json:"stalled,omitempty"`

	// Expected is every post times the occupants of its room (the sender
	// included: the room reflects posts to their sender); Received the
	// distinct deliveries of those; Lost the difference at the end of the
	// grace period.
	Expected   int `json:"deliveries_expected"`
	Received   int `json:"deliveries_received"`
	Lost       int `json:"lost"`
	Duplicates int `json:"duplicates"`
	// Misrouted counts posts of this run delivered to a session that is
	// not in their room; Foreign counts bench posts of other runs.
	Misrouted int `json:"misrouted"`
	Foreign   int `json:"foreign"`
	// DeliveredRate is Received over the time from the first post to the
	// last delivery.
	DeliveredRate float64        `json:"delivered_rate"`
	Bounced       map[string]int `json:"bounced"`
	// Latency is from just before the sender's write of a post to an
	// occupant's parse of its delivery, over every delivery; AckLatency
	// only over the reflections to the senders (post → commit →
	// reflection).
	Latency    Summary        `json:"latency_ms"`
	AckLatency Summary        `json:"ack_latency_ms"`
	Dropped    map[string]int `json:"dropped"`

	// ServerSessions covers logins and joins: RSS before the first login
	// and after the last join, kB per joined session. Server covers the
	// posting phase and the grace period.
	ServerSessions *ServerUsage `json:"server_sessions,omitempty"`
	Server         *ServerUsage `json:"server,omitempty"`
	// BenchCPUPercent is this process's CPU during the posting phase and
	// grace period (100 is one core): the bench shares the machine.
	BenchCPUPercent float64 `json:"bench_cpu_percent"`
	BenchRSSKB      int64   `json:"bench_rss_kb"`
}

// roomsRecorder keeps what the occupants see. Its clock is the monotonic
// time since start, which every post carries.
type roomsRecorder struct {
	runID      string
	start      time.Time
	size       int
	mucDomain  string
	roomPrefix string
	rooms      []*roomState
	joins      []joinState // by session

	delivered atomic.Int64 // deliveries of this run, duplicates included
	acked     atomic.Int64
	slots     chan struct{} // saturation: one per post awaiting reflection

	mu           sync.Mutex
	foreign      int
	bounced      map[string]int
	joinFailures map[string]int
}

// unsent marks a post whose write failed: nobody expects it.
const unsent = ^uint16(0)

// roomState is one room's posts and deliveries.
type roomState struct {
	jid string // bare room JID

	mu        sync.Mutex
	occupants []int    // joined sessions
	counts    []uint16 // deliveries by post sequence number
	latencies []time.Duration
	acks      []time.Duration
	lastRecv  time.Duration
	misrouted int
}

// joinState is one session's join.
type joinState struct {
	sent time.Duration
	done chan string // "" when joined, else the failure
	once sync.Once
}

func (j *joinState) finish(reason string) {
	j.once.Do(func() { j.done <- reason })
}

func (r *roomsRecorder) roomOf(i int) int { return i / r.size }

// onStanza is the fleet's handler: session i is an occupant of room
// i/size.
func (r *roomsRecorder) onStanza(i int, _ *Client, e *element) {
	now := time.Since(r.start)
	switch e.XMLName.Local {
	case "presence":
		if e.attr("type") == "error" && r.isRoom(e.attr("from")) {
			r.joins[i].finish("presence error " + e.errorCondition())
		}
	case "message":
		r.onMessage(i, e, now)
	}
}

// isRoom reports whether from is a room of this run or an occupant in it.
func (r *roomsRecorder) isRoom(from string) bool {
	bare, _, _ := strings.Cut(from, "/")
	local, domain, ok := strings.Cut(bare, "@")
	return ok && domain == r.mucDomain && strings.HasPrefix(local, r.roomPrefix)
}

func (r *roomsRecorder) onMessage(i int, e *element, now time.Duration) {
	if e.attr("type") == "error" {
		if !r.isRoom(e.attr("from")) {
			return
		}
		r.mu.Lock()
		r.bounced[e.errorCondition()]++
		r.mu.Unlock()
		r.release()
		return
	}
	body := e.child("jabber:client", "body")
	if body == nil {
		// The subject, alone in a message from the room, ends a join
		// (XEP-0045 §7.2.15).
		if e.child("jabber:client", "subject") != nil && e.attr("from") == r.rooms[r.roomOf(i)].jid {
			r.joins[i].finish("")
		}
		return
	}
	// pb RUN ROOM SEQ SENDER SENT
	f := strings.Fields(body.Text)
	if len(f) != 6 || f[0] != "pb" {
		return
	}
	room, err1 := strconv.Atoi(f[2])
	seq, err2 := strconv.Atoi(f[3])
	sender, err3 := strconv.Atoi(f[4])
	sent, err4 := strconv.ParseInt(f[5], 10, 64)
	if f[1] != r.runID || err1 != nil || err2 != nil || err3 != nil || err4 != nil || room < 0 || room >= len(r.rooms) {
		r.mu.Lock()
		r.foreign++
		r.mu.Unlock()
		return
	}
	rs := r.rooms[room]
	rs.mu.Lock()
	if room != r.roomOf(i) || seq < 0 || seq >= len(rs.counts) {
		rs.misrouted++
		rs.mu.Unlock()
		return
	}
	if rs.counts[seq] == unsent {
		// A write reported failed, yet the post got through.
		rs.counts[seq] = 0
	}
	rs.counts[seq]++
	lat := now - time.Duration(sent)
	rs.latencies = append(rs.latencies, lat)
	rs.lastRecv = max(rs.lastRecv, now)
	if i == sender {
		rs.acks = append(rs.acks, lat)
	}
	rs.mu.Unlock()
	r.delivered.Add(1)
	if i == sender {
		r.acked.Add(1)
		r.release()
	}
}

// release frees a saturation slot, if any is taken.
func (r *roomsRecorder) release() {
	if r.slots == nil {
		return
	}
	select {
	case <-r.slots:
	default:
	}
}

// ensureRooms creates the rooms PREFIX0..PREFIX{n-1}, open, through the
// room engine on the server's database, and counts those that existed.
func ensureRooms(ctx context.Context, dsn, prefix string, n int) (created, existing int, err error) {
	store, err := backend.Open(ctx, dsn)
	if err != nil {
		return 0, 0, fmt.Errorf("opening --storage: %w", err)
	}
	defer store.Close()
	e, err := muc.New(ctx, muc.Config{Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, 0, fmt.Errorf("starting the room engine: %w", err)
	}
	for k := range n {
		name := prefix + strconv.Itoa(k)
		if _, err := store.Room(ctx, name); err == nil {
			existing++
			continue
		} else if !errors.Is(err, storage.ErrNotFound) {
			return created, existing, fmt.Errorf("looking up room %s: %w", name, err)
		}
		_, err := e.CreateRoom(ctx, muc.CreateRoomRequest{
			Room:    storage.Room{Name: name, Category: muc.DefaultCategory},
			Creator: muc.ActorAdmin,
			Privacy: muc.Open,
		})
		switch {
		case muc.CodeOf(err) == muc.CodeConflict:
			existing++
		case err != nil:
			return created, existing, fmt.Errorf("creating room %s: %w", name, err)
		default:
			created++
		}
	}
	return created, existing, nil
}

// runRooms creates the rooms if needed, logs in o.Rooms×o.Size sessions,
// joins each to its room, then posts at o.Rate (or at saturation) for
// o.Duration and measures every delivery.
func runRooms(ctx context.Context, log *slog.Logger, o roomsOptions) (*RoomsReport, error) {
	n := o.Rooms * o.Size
	if o.Rooms <= 0 || o.Size <= 0 {
		return nil, fmt.Errorf("--rooms and --size must be positive")
	}
	if o.Rate < 0 {
		return nil, fmt.Errorf("--rate must be positive, or 0 for saturation, not %g", o.Rate)
	}
	if o.Rate == 0 && o.InFlight <= 0 {
		return nil, fmt.Errorf("saturation (--rate 0) needs --inflight of at least 1")
	}
	if err := checkFDs(n); err != nil {
		return nil, err
	}
	r := &RoomsReport{
		Command:         "rooms",
		Addr:            o.Addr,
		Users:           userRange(o.Prefix, o.Offset, n),
		Rooms:           o.Rooms,
		Size:            o.Size,
		Mode:            "rate",
		TargetRate:      o.Rate,
		DurationSeconds: o.Duration.Seconds(),
	}
	if o.Rate == 0 {
		r.Mode, r.InFlight = "saturation", o.InFlight
	}
	if o.Storage != "" {
		log.Info("creating rooms", "rooms", o.Rooms, "prefix", o.RoomPrefix)
		var err error
		r.RoomsCreated, r.RoomsExisting, err = ensureRooms(ctx, o.Storage, o.RoomPrefix, o.Rooms)
		if err != nil {
			return nil, err
		}
	}

	var id [4]byte
	_, _ = rand.Read(id[:])
	rec := &roomsRecorder{
		runID:        hex.EncodeToString(id[:]),
		start:        time.Now(),
		size:         o.Size,
		mucDomain:    "conference." + o.Domain,
		roomPrefix:   o.RoomPrefix,
		joins:        make([]joinState, n),
		bounced:      make(map[string]int),
		joinFailures: make(map[string]int),
	}
	for k := range o.Rooms {
		rec.rooms = append(rec.rooms, &roomState{jid: o.RoomPrefix + strconv.Itoa(k) + "@" + rec.mucDomain})
	}
	for i := range rec.joins {
		rec.joins[i].done = make(chan string, 1)
	}

	var before ProcSample
	if o.PID != 0 {
		var err error
		if before, err = sampleProc(o.PID); err != nil {
			return nil, err
		}
	}
	sessionsStart := time.Now()
	f := newFleet(o.loginOptions, log, rec.onStanza)
	defer f.close()
	log.Info("logging in", "sessions", n, "addr", o.Addr)
	f.connect(ctx, n)
	r.Login = f.loginReport()
	if ctx.Err() != nil {
		return r, fmt.Errorf("interrupted while logging in: %w", ctx.Err())
	}
	log.Info("logins done", "established", r.Login.Established, "failed", r.Login.Attempted-r.Login.Established)

	// Join, at most o.JoinInFlight at once, each waiting for its subject.
	log.Info("joining rooms", "sessions", r.Login.Established)
	joinStart := time.Now()
	sem := make(chan struct{}, max(o.JoinInFlight, 1))
	var joins sync.WaitGroup
	var joinMu sync.Mutex
	var joinTimes []time.Duration
	for i := range n {
		c := f.client(i)
		if c == nil {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		joins.Go(func() {
			defer func() { <-sem }()
			room := rec.roomOf(i)
			js := &rec.joins[i]
			start := time.Now()
			p := "<presence to='" + escape(rec.rooms[room].jid+"/"+f.username(i)) + "'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>"
			reason := ""
			if err := c.Send([]byte(p)); err != nil {
				reason = "send failed"
			} else {
				timer := time.NewTimer(o.JoinTimeout)
				select {
				case reason = <-js.done:
				case <-timer.C:
					reason = "timeout"
				case <-ctx.Done():
					reason = "cancelled"
				}
				timer.Stop()
			}
			if reason != "" {
				rec.mu.Lock()
				rec.joinFailures[reason]++
				rec.mu.Unlock()
				return
			}
			rs := rec.rooms[room]
			rs.mu.Lock()
			rs.occupants = append(rs.occupants, i)
			rs.mu.Unlock()
			joinMu.Lock()
			joinTimes = append(joinTimes, time.Since(start))
			joinMu.Unlock()
		})
	}
	joins.Wait()
	r.JoinSeconds = round(time.Since(joinStart).Seconds(), 3)
	r.Joined = len(joinTimes)
	r.JoinLatency = summarize(joinTimes)
	r.JoinFailures = copyCounts(rec.joinFailures)
	log.Info("joins done", "joined", r.Joined, "failed", formatCounts(r.JoinFailures), "seconds", r.JoinSeconds)
	if ctx.Err() != nil {
		return r, fmt.Errorf("interrupted while joining: %w", ctx.Err())
	}
	var active []*roomState
	for _, rs := range rec.rooms {
		if len(rs.occupants) > 0 {
			active = append(active, rs)
		}
	}
	r.RoomsActive = len(active)
	if len(active) == 0 {
		return r, fmt.Errorf("no session joined a room; login failures: %s; join failures: %s",
			formatCounts(r.Login.Failures), formatCounts(r.JoinFailures))
	}
	roomIndex := make(map[*roomState]int, len(rec.rooms))
	for k, rs := range rec.rooms {
		roomIndex[rs] = k
	}

	var joined, benchBefore ProcSample
	benchBefore, _ = sampleProc(os.Getpid())
	if o.PID != 0 {
		if after, err := sampleProc(o.PID); err != nil {
			log.Warn("measuring the server after the joins", "err", err)
		} else {
			joined = after
			r.ServerSessions = serverUsage(o.PID, before, after, time.Since(sessionsStart))
			if r.Joined > 0 {
				r.ServerSessions.KBPerSession = round(float64(after.RSSKB-before.RSSKB)/float64(r.Joined), 1)
			}
		}
	}

	// Post.
	if o.Rate == 0 {
		rec.slots = make(chan struct{}, o.InFlight)
	}
	log.Info("posting", "mode", r.Mode, "rate", o.Rate, "inflight", r.InFlight, "for", o.Duration, "rooms", len(active))
	begin := time.Now()
	end := begin.Add(o.Duration)
	var interval float64
	if o.Rate > 0 {
		interval = float64(time.Second) / o.Rate
	}
	var buf []byte
	for k := 0; ; k++ {
		if o.Rate > 0 {
			due := begin.Add(time.Duration(float64(k) * interval))
			if !due.Before(end) || !sleepUntil(ctx, due) {
				break
			}
		} else if stop := r.acquire(ctx, rec.slots, end, o.StallTimeout); stop {
			break
		}
		rs := active[mrand.IntN(len(active))]
		rs.mu.Lock()
		sender := rs.occupants[mrand.IntN(len(rs.occupants))]
		seq := len(rs.counts)
		rs.counts = append(rs.counts, 0)
		rs.mu.Unlock()
		c := f.client(sender)
		sent := time.Since(rec.start)
		buf = fmt.Appendf(buf[:0], "<message to='%s' type='groupchat' id='pb%d-%d'><body>pb %s %d %d %d %d</body></message>",
			rs.jid, roomIndex[rs], seq, rec.runID, roomIndex[rs], seq, sender, int64(sent))
		var err error
		if c == nil {
			err = errors.New("session closed")
		} else {
			err = c.Send(buf)
		}
		if err != nil {
			r.SendErrors++
			rs.mu.Lock()
			rs.counts[seq] = unsent
			rs.mu.Unlock()
			rec.release()
			log.Debug("send failed", "err", err)
			continue
		}
		r.Posts++
	}
	sendTime := time.Since(begin)
	r.PostRate = round(float64(r.Posts)/sendTime.Seconds(), 1)

	// Every post written is expected by every occupant of its room.
	expected := 0
	for _, rs := range active {
		rs.mu.Lock()
		for _, c := range rs.counts {
			if c != unsent {
				expected += len(rs.occupants)
			}
		}
		rs.mu.Unlock()
	}
	log.Info("waiting for deliveries", "posts", r.Posts, "grace", o.Grace)
	graceEnd := time.Now().Add(o.Grace)
	for rec.delivered.Load() < int64(expected) && time.Now().Before(graceEnd) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	wall := time.Since(begin)
	if o.PID != 0 && joined.RSSKB != 0 {
		if after, err := sampleProc(o.PID); err != nil {
			log.Warn("measuring the server after posting", "err", err)
		} else {
			r.Server = serverUsage(o.PID, joined, after, wall)
		}
	}
	if benchAfter, err := sampleProc(os.Getpid()); err == nil && wall > 0 {
		r.BenchCPUPercent = round(100*(benchAfter.CPU-benchBefore.CPU).Seconds()/wall.Seconds(), 1)
		r.BenchRSSKB = benchAfter.RSSKB
	}
	r.Acked = int(rec.acked.Load())
	f.close()

	var lats, acks []time.Duration
	var lastRecv time.Duration
	for _, rs := range active {
		rs.mu.Lock()
		occ := len(rs.occupants)
		for _, c := range rs.counts {
			if c == unsent {
				continue
			}
			r.Expected += occ
			r.Received += min(int(c), occ)
			r.Duplicates += max(int(c)-occ, 0)
		}
		r.Misrouted += rs.misrouted
		lats = append(lats, rs.latencies...)
		acks = append(acks, rs.acks...)
		lastRecv = max(lastRecv, rs.lastRecv)
		rs.mu.Unlock()
	}
	r.Lost = r.Expected - r.Received
	rec.mu.Lock()
	r.Foreign = rec.foreign
	r.Bounced = copyCounts(rec.bounced)
	rec.mu.Unlock()
	if window := lastRecv - begin.Sub(rec.start); window > 0 {
		r.DeliveredRate = round(float64(r.Received)/window.Seconds(), 1)
	}
	r.Latency = summarize(lats)
	r.AckLatency = summarize(acks)
	r.Dropped = f.droppedCounts()
	return r, nil
}

// acquire takes a saturation slot; it reports true when posting must
// stop: the run's end, a cancellation, or no slot freed for stall (which
// it records).
func (r *RoomsReport) acquire(ctx context.Context, slots chan struct{}, end time.Time, stall time.Duration) (stop bool) {
	select {
	case slots <- struct{}{}:
		return !time.Now().Before(end)
	default:
	}
	endTimer := time.NewTimer(time.Until(end))
	defer endTimer.Stop()
	stallTimer := time.NewTimer(stall)
	defer stallTimer.Stop()
	select {
	case slots <- struct{}{}:
		return false
	case <-endTimer.C:
		return true
	case <-ctx.Done():
		return true
	case <-stallTimer.C:
		r.Stalled = fmt.Sprintf("no post reflected to its sender for %s with %d in flight", stall, cap(slots))
		return true
	}
}

// Text is the human-readable report.
func (r *RoomsReport) Text() string {
	var b strings.Builder
	load := fmt.Sprintf("%g posts/s", r.TargetRate)
	if r.Mode == "saturation" {
		load = fmt.Sprintf("saturation (%d posts in flight)", r.InFlight)
	}
	fmt.Fprintf(&b, "parley-bench rooms: %d rooms × %d (%s) on %s, %s for %.1f s\n",
		r.Rooms, r.Size, r.Users, r.Addr, load, r.DurationSeconds)
	fmt.Fprintf(&b, "rooms         %d created, %d existing\n", r.RoomsCreated, r.RoomsExisting)
	r.Login.writeText(&b)
	fmt.Fprintf(&b, "joined        %d in %.1f s (%d rooms active); failed %s\n", r.Joined, r.JoinSeconds, r.RoomsActive, formatCounts(r.JoinFailures))
	fmt.Fprintf(&b, "join time     %s\n", r.JoinLatency)
	fmt.Fprintf(&b, "posts         %d (%.1f posts/s), %d send errors, %d reflected to their sender\n", r.Posts, r.PostRate, r.SendErrors, r.Acked)
	if r.Stalled != "" {
		fmt.Fprintf(&b, "STALLED       %s\n", r.Stalled)
	}
	fmt.Fprintf(&b, "deliveries    %d of %d expected (%.1f deliveries/s)\n", r.Received, r.Expected, r.DeliveredRate)
	fmt.Fprintf(&b, "lost          %d; duplicates %d, misrouted %d, from other runs %d\n", r.Lost, r.Duplicates, r.Misrouted, r.Foreign)
	fmt.Fprintf(&b, "bounced       %s\n", formatCounts(r.Bounced))
	fmt.Fprintf(&b, "latency       %s\n", r.Latency)
	fmt.Fprintf(&b, "  to sender   %s\n", r.AckLatency)
	fmt.Fprintf(&b, "dropped       %s\n", formatCounts(r.Dropped))
	if r.ServerSessions != nil {
		fmt.Fprintf(&b, "server joined %s\n", r.ServerSessions)
	}
	if r.Server != nil {
		fmt.Fprintf(&b, "server posts  %s\n", r.Server)
	}
	fmt.Fprintf(&b, "bench         CPU %.0f%% of one core while posting, RSS %s\n", r.BenchCPUPercent, fmtKB(r.BenchRSSKB))
	return b.String()
}
