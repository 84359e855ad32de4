package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Summary describes a set of latencies, in milliseconds.
type Summary struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// summarize computes nearest-rank percentiles; it sorts ds.
func summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ms(ds[max(i, 0)])
	}
	return Summary{
		Count: len(ds),
		Mean:  ms(sum / time.Duration(len(ds))),
		P50:   rank(0.50),
		P95:   rank(0.95),
		P99:   rank(0.99),
		Max:   ms(ds[len(ds)-1]),
	}
}

// ms is d in milliseconds, rounded to microseconds.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func (s Summary) String() string {
	if s.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s  (mean %s, n=%d)",
		fmtMS(s.P50), fmtMS(s.P95), fmtMS(s.P99), fmtMS(s.Max), fmtMS(s.Mean), s.Count)
}

func fmtMS(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

// ProcSample is a process's resident memory and CPU time, from /proc.
type ProcSample struct {
	RSSKB int64
	CPU   time.Duration
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// sampleProc reads VmRSS from /proc/PID/status and utime+stime from
// /proc/PID/stat (proc(5)).
func sampleProc(pid int) (ProcSample, error) {
	var s ProcSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("reading server memory: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			s.RSSKB, err = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return s, fmt.Errorf("parsing VmRSS of process %d: %w", pid, err)
			}
		}
	}
	if s.RSSKB == 0 {
		// A zombie has no VmRSS line.
		return s, fmt.Errorf("process %d has no resident memory: has it exited?", pid)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("reading server CPU time: %w", err)
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis start with field 3 (state). utime and stime
	// are fields 14 and 15.
	i := bytes.LastIndexByte(stat, ')')
	fields := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(fields) < 13 {
		return s, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("parsing CPU times in /proc/%d/stat", pid)
	}
	s.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	return s, nil
}

// ServerUsage is what the server process used during a run.
type ServerUsage struct {
	PID          int     `json:"pid"`
	RSSBeforeKB  int64   `json:"rss_before_kb"`
	RSSAfterKB   int64   `json:"rss_after_kb"`
	KBPerSession float64 `json:"kb_per_session,omitempty"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	WallSeconds  float64 `json:"wall_seconds"`
	// CPUPercent is CPUSeconds over WallSeconds: 100 is one core busy.
	CPUPercent float64 `json:"cpu_percent"`
}

// serverUsage compares two samples of the server taken wall apart.
func serverUsage(pid int, before, after ProcSample, wall time.Duration) *ServerUsage {
	u := &ServerUsage{
		PID:         pid,
		RSSBeforeKB: before.RSSKB,
		RSSAfterKB:  after.RSSKB,
		CPUSeconds:  (after.CPU - before.CPU).Seconds(),
		WallSeconds: round(wall.Seconds(), 3),
	}
	if wall > 0 {
		u.CPUPercent = round(100*u.CPUSeconds/wall.Seconds(), 1)
	}
	return u
}

func (u *ServerUsage) String() string {
	s := fmt.Sprintf("RSS %s -> %s", fmtKB(u.RSSBeforeKB), fmtKB(u.RSSAfterKB))
	if u.KBPerSession != 0 {
		s += fmt.Sprintf(" (%.1f kB per session)", u.KBPerSession)
	}
	return s + fmt.Sprintf("; CPU %.1f s in %.1f s (%.0f%% of one core)", u.CPUSeconds, u.WallSeconds, u.CPUPercent)
}

func fmtKB(kb int64) string {
	if kb >= 10*1024 {
		return fmt.Sprintf("%.0f MB", float64(kb)/1024)
	}
	return fmt.Sprintf("%d kB", kb)
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// selfRSSKB is this process's own resident memory, or 0.
func selfRSSKB() int64 {
	s, err := sampleProc(os.Getpid())
	if err != nil {
		return 0
	}
	return s.RSSKB
}
