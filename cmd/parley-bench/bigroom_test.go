package main

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// TestBigRoomStalledReaders runs the bigroom scenario small against a real
// parleyd: 30 occupants in one room, of which 10 stop reading their
// sockets (8 KB receive buffers) in the second phase. It checks behaviour
// only: the server cuts every stalled occupant off as a slow consumer,
// what they got before is a prefix of the room's order, and every other
// occupant receives every post exactly once and in the room's order,
// without being cut off. No timing is asserted.
//
// The server's send queue is made short (--send-queue 32,
// --slow-consumer-time 2s) and the posts large (16 KB) so that a stalled
// reader fills its socket buffers (the kernel's, up to 4 MB on loopback)
// and its queue in seconds; the readers are few because each of them
// must read all that too.
func TestBigRoomStalledReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs parleyd")
	}
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	data := t.TempDir()
	dsn := "sqlite:" + filepath.Join(data, "parley.db")
	const occupants, stalled = 30, 10
	if _, err := runUsers(ctx, log, usersOptions{Storage: dsn, Prefix: "bench", Password: "pw", Count: occupants, Workers: 2}); err != nil {
		t.Fatalf("users: %v", err)
	}
	pid, addr := startParleyd(t, data, append([]string{"--send-queue", "32", "--slow-consumer-time", "2s"}, parleyLimitsOff...)...)

	o := roomsOptions{
		loginOptions: loginOptions{
			Addr: addr, Domain: "localhost", Prefix: "bench", Password: "pw",
			Rate: 100, MaxInFlight: 8, Timeout: 30 * time.Second, WriteTimeout: 10 * time.Second,
		},
		Storage:           dsn,
		RoomPrefix:        "bench-bigroom-",
		Rooms:             1,
		Size:              occupants,
		Rate:              20,
		BodySize:          16000,
		Duration:          2 * time.Second,
		Stalled:           stalled,
		StalledRecvBuffer: 8192,
		StallDuration:     3 * time.Minute,
		StallUntilCut:     true,
		Grace:             60 * time.Second,
		JoinInFlight:      8,
		JoinTimeout:       30 * time.Second,
		StallTimeout:      60 * time.Second,
		PID:               pid,
	}
	r, err := runRooms(ctx, log, o)
	if err != nil {
		t.Fatalf("bigroom: %v", err)
	}
	t.Logf("\n%s", r.Text())
	if r.Login.Established != occupants || r.Joined != occupants || len(r.JoinFailures) != 0 {
		t.Fatalf("%d logged in, %d joined, join failures %v; want all %d", r.Login.Established, r.Joined, r.JoinFailures, occupants)
	}
	if r.Stall == nil || len(r.Steps) != 2 || r.Steps[0].Name != "baseline" || r.Steps[1].Name != "stalled" {
		t.Fatalf("no stall report or phases: %+v, steps %+v", r.Stall, r.Steps)
	}
	s := r.Stall
	if s.CutOff != stalled {
		t.Errorf("%d of the %d stalled occupants cut off; want all", s.CutOff, stalled)
	}
	if s.InOrder != stalled {
		t.Errorf("%d of the %d stalled occupants got a prefix of the room's order; want all", s.InOrder, stalled)
	}
	if n := s.Ends["connection closed by server"] + s.Ends["stream error policy-violation"] + s.Ends["connection reset by peer"]; n != stalled {
		t.Errorf("stalled occupants' streams ended %v; want all %d closed by the server", s.Ends, stalled)
	}
	// The others: every post, once, in the room's order, and nobody
	// else cut off.
	if r.Posts == 0 || r.SendErrors != 0 || r.Acked != r.Posts {
		t.Errorf("%d posts, %d send errors, %d reflected; want posts without errors, all reflected", r.Posts, r.SendErrors, r.Acked)
	}
	readers := occupants - stalled
	if r.Expected != readers*r.Posts || r.Received != r.Expected || r.Lost != 0 || r.Duplicates != 0 || r.Misrouted != 0 {
		t.Errorf("%d posts: %d deliveries expected, %d received, %d lost, %d duplicates, %d misrouted; want every post to each of the %d readers once",
			r.Posts, r.Expected, r.Received, r.Lost, r.Duplicates, r.Misrouted, readers)
	}
	if r.OutOfOrder != 0 {
		t.Errorf("%d readers received the posts in another order than the room's", r.OutOfOrder)
	}
	if sum(r.Dropped) != stalled {
		t.Errorf("sessions ended %v; want only the %d stalled ones", r.Dropped, stalled)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestBigRoomPresenceBroadcast runs bigroom small against a real parleyd
// with --presence-broadcast moderator: the first occupant (made an owner
// through --storage) submits the owner form before the others join, so
// each later joiner gets two presences (the owner's and its own) instead
// of one per occupant, and the participants still post.
func TestBigRoomPresenceBroadcast(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs parleyd")
	}
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	data := t.TempDir()
	dsn := "sqlite:" + filepath.Join(data, "parley.db")
	const occupants = 20
	if _, err := runUsers(ctx, log, usersOptions{Storage: dsn, Prefix: "bench", Password: "pw", Count: occupants, Workers: 2}); err != nil {
		t.Fatalf("users: %v", err)
	}
	_, addr := startParleyd(t, data, parleyLimitsOff...)
	o := roomsOptions{
		loginOptions: loginOptions{
			Addr: addr, Domain: "localhost", Prefix: "bench", Password: "pw",
			Rate: 100, MaxInFlight: 8, Timeout: 30 * time.Second, WriteTimeout: 10 * time.Second,
		},
		Storage:           dsn,
		RoomPrefix:        "bench-bigroom-",
		Rooms:             1,
		Size:              occupants,
		Rate:              20,
		Duration:          time.Second,
		Grace:             30 * time.Second,
		JoinInFlight:      8,
		JoinTimeout:       30 * time.Second,
		StallTimeout:      30 * time.Second,
		PresenceBroadcast: "moderator",
	}
	r, err := runRooms(ctx, log, o)
	if err != nil {
		t.Fatalf("bigroom: %v", err)
	}
	t.Logf("\n%s", r.Text())
	if r.Joined != occupants || len(r.JoinFailures) != 0 {
		t.Fatalf("%d joined, join failures %v; want all %d", r.Joined, r.JoinFailures, occupants)
	}
	// The owner: its own; each of the others: the owner's and its own.
	if want := int64(1 + 2*(occupants-1)); r.JoinPresences != want {
		t.Errorf("%d presences received while joining, want %d (moderators only)", r.JoinPresences, want)
	}
	if r.Posts == 0 || r.Acked != r.Posts || r.Lost != 0 || r.Received != r.Expected {
		t.Errorf("%d posts, %d reflected, %d of %d deliveries, %d lost; want every post delivered", r.Posts, r.Acked, r.Received, r.Expected, r.Lost)
	}
}

