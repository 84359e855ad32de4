package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/internal/contentrules"
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
	// MUCDomain is the rooms' service; empty: conference.DOMAIN.
	MUCDomain string
	Rooms     int
	Size      int
	// Mix, if set, replaces Rooms×Size: COUNTxSIZE,… or seed:USERS (see
	// parseMix).
	Mix string
	// Progress is how often the live progress line is written (0: never).
	Progress time.Duration
	// Rates, if set, are steps of rising post rates, each Duration long.
	Rates []float64
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
	// JoinInterleaved joins the rooms' occupants in turn (the second of
	// every room, then the third, …) instead of room after room.
	JoinInterleaved bool
	// StallTimeout ends a saturation run when no post has been reflected
	// for that long (posts lost, or the server stuck).
	StallTimeout time.Duration
	PID          int
	// Stalled, if positive, is how many occupants of the first room stop
	// reading their socket for a second posting phase (StallDuration
	// long, after a baseline phase of Duration in which every occupant
	// reads): the slow-consumer test of the bigroom command. They connect
	// with a StalledRecvBuffer-byte TCP receive buffer, are never
	// senders, and their deliveries are counted apart from the others'.
	Stalled           int
	StalledRecvBuffer int
	StallDuration     time.Duration
	// StallUntilCut ends the stalled phase as soon as the server has cut
	// every stalled occupant off (StallDuration is then the longest).
	StallUntilCut bool
	// BodySize pads each post's body to about that many bytes.
	BodySize int
	// PresenceBroadcast, if set, is the roles (comma-separated, or none)
	// whose presence the rooms broadcast: each room's first occupant
	// submits muc#roomconfig_presencebroadcast in the owner form
	// (XEP-0045 §10.2) before the others join. With Storage, ensureRooms
	// makes that occupant an owner of the room; without, its join must
	// create the room. PresenceBroadcastMin, if positive, limits this to
	// the rooms of at least that many occupants (the big room of a mix);
	// the others broadcast every role, as the server's default has it.
	PresenceBroadcast    string
	PresenceBroadcastMin int
	// Pool runs (scripts/bench-pool.sh): Reconnect ("home" or "next",
	// see reconnector) logs dropped sessions back in and rejoins them;
	// ReadyFile is created once every session has joined, and posting
	// starts when GoFile exists (several bench processes start
	// together); KillFile, once it exists, holds the time (Unix
	// nanoseconds) a node was killed, which splits the report in two.
	Reconnect string
	ReadyFile string
	GoFile    string
	KillFile  string
}

// RoomsReport is the result of the rooms command.
type RoomsReport struct {
	Command string `json:"command"`
	Addr    string `json:"addr"`
	Users   string `json:"users"`
	Rooms   int    `json:"rooms"`
	Size    int    `json:"size"`
	// Mix is the rooms by size ("100x30,10x150,1x16000") when they differ.
	Mix      string `json:"mix,omitempty"`
	Sessions int    `json:"sessions"`
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
	// PresenceBroadcast is the roles whose presence the rooms were set to
	// broadcast (--presence-broadcast; "" when not set); JoinPresences
	// the occupant presences (the sessions' own included) received until
	// every join ended: n² for a room of n broadcasting every role.
	// PresenceBroadcastMin is the size from which rooms were set so
	// (--presence-broadcast-min; 0: every room).
	PresenceBroadcast    string `json:"presence_broadcast,omitempty"`
	PresenceBroadcastMin int    `json:"presence_broadcast_min,omitempty"`
	JoinPresences        int64  `json:"join_presences"`
	RoomsActive          int    `json:"rooms_active"`

	Posts      int `json:"posts"`
	SendErrors int `json:"send_errors"`
	// PostRate is the posting rate reached.
	PostRate float64 `json:"post_rate"`
	// Acked is the posts reflected to their sender.
	Acked int `json:"acked"`
	// Steps are the posting rates of a run with --rates, in order: what
	// each reached and the latency of the deliveries received meanwhile.
	Steps []StepReport `json:"steps,omitempty"`
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
	Latency    Summary `json:"latency_ms"`
	AckLatency Summary `json:"ack_latency_ms"`
	// LatencyHist and AckHist are the histograms behind Latency and
	// AckLatency (1% buckets), so that the reports of several bench
	// processes add up.
	LatencyHist Hist           `json:"latency_hist"`
	AckHist     Hist           `json:"ack_hist"`
	Dropped     map[string]int `json:"dropped"`
	// OutOfOrder counts the sessions (stalled ones apart) that received
	// their room's posts in an order other than the room's: every
	// occupant must see one order, that of the room's first occupant.
	OutOfOrder int `json:"out_of_order"`
	// Stall is the slow-consumer test (Stalled occupants), if run.
	Stall *StallReport `json:"stall,omitempty"`
	// BeforeKill and AfterKill split a pool run at the time a node was
	// killed (KillFile), by the time each post was sent; Reconnect is
	// the storm of reconnections.
	BeforeKill *PhaseReport     `json:"before_kill,omitempty"`
	AfterKill  *PhaseReport     `json:"after_kill,omitempty"`
	Reconnect  *ReconnectReport `json:"reconnect,omitempty"`

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
	starts     []int // first session of each room
	mucDomain  string
	roomPrefix string
	rooms      []*roomState
	joins      []*joinState // by session

	delivered atomic.Int64 // deliveries of this run, duplicates included
	presences atomic.Int64 // occupant presences received
	lat       hist         // every delivery
	ackLat    hist         // reflections to the senders
	acked     atomic.Int64
	slots     chan struct{} // saturation: one per post awaiting reflection

	// The slow-consumer test: stalled marks the sessions that stop
	// reading (by index; nil without the test); while stalling is set
	// their readers wait for release. order is each session's deliveries
	// so far, in the order received (post sequence numbers).
	stalled          []bool
	stalling         atomic.Bool
	stallGate        chan struct{}
	releaseOnce      sync.Once
	order            [][]int32
	stalledDelivered atomic.Int64
	// killAt is when a node was killed, from start (0: not yet); the
	// deliveries of posts sent before and after are measured apart.
	killAt              atomic.Int64
	latBefore, latAfter hist
	cutMu               sync.Mutex // guards the cut-off times while they are watched

	mu           sync.Mutex
	foreign      int
	bounced      map[string]int
	joinFailures map[string]int
}

