package main

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// TestRoomsAgainstParleyd runs a tiny rooms scenario (2 rooms of 3) against
// a real parleyd, at a fixed rate and at saturation, and checks behaviour
// only: the rooms are created once, everyone joins, every post reaches
// every occupant of its room exactly once. Timings are not asserted.
func TestRoomsAgainstParleyd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs parleyd")
	}
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	data := t.TempDir()
	dsn := "sqlite:" + filepath.Join(data, "parley.db")
	if _, err := runUsers(ctx, log, usersOptions{Storage: dsn, Prefix: "bench", Password: "pw", Count: 6, Workers: 2}); err != nil {
		t.Fatalf("users: %v", err)
	}
	pid, addr := startParleyd(t, data)

	o := roomsOptions{
		loginOptions: loginOptions{
			Addr: addr, Domain: "localhost", Prefix: "bench", Password: "pw",
			Rate: 100, MaxInFlight: 8, Timeout: 20 * time.Second, WriteTimeout: 10 * time.Second,
		},
		Storage:      dsn,
		RoomPrefix:   "bench-room-",
		Rooms:        2,
		Size:         3,
		Rate:         20,
		Duration:     2 * time.Second,
		Grace:        10 * time.Second,
		JoinInFlight: 4,
		JoinTimeout:  10 * time.Second,
		StallTimeout: 10 * time.Second,
		PID:          pid,
	}
	check := func(name string, r *RoomsReport, wantCreated int) {
		t.Helper()
		t.Logf("%s:\n%s", name, r.Text())
		if r.RoomsCreated != wantCreated || r.RoomsCreated+r.RoomsExisting != 2 {
			t.Errorf("%s: rooms created %d, existing %d; want %d created of 2", name, r.RoomsCreated, r.RoomsExisting, wantCreated)
		}
		if r.Login.Established != 6 || r.Joined != 6 || r.RoomsActive != 2 || len(r.JoinFailures) != 0 {
			t.Errorf("%s: %d logged in, %d joined %d rooms, join failures %v; want 6 in 2 rooms", name, r.Login.Established, r.Joined, r.RoomsActive, r.JoinFailures)
		}
		if r.Posts == 0 || r.SendErrors != 0 || r.Stalled != "" {
			t.Errorf("%s: %d posts, %d send errors, stalled %q; want posts without errors", name, r.Posts, r.SendErrors, r.Stalled)
		}
		if r.Expected != 3*r.Posts || r.Received != r.Expected || r.Lost != 0 || r.Acked != r.Posts {
			t.Errorf("%s: %d posts, %d deliveries expected, %d received, %d lost, %d reflected; want every post to all 3 occupants",
				name, r.Posts, r.Expected, r.Received, r.Lost, r.Acked)
		}
		if r.Duplicates != 0 || r.Misrouted != 0 || len(r.Bounced) != 0 || len(r.Dropped) != 0 {
			t.Errorf("%s: duplicates %d, misrouted %d, bounced %v, dropped %v; want none", name, r.Duplicates, r.Misrouted, r.Bounced, r.Dropped)
		}
		if r.Latency.Count != r.Received || r.AckLatency.Count != r.Acked {
			t.Errorf("%s: %d latencies for %d deliveries, %d for %d reflections", name, r.Latency.Count, r.Received, r.AckLatency.Count, r.Acked)
		}
		if r.Server == nil || r.ServerSessions == nil {
			t.Errorf("%s: no server usage reported for pid %d", name, pid)
		}
	}

	r, err := runRooms(ctx, log, o)
	if err != nil {
		t.Fatalf("rooms: %v", err)
	}
	check("rate", r, 2)

	o.Rate, o.InFlight, o.Duration = 0, 4, time.Second
	if r, err = runRooms(ctx, log, o); err != nil {
		t.Fatalf("rooms at saturation: %v", err)
	}
	check("saturation", r, 0)
}
