package main

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseMix(t *testing.T) {
	sizes, err := parseMix("1x100,2x30")
	if err != nil || !slices.Equal(sizes, []int{100, 30, 30}) {
		t.Fatalf("parseMix(1x100,2x30) = %v, %v", sizes, err)
	}
	if got := formatMix(sizes); got != "1x100,2x30" {
		t.Errorf("formatMix = %q", got)
	}
	sizes, err = parseMix("seed:78000")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, s := range sizes {
		total += s
	}
	if total != 78000 || sizes[0] != 3900 {
		t.Errorf("seed:78000: %d users, largest room %d; want 78000, 3900 (%s)", total, sizes[0], formatMix(sizes))
	}
	if sizes, _ := parseMix("seed:400000"); sizes[0] != 16000 {
		t.Errorf("seed:400000: largest room %d, want the seed's 16000", sizes[0])
	}
	for _, bad := range []string{"", "x", "3x", "0x10", "seed:10"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q): no error", bad)
		}
	}
}

func TestSourceList(t *testing.T) {
	var l sourceList
	if err := l.Set("127.0.0.2-127.0.0.4,::1"); err != nil {
		t.Fatal(err)
	}
	if got := l.String(); got != "127.0.0.2,127.0.0.3,127.0.0.4,::1" {
		t.Errorf("sources %s", got)
	}
	if got := l.pick(5).String(); got != "127.0.0.3" {
		t.Errorf("pick(5) = %s", got)
	}
	for _, bad := range []string{"127.0.0.4-127.0.0.2", "127.0.0.1-127.0.1.2", "nope"} {
		if err := l.Set(bad); err == nil {
			t.Errorf("Set(%q): no error", bad)
		}
	}
}

// The histogram's percentiles are within its 1% buckets, and two
// histograms add up to the one of all samples.
func TestHist(t *testing.T) {
	var a, b hist
	for i := 1; i <= 100; i++ {
		h := &a
		if i%2 == 0 {
			h = &b
		}
		h.record(time.Duration(i) * time.Millisecond)
	}
	var sum Hist
	sum.add(a.snapshot())
	sum.add(b.snapshot())
	s := sum.Summary()
	if s.Count != 100 || s.Mean != 50.5 {
		t.Fatalf("summary %+v", s)
	}
	for _, c := range []struct{ got, want float64 }{{s.P50, 50}, {s.P99, 99}, {s.Max, 100}} {
		if c.got < c.want || c.got > c.want*1.011 {
			t.Errorf("percentile %v, want %v within 1%% (%+v)", c.got, c.want, s)
		}
	}
}

// TestSuite runs the suite at a tiny scale on every server: each starts
// from its generated configuration, accounts are created (in Parley's
// database, in-band on the peers), rooms are created (in Parley's
// database, by the first join on the peers), and every post reaches every
// occupant; the table has a column per server. Timings are not asserted.
func TestSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts parleyd, Prosody and ejabberd")
	}
	servers := []string{"parley-sqlite", "prosody", "ejabberd"}
	if exec.Command("mysqladmin", "-uroot", "-h127.0.0.1", "--protocol=tcp", "ping").Run() == nil {
		servers = append(servers, "parley-mysql")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/parleyd")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build parleyd: %v\n%s", err, out)
	}
	o := suiteOptions{
		Bin: bin, Work: t.TempDir(), Domain: "localhost", MySQL: "root@tcp(127.0.0.1:3306)/", Servers: servers,
		Mech: "scram", Password: "pw", LoginUsers: 10, LoginRate: 100, Hold: time.Second,
		SatRooms: 3, SatSize: 4, SatRates: rateList{20, 40}, SatStep: time.Second,
		Mix: "1x8,2x3", MixRate: 10, MixDuration: time.Second, BigRoom: 15, BigRate: 5, BigDuration: time.Second, JoinRate: 100,
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := runSuite(ctx, log, o)
	if err != nil {
		t.Fatal(err)
	}
	table := r.Text()
	t.Logf("\n%s", table)
	for _, s := range r.Servers {
		if s.Error != "" {
			t.Errorf("%s: %s", s.Server, s.Error)
			continue
		}
		if s.Login.Login.Established != 10 || s.Login.Alive != 10 {
			t.Errorf("%s: %d sessions established, %d alive; want 10", s.Server, s.Login.Login.Established, s.Login.Alive)
		}
		for name, rr := range map[string]*RoomsReport{"saturation": s.Sat, "mix": s.Mix, "big room": s.Big} {
			if rr.Joined != rr.Sessions || rr.Posts == 0 || rr.Received != rr.Expected || rr.Lost != 0 || rr.Duplicates != 0 {
				t.Errorf("%s %s: %d of %d joined (%v), %d posts, %d of %d deliveries, %d lost, %d duplicates",
					s.Server, name, rr.Joined, rr.Sessions, rr.JoinFailures, rr.Posts, rr.Received, rr.Expected, rr.Lost, rr.Duplicates)
			}
		}
		if len(s.Sat.Steps) != 2 {
			t.Errorf("%s: %d saturation steps, want 2", s.Server, len(s.Sat.Steps))
		}
	}
	if head, _, _ := strings.Cut(table, "\n"); head != "| | "+strings.Join(servers, " | ")+" |" {
		t.Errorf("table header %q", head)
	}
}