// inRoomOrder reports whether got, the posts one session received in
// order, are in the room's order ref wherever both have them (a session
// that missed posts, cut off or reconnecting, is judged on the rest).
func inRoomOrder(got, ref []int32) bool {
	pos := make(map[int32]int, len(ref))
	for k, seq := range ref {
		pos[seq] = k
	}
	last := -1
	for _, seq := range got {
		k, ok := pos[seq]
		if !ok {
			continue
		}
		if k <= last {
			return false
		}
		last = k
	}
	return true
}

// isPrefix reports whether got is the first posts of ref, in order.
func isPrefix(got, ref []int32) bool {
	return len(got) <= len(ref) && slices.Equal(got, ref[:len(got)])
}

// unsent marks a post whose write failed: nobody expects it.
const unsent = ^uint16(0)

// roomState is one room's posts and deliveries.
type roomState struct {
	jid string // bare room JID
	// broadcast is the roles whose presence the room is set to
	// broadcast by its first occupant (--presence-broadcast), or "".
	broadcast string

	mu        sync.Mutex
	occupants []int    // joined sessions (stalled ones apart)
	stalled   []int    // joined sessions that stop reading (Stalled)
	counts    []uint16 // deliveries by post sequence number
	// ref is the occupant whose order of deliveries is the room's (the
	// first joined; -1 before posting), order that order.
	ref   int
	order []int32
	// sentAt is when each post was sent, from start.
	sentAt    []time.Duration
	lastRecv  time.Duration
	misrouted int
}

// joinState is one session's join.
type joinState struct {
	sent time.Duration
	done chan string // "" when joined, else the failure
	once sync.Once
	// created is set when the server says the join created the room
	// (status 201): the joiner then accepts the instant room.
	created atomic.Bool
	// configured receives the answer to the instant room's form: "" for
	// a result, else the failure.
	configured chan string
}

func newJoinState() *joinState {
	return &joinState{done: make(chan string, 1), configured: make(chan string, 1)}
}

func (j *joinState) finish(reason string) {
	j.once.Do(func() { j.done <- reason })
}

// roomOf is the room of session i.
func (r *roomsRecorder) roomOf(i int) int {
	return sort.Search(len(r.starts), func(k int) bool { return r.starts[k] > i }) - 1
}

