package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// merge adds up the rooms reports of several bench processes that ran
// together against one pool (scripts/bench-pool.sh): counts are summed,
// latency histograms merged into the percentiles of the whole run, and
// the reconnection storm measured from the time the node was killed
// (--kill-file).

// MergedReport is the merge command's result.
type MergedReport struct {
	Command   string         `json:"command"`
	Processes []*RoomsReport `json:"-"`
	Sessions  int            `json:"sessions"`
	Logged    int            `json:"logged_in"`
	Joined    int            `json:"joined"`
	Rooms     int            `json:"rooms"`
	// JoinSeconds is the slowest process's logins and joins.
	LoginSeconds float64   `json:"login_seconds"`
	JoinSeconds  float64   `json:"join_seconds"`
	Posts        int       `json:"posts"`
	PostRate     float64   `json:"post_rate"`
	Expected     int       `json:"deliveries_expected"`
	Received     int       `json:"deliveries_received"`
	Lost         int       `json:"lost"`
	Duplicates   int       `json:"duplicates"`
	Misrouted    int       `json:"misrouted"`
	OutOfOrder   int       `json:"out_of_order"`
	Delivered    float64   `json:"delivered_rate"`
	Latency      Summary   `json:"latency_ms"`
	LoginLatency []Summary `json:"login_latency_ms"`

	BeforeKill *PhaseReport     `json:"before_kill,omitempty"`
	AfterKill  *PhaseReport     `json:"after_kill,omitempty"`
	Reconnect  *ReconnectReport `json:"reconnect,omitempty"`
	// AllBackAfterKillSeconds is from the kill to the last displaced
	// session back in its room.
	AllBackAfterKillSeconds float64 `json:"all_back_after_kill_seconds,omitempty"`
}

func runMerge(files []string, killFile string) (*MergedReport, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no reports given")
	}
	m := &MergedReport{Command: "merge"}
	var lat Hist
	var before, after *PhaseReport
	var rc *ReconnectReport
	var lastBack int64
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var r RoomsReport
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		m.Processes = append(m.Processes, &r)
		m.Sessions += r.Sessions
		m.Logged += r.Login.Established
		m.Joined += r.Joined
		m.Rooms += r.RoomsActive
		m.LoginSeconds = max(m.LoginSeconds, r.Login.Seconds)
		m.JoinSeconds = max(m.JoinSeconds, r.JoinSeconds)
		m.Posts += r.Posts
		m.PostRate += r.PostRate
		m.Expected += r.Expected
		m.Received += r.Received
		m.Lost += r.Lost
		m.Duplicates += r.Duplicates
		m.Misrouted += r.Misrouted
		m.OutOfOrder += r.OutOfOrder
		m.Delivered += r.DeliveredRate
		m.LoginLatency = append(m.LoginLatency, r.Login.Latency)
		lat.add(r.LatencyHist)
		if r.BeforeKill != nil {
			if before == nil {
				before, after = &PhaseReport{KillAtSeconds: r.BeforeKill.KillAtSeconds}, &PhaseReport{}
			}
			addPhase(before, r.BeforeKill)
			addPhase(after, r.AfterKill)
		}
		if r.Reconnect != nil {
			if rc == nil {
				rc = &ReconnectReport{Mode: r.Reconnect.Mode, Failures: map[string]int{}}
			}
			rc.Displaced += r.Reconnect.Displaced
			rc.Back += r.Reconnect.Back
			rc.Attempts += r.Reconnect.Attempts
			for k, v := range r.Reconnect.Failures {
				rc.Failures[k] += v
			}
			rc.BackHist.add(r.Reconnect.BackHist)
			rc.LoginHist.add(r.Reconnect.LoginHist)
			rc.AllBackSeconds = max(rc.AllBackSeconds, r.Reconnect.AllBackSeconds)
			lastBack = max(lastBack, r.Reconnect.LastBackUnixNano)
		}
	}
	m.Latency = lat.Summary()
	if before != nil {
		before.Latency, after.Latency = before.LatencyHist.Summary(), after.LatencyHist.Summary()
		m.BeforeKill, m.AfterKill = before, after
	}
	if rc != nil {
		rc.BackAfter, rc.Login = rc.BackHist.Summary(), rc.LoginHist.Summary()
		m.Reconnect = rc
		if killFile != "" && lastBack != 0 {
			data, err := os.ReadFile(killFile)
			if err != nil {
				return m, fmt.Errorf("reading --kill-file: %w", err)
			}
			ns, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			if err != nil {
				return m, fmt.Errorf("--kill-file %s: %w", killFile, err)
			}
			m.AllBackAfterKillSeconds = round(time.Duration(lastBack-ns).Seconds(), 3)
		}
	}
	return m, nil
}

func addPhase(to, p *PhaseReport) {
	if p == nil {
		return
	}
	to.Posts += p.Posts
	to.Expected += p.Expected
	to.Received += p.Received
	to.Lost += p.Lost
	to.Duplicates += p.Duplicates
	to.LatencyHist.add(p.LatencyHist)
}

// Text is the human-readable report.
func (m *MergedReport) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "parley-bench merge: %d processes, %d sessions (%d logged in, %d joined) in %d rooms\n",
		len(m.Processes), m.Sessions, m.Logged, m.Joined, m.Rooms)
	fmt.Fprintf(&b, "logins        slowest process %.1f s; p99 by process:", m.LoginSeconds)
	for _, s := range m.LoginLatency {
		fmt.Fprintf(&b, " %s", fmtMS(s.P99))
	}
	fmt.Fprintf(&b, "\njoins         slowest process %.1f s\n", m.JoinSeconds)
	fmt.Fprintf(&b, "posts         %d (%.1f posts/s)\n", m.Posts, m.PostRate)
	fmt.Fprintf(&b, "deliveries    %d of %d expected (%.0f deliveries/s)\n", m.Received, m.Expected, m.Delivered)
	fmt.Fprintf(&b, "lost          %d; duplicates %d, misrouted %d; out of order %d sessions\n", m.Lost, m.Duplicates, m.Misrouted, m.OutOfOrder)
	fmt.Fprintf(&b, "latency       %s\n", m.Latency)
	if m.BeforeKill != nil {
		fmt.Fprintf(&b, "node killed   %.1f s into posting\n", m.BeforeKill.KillAtSeconds)
		fmt.Fprintf(&b, "  before      %s\n", m.BeforeKill)
		fmt.Fprintf(&b, "  after       %s\n", m.AfterKill)
	}
	if m.Reconnect != nil {
		fmt.Fprintf(&b, "reconnect     %s\n", m.Reconnect)
		if m.AllBackAfterKillSeconds != 0 {
			fmt.Fprintf(&b, "  all back    %.1f s after the kill\n", m.AllBackAfterKillSeconds)
		}
	}
	return b.String()
}