// TestRoomsPresenceBroadcastMin runs rooms with a mix (one room of 12, two
// of 4) and --presence-broadcast moderator --presence-broadcast-min 10
// against a real parleyd: only the room of 12 is set to broadcast its
// moderators (its first occupant, made its owner, submits the form; the
// others' joins bring them two presences each), while the rooms of 4 keep
// the default and cost n² presences each. The occupants join in turn
// across the rooms (--join-interleaved).
func TestRoomsPresenceBroadcastMin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs parleyd")
	}
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	data := t.TempDir()
	dsn := "sqlite:" + filepath.Join(data, "parley.db")
	const big, small = 12, 4
	if _, err := runUsers(ctx, log, usersOptions{Storage: dsn, Prefix: "bench", Password: "pw", Count: big + 2*small, Workers: 2}); err != nil {
		t.Fatalf("users: %v", err)
	}
	_, addr := startParleyd(t, data, parleyLimitsOff...)
	o := roomsOptions{
		loginOptions: loginOptions{
			Addr: addr, Domain: "localhost", Prefix: "bench", Password: "pw",
			Rate: 100, MaxInFlight: 8, Timeout: 30 * time.Second, WriteTimeout: 10 * time.Second,
		},
		Storage:              dsn,
		RoomPrefix:           "bench-mix-",
		Mix:                  "1x12,2x4",
		Rate:                 20,
		Duration:             time.Second,
		Grace:                30 * time.Second,
		JoinInFlight:         8,
		JoinTimeout:          30 * time.Second,
		StallTimeout:         30 * time.Second,
		PresenceBroadcast:    "moderator",
		PresenceBroadcastMin: 10,
		// Joins room by room's turn do not change the count.
		JoinInterleaved: true,
	}
	r, err := runRooms(ctx, log, o)
	if err != nil {
		t.Fatalf("rooms: %v", err)
	}
	t.Logf("\n%s", r.Text())
	if r.Joined != big+2*small || len(r.JoinFailures) != 0 {
		t.Fatalf("%d joined, join failures %v; want all %d", r.Joined, r.JoinFailures, big+2*small)
	}
	// The big room: the owner's own, then the owner's and its own for
	// each other. A room of 4 broadcasting every role: the k-th joiner
	// gets k presences and tells the k-1 there, 16 in all.
	if want := int64(1 + 2*(big-1) + 2*small*small); r.JoinPresences != want {
		t.Errorf("%d presences received while joining, want %d (moderators only in the room of %d, everyone in the rooms of %d)", r.JoinPresences, want, big, small)
	}
	if r.Posts == 0 || r.Acked != r.Posts || r.Lost != 0 || r.Received != r.Expected {
		t.Errorf("%d posts, %d reflected, %d of %d deliveries, %d lost; want every post delivered", r.Posts, r.Acked, r.Received, r.Expected, r.Lost)
	}

	o.PresenceBroadcast = ""
	if _, err := runRooms(ctx, log, o); err == nil {
		t.Error("--presence-broadcast-min without --presence-broadcast: no error")
	}
}