// onStanza is the fleet's handler: session i is an occupant of room
// i/size.
func (r *roomsRecorder) onStanza(i int, _ *Client, e *element) {
	if r.stalled != nil && r.stalled[i] && r.stalling.Load() {
		// Stop reading: what the server sends waits in the socket.
		<-r.stallGate
	}
	now := time.Since(r.start)
	switch e.XMLName.Local {
	case "presence":
		if !r.isRoom(e.attr("from")) {
			return
		}
		if e.attr("type") == "error" {
			r.joins[i].finish("presence error " + e.errorCondition())
			return
		}
		r.presences.Add(1)
		if x := e.child(nsMUCUser, "x"); x != nil {
			for _, st := range x.Children {
				if st.XMLName.Local == "status" && st.attr("code") == "201" {
					r.joins[i].created.Store(true)
				}
			}
		}
	case "iq":
		if e.attr("id") == "bench-instant" {
			reason := ""
			if e.attr("type") == "error" {
				reason = "room configuration refused: " + e.errorCondition()
			}
			select {
			case r.joins[i].configured <- reason:
			default:
			}
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
	// pb RUN ROOM SEQ SENDER SENT [PADDING]
	f := strings.Fields(body.Text)
	if (len(f) != 6 && len(f) != 7) || f[0] != "pb" {
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
	// Only this session's reader touches its order.
	r.order[i] = append(r.order[i], int32(seq))
	if r.stalled != nil && r.stalled[i] {
		rs.mu.Unlock()
		r.stalledDelivered.Add(1)
		return
	}
	if i == rs.ref {
		rs.order = append(rs.order, int32(seq))
	}
	rs.counts[seq]++
	rs.lastRecv = max(rs.lastRecv, now)
	rs.mu.Unlock()
	lat := now - time.Duration(sent)
	r.lat.record(lat)
	if k := r.killAt.Load(); k != 0 && sent >= k-int64(killMargin) {
		r.latAfter.record(lat)
	} else {
		r.latBefore.record(lat)
	}
	if i == sender {
		r.ackLat.record(lat)
	}
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
// owner(k), if not "", is made an owner of room k (it will configure it).
func ensureRooms(ctx context.Context, dsn, prefix string, n int, owner func(k int) string) (created, existing int, err error) {
	store, err := backend.Open(ctx, dsn, contentrules.Rules{})
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
		} else if !errors.Is(err, storage.ErrNotFound) {
			return created, existing, fmt.Errorf("looking up room %s: %w", name, err)
		} else {
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
		if jid := owner(k); jid != "" {
			if err := e.SetAffiliation(ctx, name, muc.ActorAdmin, jid, muc.AffOwner, "parley-bench: configures the room"); err != nil {
				return created, existing, fmt.Errorf("making %s an owner of room %s: %w", jid, name, err)
			}
		}
	}
	return created, existing, nil
}

// runRooms creates the rooms if needed, logs in o.Rooms×o.Size sessions,
// joins each to its room, then posts at o.Rate (or at saturation) for
// o.Duration and measures every delivery.
func runRooms(ctx context.Context, log *slog.Logger, o roomsOptions) (*RoomsReport, error) {
	sizes, err := roomSizes(o)
	if err != nil {
		return nil, err
	}
	if o.Rate < 0 {
		return nil, fmt.Errorf("--rate must be positive, or 0 for saturation, not %g", o.Rate)
	}
	if o.Rate == 0 && o.InFlight <= 0 {
		return nil, fmt.Errorf("saturation (--rate 0) needs --inflight of at least 1")
	}
	if _, err := broadcastRoles(o.PresenceBroadcast); err != nil {
		return nil, err
	}
	if o.PresenceBroadcastMin < 0 || (o.PresenceBroadcastMin > 0 && o.PresenceBroadcast == "") {
		return nil, fmt.Errorf("--presence-broadcast-min needs --presence-broadcast and a size of at least 1, not %d", o.PresenceBroadcastMin)
	}
	starts := make([]int, len(sizes))
	n := 0
	for k, size := range sizes {
		starts[k] = n
		n += size
	}
	if err := checkFDs(n); err != nil {
		return nil, err
	}
	if o.Stalled < 0 || (o.Stalled > 0 && o.Stalled >= sizes[0]) {
		return nil, fmt.Errorf("--stalled must be fewer than the first room's %d occupants, not %d", sizes[0], o.Stalled)
	}
	r := &RoomsReport{
		Command:         "rooms",
		Addr:            o.Addr,
		Users:           userRange(o.Prefix, o.Offset, n),
		Rooms:           len(sizes),
		Size:            sizes[0],
		Sessions:        n,
		Mode:            "rate",
		TargetRate:      o.Rate,
		DurationSeconds: o.Duration.Seconds(),
	}
	if o.Mix != "" {
		r.Mix = formatMix(sizes)
	}
	if o.Rate == 0 {
		r.Mode, r.InFlight = "saturation", o.InFlight
	}
	if o.Storage != "" {
		log.Info("creating rooms", "rooms", len(sizes), "prefix", o.RoomPrefix)
		var err error
		// The first session of each room set to broadcast fewer
		// roles configures it: the first to log in, which the bench
		// assumes is its first.
		owner := func(k int) string {
			if o.broadcastOf(sizes[k]) == "" {
				return ""
			}
			return fmt.Sprintf("%s%d@%s", o.Prefix, o.Offset+starts[k], o.Domain)
		}
		r.RoomsCreated, r.RoomsExisting, err = ensureRooms(ctx, o.Storage, o.RoomPrefix, len(sizes), owner)
		if err != nil {
			return nil, err
		}
	}

	var id [4]byte
	_, _ = rand.Read(id[:])
	rec := &roomsRecorder{
		runID:        hex.EncodeToString(id[:]),
		start:        time.Now(),
		starts:       starts,
		mucDomain:    o.MUCDomain,
		roomPrefix:   o.RoomPrefix,
		joins:        make([]*joinState, n),
		order:        make([][]int32, n),
		stallGate:    make(chan struct{}),
		bounced:      make(map[string]int),
		joinFailures: make(map[string]int),
	}
	if rec.mucDomain == "" {
		rec.mucDomain = "conference." + o.Domain
	}
	for k := range sizes {
		rec.rooms = append(rec.rooms, &roomState{jid: o.RoomPrefix + strconv.Itoa(k) + "@" + rec.mucDomain, ref: -1,
			broadcast: o.broadcastOf(sizes[k])})
	}
	if o.Stalled > 0 {
		// The last occupants of the first room.
		rec.stalled = make([]bool, n)
		for i := sizes[0] - o.Stalled; i < sizes[0]; i++ {
			rec.stalled[i] = true
		}
	}
	// However the run ends, blocked readers must be let go before the
	// sessions close.
	defer rec.releaseStalled()
	for i := range rec.joins {
		rec.joins[i] = newJoinState()
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
	rejoinStop := make(chan struct{})
	var stopRejoins sync.Once
	if o.Reconnect != "" {
		rc := newReconnector(ctx, log, o.Reconnect)
		rc.reset = func(i int) { rec.joins[i] = newJoinState() }
		rc.rejoin = func(i int, c *Client) bool { return rec.rejoin(ctx, c, o, i, f.username(i), rejoinStop) }
		f.reconnect = rc
		defer func() { stopRejoins.Do(func() { close(rejoinStop) }); rc.rejoins.Wait() }()
	}
	stallEnds := make(map[string]int)
	var stallEndsMu sync.Mutex
	if rec.stalled != nil {
		f.recvBuffer = func(i int) int {
			if rec.stalled[i] {
				return o.StalledRecvBuffer
			}
			return 0
		}
		f.ended = func(i int, err error) {
			if rec.stalled[i] {
				stallEndsMu.Lock()
				stallEnds[endReason(err)]++
				stallEndsMu.Unlock()
			}
		}
	}
	log.Info("logging in", "sessions", n, "addr", o.Addr)
	f.connect(ctx, n)
	r.Login = f.loginReport()
	if ctx.Err() != nil {
		return r, fmt.Errorf("interrupted while logging in: %w", ctx.Err())
	}
	log.Info("logins done", "established", r.Login.Established, "failed", r.Login.Attempted-r.Login.Established)

	// Join, at most o.JoinInFlight at once, each waiting for its subject:
	// first one occupant of every room (whose join creates the room on a
	// server where it does not exist yet), then the others.
	log.Info("joining rooms", "sessions", r.Login.Established)
	joinStart := time.Now()
	var joinTimes []time.Duration
	// The first of each room is its first occupant that logged in.
	first := make([]int, len(sizes))
	var order []int
	for k := range sizes {
		first[k] = -1
		for i := starts[k]; i < starts[k]+sizes[k]; i++ {
			if f.client(i) != nil {
				first[k] = i
				order = append(order, i)
				break
			}
		}
	}
	rec.join(ctx, f, o, order, true, &joinTimes)
	order = order[:0]
	if o.JoinInterleaved {
		// The j-th occupant of every room, then the j+1-th: joins under
		// way at once are in different rooms, as when users come in at
		// random, instead of queueing on one room's turn.
		for j := range slices.Max(sizes) {
			for k, size := range sizes {
				if i := starts[k] + j; j < size && first[k] != i {
					order = append(order, i)
				}
			}
		}
	} else {
		for i := range n {
			if first[rec.roomOf(i)] != i {
				order = append(order, i)
			}
		}
	}
	rec.join(ctx, f, o, order, false, &joinTimes)
	r.JoinSeconds = round(time.Since(joinStart).Seconds(), 3)
	r.Joined = len(joinTimes)
	r.JoinLatency = summarize(joinTimes)
	r.JoinFailures = copyCounts(rec.joinFailures)
	r.PresenceBroadcast, r.PresenceBroadcastMin, r.JoinPresences = o.PresenceBroadcast, o.PresenceBroadcastMin, rec.presences.Load()
	log.Info("joins done", "joined", r.Joined, "failed", formatCounts(r.JoinFailures), "seconds", r.JoinSeconds)
	if ctx.Err() != nil {
		return r, fmt.Errorf("interrupted while joining: %w", ctx.Err())
	}
	var active []*roomState
	for _, rs := range rec.rooms {
		if len(rs.occupants) > 0 {
			active = append(active, rs)
			rs.ref = rs.occupants[0]
		}
	}
	r.RoomsActive = len(active)
	if len(active) == 0 {
		return r, fmt.Errorf("no session joined a room; login failures: %s; join failures: %s",
			formatCounts(r.Login.Failures), formatCounts(r.JoinFailures))
	}
	if o.ReadyFile != "" {
		if err := os.WriteFile(o.ReadyFile, []byte(fmt.Sprintf("%d joined\n", r.Joined)), 0o644); err != nil {
			return r, fmt.Errorf("writing --ready-file: %w", err)
		}
	}
	if o.GoFile != "" {
		log.Info("waiting for the go file", "file", o.GoFile)
		for {
			if _, err := os.Stat(o.GoFile); err == nil {
				break
			}
			if !sleepFor(ctx, 100*time.Millisecond) {
				return r, fmt.Errorf("interrupted while waiting for %s: %w", o.GoFile, ctx.Err())
			}
		}
	}
	stopKillWatch := rec.watchKillFile(o.KillFile)
	defer stopKillWatch()
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
	rates := o.Rates
	durations := make([]time.Duration, len(rates))
	var names []string
	switch {
	case len(rates) == 0 && o.Stalled > 0:
		// A baseline phase with every occupant reading, then the same
		// rate with the stalled ones not reading.
		rates, durations, names = []float64{o.Rate, o.Rate}, []time.Duration{o.Duration, o.StallDuration}, []string{"baseline", "stalled"}
		r.Mode = "stall"
	case len(rates) == 0:
		rates, durations = []float64{o.Rate}, []time.Duration{o.Duration}
	default:
		r.Mode, r.TargetRate = "steps", 0
		for k := range durations {
			durations[k] = o.Duration
		}
	}
	var stallStart time.Time
	cutAt := make([]time.Duration, n) // by stalled session: when the server closed it, from stallStart
	stopWatch := func() {}
	log.Info("posting", "mode", r.Mode, "rates", rates, "inflight", r.InFlight, "for", o.Duration, "rooms", len(active))
	begin := time.Now()
	var posts atomic.Int64
	stopProgress := rec.progress(o.Progress, begin, func() int { return int(posts.Load()) })
	var buf, pad []byte
	if o.BodySize > 0 {
		pad = append([]byte{' '}, padding(o.BodySize)...)
	}
	for step, rate := range rates {
		if step < len(names) && names[step] == "stalled" {
			stallStart = time.Now()
			rec.stalling.Store(true)
			log.Info("stalled occupants stop reading", "stalled", o.Stalled)
			stopWatch = rec.watchStalled(f, stallStart, cutAt)
		}
		stepBegin := time.Now()
		end := stepBegin.Add(durations[step])
		lat0, deliv0, posts0 := rec.lat.snapshot(), rec.delivered.Load(), r.Posts
		var interval float64
		if rate > 0 {
			interval = float64(time.Second) / rate
		}
		for k := 0; ; k++ {
			if rate > 0 {
				due := stepBegin.Add(time.Duration(float64(k) * interval))
				if !due.Before(end) || !sleepUntil(ctx, due) {
					break
				}
				if o.StallUntilCut && !stallStart.IsZero() && k%10 == 0 && rec.allCut(cutAt) {
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
			sent := time.Since(rec.start)
			rs.sentAt = append(rs.sentAt, sent)
			rs.mu.Unlock()
			c := f.client(sender)
			buf = fmt.Appendf(buf[:0], "<message to='%s' type='groupchat' id='pb%d-%d'><body>pb %s %d %d %d %d",
				rs.jid, roomIndex[rs], seq, rec.runID, roomIndex[rs], seq, sender, int64(sent))
			buf = append(buf, pad...)
			buf = append(buf, "</body></message>"...)
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
			posts.Add(1)
		}
		if len(o.Rates) > 0 || len(names) > 0 {
			took := time.Since(stepBegin).Seconds()
			st := StepReport{
				TargetRate:    rate,
				Posts:         r.Posts - posts0,
				PostRate:      round(float64(r.Posts-posts0)/took, 1),
				Deliveries:    int(rec.delivered.Load() - deliv0),
				DeliveredRate: round(float64(rec.delivered.Load()-deliv0)/took, 1),
				Latency:       rec.lat.snapshot().sub(lat0).Summary(),
			}
			if step < len(names) {
				st.Name = names[step]
			}
			r.Steps = append(r.Steps, st)
			log.Info("step done", "rate", rate, "posts/s", st.PostRate, "deliveries/s", st.DeliveredRate, "p99_ms", st.Latency.P99)
		}
		if ctx.Err() != nil || r.Stalled != "" {
			break
		}
	}
	sendTime := time.Since(begin)
	stopProgress()
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
	for (rec.delivered.Load() < int64(expected) || !rec.allCut(cutAt)) && time.Now().Before(graceEnd) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	stopWatch()
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
	stopKillWatch()
	if f.reconnect != nil {
		stopRejoins.Do(func() { close(rejoinStop) })
		f.reconnect.rejoins.Wait()
		r.Reconnect = f.reconnect.report()
	}
	if rec.stalled != nil {
		r.Stall = rec.stallReport(ctx, f, o, r.Steps, cutAt)
		stallEndsMu.Lock()
		r.Stall.Ends = copyCounts(stallEnds)
		stallEndsMu.Unlock()
	}
	f.close()

	var lastRecv time.Duration
	killAt := time.Duration(rec.killAt.Load())
	if killAt != 0 {
		r.BeforeKill, r.AfterKill = &PhaseReport{}, &PhaseReport{}
		r.BeforeKill.LatencyHist, r.AfterKill.LatencyHist = rec.latBefore.snapshot(), rec.latAfter.snapshot()
		r.BeforeKill.Latency, r.AfterKill.Latency = r.BeforeKill.LatencyHist.Summary(), r.AfterKill.LatencyHist.Summary()
		r.BeforeKill.KillAtSeconds = round((killAt - begin.Sub(rec.start)).Seconds(), 3)
	}
	for _, rs := range active {
		rs.mu.Lock()
		occ := len(rs.occupants)
		for seq, c := range rs.counts {
			if c == unsent {
				continue
			}
			r.Expected += occ
			r.Received += min(int(c), occ)
			r.Duplicates += max(int(c)-occ, 0)
			if killAt != 0 {
				ph := r.BeforeKill
				if rs.sentAt[seq] >= killAt-killMargin {
					ph = r.AfterKill
				}
				ph.Posts++
				ph.Expected += occ
				ph.Received += min(int(c), occ)
				ph.Duplicates += max(int(c)-occ, 0)
			}
		}
		r.Misrouted += rs.misrouted
		lastRecv = max(lastRecv, rs.lastRecv)
		rs.mu.Unlock()
	}
	r.Lost = r.Expected - r.Received
	if r.BeforeKill != nil {
		r.BeforeKill.Lost = r.BeforeKill.Expected - r.BeforeKill.Received
		r.AfterKill.Lost = r.AfterKill.Expected - r.AfterKill.Received
	}
	// The readers have ended: the orders are final.
	for _, rs := range active {
		for _, i := range rs.occupants {
			if !inRoomOrder(rec.order[i], rs.order) {
				r.OutOfOrder++
			}
		}
		if r.Stall == nil {
			continue
		}
		for _, i := range rs.stalled {
			if isPrefix(rec.order[i], rs.order) {
				r.Stall.InOrder++
			}
		}
	}
	if r.Stall != nil {
		r.Stall.Delivered = rec.stalledDelivered.Load()
	}
	rec.mu.Lock()
	r.Foreign = rec.foreign
	r.Bounced = copyCounts(rec.bounced)
	rec.mu.Unlock()
	if window := lastRecv - begin.Sub(rec.start); window > 0 {
		r.DeliveredRate = round(float64(r.Received)/window.Seconds(), 1)
	}
	r.LatencyHist = rec.lat.snapshot()
	r.AckHist = rec.ackLat.snapshot()
	r.Latency = r.LatencyHist.Summary()
	r.AckLatency = r.AckHist.Summary()
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
	switch r.Mode {
	case "saturation":
		load = fmt.Sprintf("saturation (%d posts in flight)", r.InFlight)
	case "steps":
		var rs []string
		for _, st := range r.Steps {
			rs = append(rs, strconv.FormatFloat(st.TargetRate, 'f', -1, 64))
		}
		load = "steps of " + strings.Join(rs, ", ") + " posts/s"
	}
	shape := fmt.Sprintf("%d rooms × %d", r.Rooms, r.Size)
	if r.Mix != "" {
		shape = fmt.Sprintf("%d rooms (%s)", r.Rooms, r.Mix)
	}
	fmt.Fprintf(&b, "parley-bench rooms: %s (%s) on %s, %s for %.1f s\n",
		shape, r.Users, r.Addr, load, r.DurationSeconds)
	fmt.Fprintf(&b, "rooms         %d created, %d existing\n", r.RoomsCreated, r.RoomsExisting)
	r.Login.writeText(&b)
	fmt.Fprintf(&b, "joined        %d in %.1f s (%d rooms active); failed %s\n", r.Joined, r.JoinSeconds, r.RoomsActive, formatCounts(r.JoinFailures))
	fmt.Fprintf(&b, "join time     %s\n", r.JoinLatency)
	if r.PresenceBroadcast != "" && r.PresenceBroadcastMin > 0 {
		fmt.Fprintf(&b, "presences     %d received while joining (presence broadcast: %s in rooms of %d or more)\n", r.JoinPresences, r.PresenceBroadcast, r.PresenceBroadcastMin)
	} else if r.PresenceBroadcast != "" {
		fmt.Fprintf(&b, "presences     %d received while joining (presence broadcast: %s)\n", r.JoinPresences, r.PresenceBroadcast)
	} else {
		fmt.Fprintf(&b, "presences     %d received while joining\n", r.JoinPresences)
	}
	fmt.Fprintf(&b, "posts         %d (%.1f posts/s), %d send errors, %d reflected to their sender\n", r.Posts, r.PostRate, r.SendErrors, r.Acked)
	if r.Stalled != "" {
		fmt.Fprintf(&b, "STALLED       %s\n", r.Stalled)
	}
	for _, st := range r.Steps {
		name := "step"
		if st.Name != "" {
			name = st.Name
		}
		fmt.Fprintf(&b, "  %s %6g/s  posted %.0f/s, delivered %.0f/s, %s\n", name, st.TargetRate, st.PostRate, st.DeliveredRate, st.Latency)
	}
	fmt.Fprintf(&b, "deliveries    %d of %d expected (%.1f deliveries/s)\n", r.Received, r.Expected, r.DeliveredRate)
	fmt.Fprintf(&b, "lost          %d; duplicates %d, misrouted %d, from other runs %d; out of order %d sessions\n", r.Lost, r.Duplicates, r.Misrouted, r.Foreign, r.OutOfOrder)
	fmt.Fprintf(&b, "bounced       %s\n", formatCounts(r.Bounced))
	fmt.Fprintf(&b, "latency       %s\n", r.Latency)
	fmt.Fprintf(&b, "  to sender   %s\n", r.AckLatency)
	fmt.Fprintf(&b, "dropped       %s\n", formatCounts(r.Dropped))
	if r.BeforeKill != nil {
		fmt.Fprintf(&b, "node killed   %.1f s into posting\n", r.BeforeKill.KillAtSeconds)
		fmt.Fprintf(&b, "  before      %s\n", r.BeforeKill)
		fmt.Fprintf(&b, "  after       %s\n", r.AfterKill)
	}
	if r.Reconnect != nil {
		fmt.Fprintf(&b, "reconnect     %s\n", r.Reconnect)
	}
	if s := r.Stall; s != nil {
		fmt.Fprintf(&b, "stalled       %d occupants stopped reading (TCP receive buffer %d bytes) for the second phase\n", s.Stalled, s.RecvBuffer)
		fmt.Fprintf(&b, "  others p99  %s before, %s while they stalled\n", fmtMS(s.Baseline.P99), fmtMS(s.During.P99))
		fmt.Fprintf(&b, "  cut off     %d of %d by the server, %s after they stopped reading\n", s.CutOff, s.Stalled, s.CutOffAfter)
		fmt.Fprintf(&b, "  their end   %s\n", formatCounts(s.Ends))
		fmt.Fprintf(&b, "  received    %d deliveries before the cut; %d of %d in the room's order\n", s.Delivered, s.InOrder, s.Stalled)
	}
	if r.ServerSessions != nil {
		fmt.Fprintf(&b, "server joined %s\n", r.ServerSessions)
	}
	if r.Server != nil {
		fmt.Fprintf(&b, "server posts  %s\n", r.Server)
	}
	fmt.Fprintf(&b, "bench         CPU %.0f%% of one core while posting, RSS %s\n", r.BenchCPUPercent, fmtKB(r.BenchRSSKB))
	return b.String()
}

// join joins the sessions in order to their rooms, at most o.JoinInFlight
// at once, and appends the time each took to *times. A join that creates
// the room (status 201) accepts the instant room (XEP-0045 §10.1.2) with
// the server's default configuration before it counts as joined; with
// o.PresenceBroadcast, the first occupants (first) of the rooms it
// applies to submit the owner form with muc#roomconfig_presencebroadcast
// instead, whether or not their join created the room.
func (rec *roomsRecorder) join(ctx context.Context, f *fleet, o roomsOptions, order []int, first bool, times *[]time.Duration) {
	sem := make(chan struct{}, max(o.JoinInFlight, 1))
	var joins sync.WaitGroup
	var mu sync.Mutex
	for _, i := range order {
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
			js := rec.joins[i]
			start := time.Now()
			timer := time.NewTimer(o.JoinTimeout)
			defer timer.Stop()
			wait := func(ch <-chan string) string {
				select {
				case reason := <-ch:
					return reason
				case <-timer.C:
					return "timeout"
				case <-ctx.Done():
					return "cancelled"
				}
			}
			p := "<presence to='" + escape(rec.rooms[room].jid+"/"+f.username(i)) + "'><x xmlns='" + nsMUC + "'><history maxstanzas='0'/></x></presence>"
			reason := ""
			if err := c.Send([]byte(p)); err != nil {
				reason = "send failed"
			} else {
				reason = wait(js.done)
			}
			if reason == "" && (js.created.Load() || (first && rec.rooms[room].broadcast != "")) {
				if err := c.Send([]byte(roomConfigIQ(rec.rooms[room].jid, rec.rooms[room].broadcast))); err != nil {
					reason = "send failed"
				} else {
					reason = wait(js.configured)
				}
			}
			if reason != "" {
				rec.mu.Lock()
				rec.joinFailures[reason]++
				rec.mu.Unlock()
				return
			}
			rs := rec.rooms[room]
			rs.mu.Lock()
			if rec.stalled != nil && rec.stalled[i] {
				rs.stalled = append(rs.stalled, i)
			} else {
				rs.occupants = append(rs.occupants, i)
			}
			rs.mu.Unlock()
			mu.Lock()
			*times = append(*times, time.Since(start))
			mu.Unlock()
		})
	}
	joins.Wait()
}

// broadcastOf is the roles a room of size occupants is set to broadcast
// (--presence-broadcast, --presence-broadcast-min), or "": the server's
// default.
func (o *roomsOptions) broadcastOf(size int) string {
	if size < o.PresenceBroadcastMin {
		return ""
	}
	return o.PresenceBroadcast
}

// broadcastRoles reads --presence-broadcast: roles comma-separated, or
// none (no role's presence); "" means the flag was not given.
func broadcastRoles(v string) ([]string, error) {
	if v == "" || v == "none" {
		return nil, nil
	}
	var roles []string
	for role := range strings.SplitSeq(v, ",") {
		role = strings.TrimSpace(role)
		switch role {
		case "moderator", "participant", "visitor":
			roles = append(roles, role)
		default:
			return nil, fmt.Errorf("--presence-broadcast %q: want moderator, participant and visitor, comma-separated, or none", v)
		}
	}
	return roles, nil
}

// roomConfigIQ is the owner form a room's first occupant submits
// (XEP-0045 §10.2): empty, to accept an instant room (§10.1.2), or with
// muc#roomconfig_presencebroadcast set to roles (XEP-0045 §15.5.3), which
// Parley, Prosody (0.11 on) and ejabberd take.
func roomConfigIQ(room, roles string) string {
	form := ""
	if roles != "" {
		list, _ := broadcastRoles(roles) // checked by runRooms
		form = "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roomconfig</value></field>" +
			"<field var='muc#roomconfig_presencebroadcast'>"
		for _, r := range list {
			form += "<value>" + r + "</value>"
		}
		form += "</field>"
	}
	return "<iq type='set' id='bench-instant' to='" + escape(room) + "'><query xmlns='" + nsMUCOwner + "'>" +
		"<x xmlns='jabber:x:data' type='submit'>" + form + "</x></query></iq>"
}

const (
	nsMUC      = "http://jabber.org/protocol/muc"
	nsMUCUser  = "http://jabber.org/protocol/muc#user"
	nsMUCOwner = "http://jabber.org/protocol/muc#owner"
)

// progress writes a live progress line every interval until the returned
// function is called: posts, deliveries and their rates over the last
// interval, the p99 of that interval's deliveries, and the deliveries
// still missing. On a terminal the line rewrites itself.
func (rec *roomsRecorder) progress(interval time.Duration, begin time.Time, posts func() int) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	tty := isTerminal(os.Stderr)
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		prev := rec.lat.snapshot()
		prevPosts, prevDeliv := 0, int64(0)
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprintln(os.Stderr)
				}
				return
			case <-t.C:
			}
			now := rec.lat.snapshot()
			p, d := posts(), rec.delivered.Load()
			window := now.sub(prev).Summary()
			line := fmt.Sprintf("%5.0fs  posts %d (%.0f/s)  deliveries %d (%.0f/s)  p99 %s  reflected %d",
				time.Since(begin).Seconds(), p, float64(p-prevPosts)/interval.Seconds(),
				d, float64(d-prevDeliv)/interval.Seconds(), fmtMS(window.P99), rec.acked.Load())
			if tty {
				fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(os.Stderr, line)
			}
			prev, prevPosts, prevDeliv = now, p, d
		}
	}()
	return func() { close(done); <-finished }
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// roomSizes is the occupants of each room: o.Mix, else o.Rooms of o.Size.
func roomSizes(o roomsOptions) ([]int, error) {
	if o.Mix != "" {
		return parseMix(o.Mix)
	}
	if o.Rooms <= 0 || o.Size <= 0 {
		return nil, fmt.Errorf("--rooms and --size must be positive")
	}
	sizes := make([]int, o.Rooms)
	for k := range sizes {
		sizes[k] = o.Size
	}
	return sizes, nil
}

