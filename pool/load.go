package pool

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuSampler measures the process's CPU use between two samples, in
// cores (1.0: one core fully busy), from /proc/self/stat (Linux; 0
// elsewhere).
type cpuSampler struct {
	lastTicks int64
	lastAt    time.Time
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

func (c *cpuSampler) sample() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are fields 14 and 15 of the line.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	now, ticks := time.Now(), ut+st
	defer func() { c.lastTicks, c.lastAt = ticks, now }()
	if c.lastAt.IsZero() {
		return 0
	}
	wall := now.Sub(c.lastAt).Seconds()
	if wall <= 0 {
		return 0
	}
	return float64(ticks-c.lastTicks) / clockTicks / wall
}