// parseMix reads --mix: rooms as COUNTxSIZE,… (e.g. 1x16000,10x150,100x30;
// larger rooms first is customary, any order works), or seed:USERS, the
// seed's planning model scaled to USERS sessions: one room holding a
// twentieth of them (at most 16,000), a quarter in rooms of 150, the rest
// in rooms of 30 (the last room of each kind takes what is left).
func parseMix(v string) ([]int, error) {
	var sizes []int
	if users, ok := strings.CutPrefix(v, "seed:"); ok {
		n, err := strconv.Atoi(users)
		if err != nil || n < 60 {
			return nil, fmt.Errorf("--mix seed:USERS needs at least 60 users, not %q", users)
		}
		big := min(n/20, 16000)
		mid := n / 4
		small := n - big - mid
		sizes = append(sizes, big)
		for _, kind := range [][2]int{{mid, 150}, {small, 30}} {
			total, size := kind[0], kind[1]
			for total > 0 {
				s := min(size, total)
				if total-s < size/2 && total-s > 0 {
					s = total // fold a small remainder into the last room
				}
				sizes = append(sizes, s)
				total -= s
			}
		}
		return sizes, nil
	}
	for _, part := range strings.Split(v, ",") {
		count, size, ok := strings.Cut(strings.TrimSpace(part), "x")
		c, err1 := strconv.Atoi(count)
		s, err2 := strconv.Atoi(size)
		if !ok || err1 != nil || err2 != nil || c <= 0 || s <= 0 {
			return nil, fmt.Errorf("--mix: %q is not COUNTxSIZE (e.g. 10x150)", part)
		}
		for range c {
			sizes = append(sizes, s)
		}
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("--mix: no rooms")
	}
	return sizes, nil
}

// formatMix writes sizes as COUNTxSIZE,… in their order.
func formatMix(sizes []int) string {
	var parts []string
	for k := 0; k < len(sizes); {
		j := k
		for j < len(sizes) && sizes[j] == sizes[k] {
			j++
		}
		parts = append(parts, fmt.Sprintf("%dx%d", j-k, sizes[k]))
		k = j
	}
	return strings.Join(parts, ",")
}

// StepReport is one posting rate of a run with --rates.
type StepReport struct {
	// Name is the phase of a stall test: baseline or stalled.
	Name          string  `json:"name,omitempty"`
	TargetRate    float64 `json:"target_rate"`
	Posts         int     `json:"posts"`
	PostRate      float64 `json:"post_rate"`
	Deliveries    int     `json:"deliveries"`
	DeliveredRate float64 `json:"delivered_rate"`
	Latency       Summary `json:"latency_ms"`
}

// rateList is the --rates flag.
type rateList []float64

func (l *rateList) String() string {
	parts := make([]string, len(*l))
	for i, r := range *l {
		parts[i] = strconv.FormatFloat(r, 'f', -1, 64)
	}
	return strings.Join(parts, ",")
}

func (l *rateList) Set(v string) error {
	*l = nil
	for _, part := range strings.Split(v, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || r <= 0 {
			return fmt.Errorf("%q is not a positive post rate", part)
		}
		*l = append(*l, r)
	}
	return nil
}

// StallReport is the slow-consumer test of a room run with stalled
// occupants: what the others saw before and while they stalled, and what
// the server did with the stalled ones.
type StallReport struct {
	Stalled    int `json:"stalled"`
	RecvBuffer int `json:"recv_buffer_bytes"`
	// Baseline and During are the latency of the other occupants'
	// deliveries in the phase before the stall and the phase of it.
	Baseline Summary `json:"baseline_latency_ms"`
	During   Summary `json:"during_latency_ms"`
	// CutOff counts the stalled sessions whose connection the server
	// closed (seen in the kernel's TCP state, without reading);
	// CutOffAfter is when, from the start of the stall.
	CutOff      int     `json:"cut_off"`
	CutOffAfter Summary `json:"cut_off_after_ms"`
	// Ends is how their streams ended once they read again (the stream
	// error's condition, or the connection's end).
	Ends map[string]int `json:"ends"`
	// Delivered is the posts the stalled sessions received in all;
	// InOrder the stalled sessions whose posts were a prefix of their
	// room's order.
	Delivered int64 `json:"delivered"`
	InOrder   int   `json:"in_order"`
}

// watchStalled notes in cutAt when the server closed each stalled
// session's connection, until the returned function is called. A server
// that closes a socket with unsent data queues its FIN behind the data, so
// a client that does not read never sees it: on this machine the server's
// end of the connection is looked up in /proc/net/tcp (its state leaves
// ESTABLISHED when it closes); for a remote server, the client's own TCP
// state is all there is (PeerClosed).
func (rec *roomsRecorder) watchStalled(f *fleet, start time.Time, cutAt []time.Duration) (stop func()) {
	type pair struct {
		i   int
		key string // server address|client address
	}
	var pairs []pair
	for i, st := range rec.stalled {
		if c := f.client(i); st && c != nil {
			pairs = append(pairs, pair{i, c.raw.RemoteAddr().String() + "|" + c.raw.LocalAddr().String()})
		}
	}
	// The server's ends are visible only if it runs here.
	keys := make([]string, len(pairs))
	for k, p := range pairs {
		keys[k] = p.key
	}
	local := false
	if states, err := tcpStates(keys...); err == nil {
		for _, p := range pairs {
			if _, ok := states[p.key]; ok {
				local = true
				break
			}
		}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		// Reading /proc/net/tcp costs the kernel a walk of every socket
		// of the machine, which slows its TCP down for everyone (read four
		// times a second with 40,000 sockets about, it halved the
		// deliveries to the other occupants): every 2 s, so the cut-off
		// times are within 2 s.
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var states map[string]uint8
			if local {
				states, _ = tcpStates(keys...)
			}
			for _, p := range pairs {
				if cutAt[p.i] != 0 {
					continue
				}
				closed := false
				if states != nil {
					st, ok := states[p.key]
					closed = !ok || st != tcpEstablished
				} else if c := f.client(p.i); c != nil {
					closed = c.PeerClosed()
				}
				if closed {
					rec.cutMu.Lock()
					cutAt[p.i] = max(time.Since(start), 1)
					rec.cutMu.Unlock()
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}

// tcpEstablished is the ESTABLISHED state in /proc/net/tcp.
const tcpEstablished = 1

// tcpStates reads the IPv4 TCP sockets of this machine from /proc/net/tcp:
// state by "local address|remote address". With want, only those
// connections are returned (a machine may have tens of thousands): the
// lines are matched on their hexadecimal form, not parsed.
func tcpStates(want ...string) (map[string]uint8, error) {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return nil, err
	}
	var hexWant map[string]string
	if len(want) > 0 {
		hexWant = make(map[string]string, len(want))
		for _, w := range want {
			l, r, _ := strings.Cut(w, "|")
			if hl, hr := hexAddr(l), hexAddr(r); hl != "" && hr != "" {
				hexWant[hl+" "+hr] = w
			}
		}
	}
	out := make(map[string]uint8)
	for line := range strings.SplitSeq(string(data), "\n") {
		// "%4d: %08X:%04X %08X:%04X %02X ..." (net/ipv4/tcp_ipv4.c)
		k := strings.Index(line, ": ")
		if k < 0 || len(line) < k+2+30 {
			continue
		}
		pair, state := line[k+2:k+2+27], line[k+2+28:k+2+30]
		st, err := strconv.ParseUint(state, 16, 8)
		if err != nil {
			continue
		}
		if hexWant != nil {
			if w, ok := hexWant[pair]; ok {
				out[w] = uint8(st)
			}
			continue
		}
		l, ok1 := procAddr(pair[:13])
		r, ok2 := procAddr(pair[14:])
		if ok1 && ok2 {
			out[l+"|"+r] = uint8(st)
		}
	}
	return out, nil
}

// hexAddr writes IP:PORT (IPv4) as /proc/net/tcp does, or "".
func hexAddr(v string) string {
	ap, err := netip.ParseAddrPort(v)
	if err != nil || !ap.Addr().Is4() {
		return ""
	}
	a := ap.Addr().As4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", a[3], a[2], a[1], a[0], ap.Port())
}

// procAddr reads an address of /proc/net/tcp (AABBCCDD:PPPP, the IPv4
// address in host byte order, little-endian here) as IP:PORT.
func procAddr(v string) (string, bool) {
	ip, port, ok := strings.Cut(v, ":")
	a, err1 := strconv.ParseUint(ip, 16, 32)
	p, err2 := strconv.ParseUint(port, 16, 16)
	if !ok || err1 != nil || err2 != nil {
		return "", false
	}
	return fmt.Sprintf("%d.%d.%d.%d:%d", byte(a), byte(a>>8), byte(a>>16), byte(a>>24), p), true
}

// allCut reports whether the server has cut off every stalled session.
func (rec *roomsRecorder) allCut(cutAt []time.Duration) bool {
	rec.cutMu.Lock()
	defer rec.cutMu.Unlock()
	for i, st := range rec.stalled {
		if st && cutAt[i] == 0 {
			return false
		}
	}
	return true
}

// releaseStalled lets the stalled readers read again.
func (rec *roomsRecorder) releaseStalled() {
	rec.releaseOnce.Do(func() { close(rec.stallGate) })
}

// stallReport lets the stalled sessions read what waits in their sockets
// (up to the server's closing), and sums up the test. cutAt must no
// longer be written.
func (rec *roomsRecorder) stallReport(ctx context.Context, f *fleet, o roomsOptions, steps []StepReport, cutAt []time.Duration) *StallReport {
	s := &StallReport{Stalled: o.Stalled, RecvBuffer: o.StalledRecvBuffer}
	for _, st := range steps {
		switch st.Name {
		case "baseline":
			s.Baseline = st.Latency
		case "stalled":
			s.During = st.Latency
		}
	}
	var cuts []time.Duration
	for i, st := range rec.stalled {
		if st && cutAt[i] != 0 {
			cuts = append(cuts, cutAt[i])
		}
	}
	s.CutOff = len(cuts)
	s.CutOffAfter = summarize(cuts)
	rec.releaseStalled()
	// Those cut off end once they have read the rest; the others catch up
	// and stay.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		open := 0
		for i, st := range rec.stalled {
			if st && cutAt[i] != 0 && f.client(i) != nil {
				open++
			}
		}
		if open == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// endReason sums up how a stream ended: a stream error's condition, else
// failureReason.
func endReason(err error) string {
	var se *StreamError
	if errors.As(err, &se) {
		return "stream error " + se.Condition
	}
	return failureReason(err)
}

// padding is n bytes of filler for a post's body.
func padding(n int) []byte { return []byte(strings.Repeat("x", n)) }

// killMargin is how long before a node is killed a post counts with
// those after: its deliveries may still be under way when the node dies.
const killMargin = 2 * time.Second

// PhaseReport is the posts sent before or after a node was killed (from
// killMargin before it), and their deliveries.
type PhaseReport struct {
	KillAtSeconds float64 `json:"kill_at_seconds,omitempty"`
	Posts         int     `json:"posts"`
	Expected      int     `json:"deliveries_expected"`
	Received      int     `json:"deliveries_received"`
	Lost          int     `json:"lost"`
	Duplicates    int     `json:"duplicates"`
	Latency       Summary `json:"latency_ms"`
	LatencyHist   Hist    `json:"latency_hist"`
}

func (p *PhaseReport) String() string {
	return fmt.Sprintf("%d posts, %d of %d deliveries (lost %d, duplicates %d), %s",
		p.Posts, p.Received, p.Expected, p.Lost, p.Duplicates, p.Latency)
}

// watchKillFile polls file for the time a node was killed (Unix
// nanoseconds) and sets killAt from it, until the returned function is
// called.
func (rec *roomsRecorder) watchKillFile(file string) (stop func()) {
	if file == "" {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			data, err := os.ReadFile(file)
			if err != nil {
				continue
			}
			ns, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			if err != nil || ns <= 0 {
				continue
			}
			rec.killAt.Store(int64(max(time.Unix(0, ns).Sub(rec.start), 1)))
			return
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}

// rejoin joins session i, logged in again as c, to its room without
// history, and reports whether it is back in it.
func (rec *roomsRecorder) rejoin(ctx context.Context, c *Client, o roomsOptions, i int, nick string, stop <-chan struct{}) bool {
	js := rec.joins[i]
	room := rec.rooms[rec.roomOf(i)]
	p := "<presence to='" + escape(room.jid+"/"+nick) + "'><x xmlns='" + nsMUC + "'><history maxstanzas='0'/></x></presence>"
	if err := c.Send([]byte(p)); err != nil {
		return false
	}
	timer := time.NewTimer(o.JoinTimeout)
	defer timer.Stop()
	select {
	case reason := <-js.done:
		return reason == ""
	case <-timer.C:
	case <-ctx.Done():
	case <-stop:
	}
	return false
}
