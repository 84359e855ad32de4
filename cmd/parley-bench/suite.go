package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// suiteOptions are the settings of the suite command (make bench).
type suiteOptions struct {
	Bin     string
	Work    string
	Out     string
	Domain  string
	MySQL   string
	Servers []string
	Sources sourceList
	// ParleyArgs are extra parleyd flags.
	ParleyArgs []string

	Mech     string
	NoTLS    bool
	Password string

	LoginUsers int
	LoginRate  float64
	Hold       time.Duration

	SatRooms    int
	SatSize     int
	SatRates    rateList
	SatStep     time.Duration
	Mix         string
	MixRate     float64
	MixDuration time.Duration
	BigRoom     int
	BigRate     float64
	BigDuration time.Duration
	JoinRate    float64
}

// SuiteReport is every scenario on every server of one run.
type SuiteReport struct {
	Command string         `json:"command"`
	Started time.Time      `json:"started"`
	Host    string         `json:"host"`
	Servers []ServerResult `json:"servers"`
}

// ServerResult is one server's scenarios.
type ServerResult struct {
	Server string          `json:"server"`
	Error  string          `json:"error,omitempty"`
	Login  *SessionsReport `json:"login,omitempty"`
	Sat    *RoomsReport    `json:"saturation,omitempty"`
	Mix    *RoomsReport    `json:"mix,omitempty"`
	Big    *RoomsReport    `json:"big_room,omitempty"`
}

// runSuite starts each server in turn, fresh, provisions the accounts,
// runs the scenarios against it and stops it; then it prints one table
// with every server side by side.
func runSuite(ctx context.Context, log *slog.Logger, o suiteOptions) (*SuiteReport, error) {
	if o.Work == "" {
		dir, err := os.MkdirTemp("", "parley-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.Work = dir
	}
	host, _ := os.Hostname()
	rep := &SuiteReport{Command: "suite", Started: time.Now().UTC(), Host: host}
	users := max(o.LoginUsers, o.SatRooms*o.SatSize, o.BigRoom)
	if o.Mix != "" {
		sizes, err := parseMix(o.Mix)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, s := range sizes {
			n += s
		}
		users = max(users, n)
	}
	for _, kind := range o.Servers {
		if ctx.Err() != nil {
			break
		}
		res := runServer(ctx, log, kind, o, users)
		rep.Servers = append(rep.Servers, res)
		if o.Out != "" {
			if err := writeJSON(filepath.Join(o.Out, "suite.json"), rep); err != nil {
				return rep, err
			}
		}
	}
	return rep, ctx.Err()
}

// runServer runs every scenario on a fresh server of kind.
func runServer(ctx context.Context, log *slog.Logger, kind string, o suiteOptions, users int) ServerResult {
	res := ServerResult{Server: kind}
	fail := func(err error) ServerResult {
		res.Error = err.Error()
		log.Error("server failed", "server", kind, "err", err)
		return res
	}
	s, err := startServer(ctx, log, kind, o)
	if err != nil {
		return fail(err)
	}
	defer s.Stop()
	login := loginOptions{
		Addr: s.Addr(), Domain: o.Domain, Prefix: "bench", Password: o.Password,
		Rate: o.LoginRate, MaxInFlight: 16, Timeout: 60 * time.Second, WriteTimeout: 30 * time.Second,
		Mech: o.Mech, NoTLS: o.NoTLS, Sources: o.Sources,
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// Accounts: Parley's database directly, the peers in-band.
	log.Info("creating accounts", "server", kind, "users", users)
	if dsn := s.Storage(); dsn != "" {
		ur, err := runUsers(ctx, quiet, usersOptions{Storage: dsn, Prefix: "bench", Password: o.Password, Count: users, Workers: 4})
		if err != nil {
			return fail(fmt.Errorf("creating accounts: %w", err))
		}
		if ur.Failed > 0 {
			return fail(fmt.Errorf("creating accounts: %d failed: %s", ur.Failed, formatCounts(ur.Failures)))
		}
	} else {
		reg := login
		reg.Register, reg.Rate = true, 0
		sr, err := runSessions(ctx, quiet, sessionsOptions{loginOptions: reg, Count: users, VerifyTimeout: 30 * time.Second})
		if err != nil {
			return fail(fmt.Errorf("registering accounts: %w", err))
		}
		if sr.Login.Established != users {
			return fail(fmt.Errorf("registering accounts: %d of %d logged in: %s", sr.Login.Established, users, formatCounts(sr.Login.Failures)))
		}
	}

	if o.LoginUsers > 0 {
		log.Info("scenario login", "server", kind, "users", o.LoginUsers, "rate", o.LoginRate)
		sr, err := runSessions(ctx, log, sessionsOptions{loginOptions: login, Count: o.LoginUsers, Hold: o.Hold, VerifyTimeout: 30 * time.Second, PID: s.PID()})
		if err != nil {
			return fail(fmt.Errorf("login: %w", err))
		}
		res.Login = sr
	}
	rooms := func(name, prefix string, ro roomsOptions) *RoomsReport {
		ro.loginOptions = login
		ro.loginOptions.Rate = o.JoinRate
		ro.RoomPrefix = prefix
		// Parley's rooms are created in its database (a room created by
		// a join is members-only there); the peers' by the first join.
		ro.Storage = s.Storage()
		ro.Grace = 15 * time.Second
		ro.InFlight = 64
		ro.JoinInFlight = 64
		ro.JoinTimeout = 120 * time.Second
		ro.StallTimeout = 15 * time.Second
		ro.PID = s.PID()
		ro.Progress = time.Second
		log.Info("scenario "+name, "server", kind)
		r, err := runRooms(ctx, log, ro)
		if err != nil {
			log.Error("scenario failed", "scenario", name, "server", kind, "err", err)
			if res.Error == "" {
				res.Error = name + ": " + err.Error()
			}
		}
		return r
	}
	if o.SatRooms > 0 && len(o.SatRates) > 0 {
		res.Sat = rooms("saturation", "sat-"+randomHex(2)+"-", roomsOptions{Rooms: o.SatRooms, Size: o.SatSize, Rates: o.SatRates, Duration: o.SatStep})
	}
	if o.Mix != "" && ctx.Err() == nil {
		res.Mix = rooms("mix", "mix-"+randomHex(2)+"-", roomsOptions{Mix: o.Mix, Rate: o.MixRate, Duration: o.MixDuration})
	}
	if o.BigRoom > 0 && ctx.Err() == nil {
		res.Big = rooms("big room", "big-"+randomHex(2)+"-", roomsOptions{Rooms: 1, Size: o.BigRoom, Rate: o.BigRate, Duration: o.BigDuration})
	}
	return res
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Text is the side-by-side markdown table.
func (r *SuiteReport) Text() string { return suiteTable([]*SuiteReport{r}) }

// suiteTable writes one markdown table, a column per server of every
// report given (several runs may be merged: make bench, then a long run).
func suiteTable(reps []*SuiteReport) string {
	var cols []ServerResult
	for _, r := range reps {
		cols = append(cols, r.Servers...)
	}
	if len(cols) == 0 {
		return "no servers\n"
	}
	type row struct {
		name string
		cell func(ServerResult) string
	}
	f1 := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	msS := func(s Summary) string {
		if s.Count == 0 {
			return "–"
		}
		return fmt.Sprintf("%s / %s", trimMS(s.P50), trimMS(s.P99))
	}
	var rows []row
	add := func(name string, cell func(ServerResult) string) { rows = append(rows, row{name, cell}) }
	var first ServerResult
	for _, c := range cols {
		if c.Login != nil && first.Login == nil {
			first.Login = c.Login
		}
		if c.Sat != nil && first.Sat == nil {
			first.Sat = c.Sat
		}
		if c.Mix != nil && first.Mix == nil {
			first.Mix = c.Mix
		}
		if c.Big != nil && first.Big == nil {
			first.Big = c.Big
		}
	}
	if l := first.Login; l != nil {
		add(fmt.Sprintf("**login** %d sessions: established", l.Count), func(c ServerResult) string {
			if c.Login == nil {
				return "–"
			}
			return fmt.Sprintf("%d (%s)", c.Login.Login.Established, failures(c.Login.Login.Failures))
		})
		add("connect+auth p50 / p99 ms", func(c ServerResult) string {
			if c.Login == nil {
				return "–"
			}
			return msS(c.Login.Login.Latency)
		})
		add("logins/s reached", func(c ServerResult) string {
			if c.Login == nil {
				return "–"
			}
			return f1(c.Login.Login.PerSecond)
		})
		add("RSS per idle TLS session (kB)", func(c ServerResult) string {
			if c.Login == nil || c.Login.Server == nil {
				return "–"
			}
			return kbCell(c.Login.Server.KBPerSession)
		})
	}
	if s := first.Sat; s != nil {
		add(fmt.Sprintf("**saturation** %d rooms × %d: RSS per joined session (kB)", s.Rooms, s.Size), func(c ServerResult) string {
			if c.Sat == nil || c.Sat.ServerSessions == nil {
				return "–"
			}
			return kbCell(c.Sat.ServerSessions.KBPerSession)
		})
		for k, st := range s.Steps {
			add(fmt.Sprintf("%g posts/s: deliveries/s, p50 / p99 ms", st.TargetRate), func(c ServerResult) string {
				if c.Sat == nil || k >= len(c.Sat.Steps) {
					return "–"
				}
				cs := c.Sat.Steps[k]
				return fmt.Sprintf("%s, %s", f1(cs.DeliveredRate), msS(cs.Latency))
			})
		}
		add("most deliveries/s at p99 ≤ 50 ms", func(c ServerResult) string {
			if c.Sat == nil {
				return "–"
			}
			best := 0.0
			for _, st := range c.Sat.Steps {
				if st.Latency.Count > 0 && st.Latency.P99 <= 50 {
					best = max(best, st.DeliveredRate)
				}
			}
			return f1(best)
		})
		roomRows(add, "saturation", func(c ServerResult) *RoomsReport { return c.Sat })
	}
	if m := first.Mix; m != nil {
		add(fmt.Sprintf("**room mix** %s, %g posts/s: p50 / p99 ms", m.Mix, m.TargetRate), func(c ServerResult) string {
			if c.Mix == nil {
				return "–"
			}
			return msS(c.Mix.Latency)
		})
		add("deliveries/s", func(c ServerResult) string {
			if c.Mix == nil {
				return "–"
			}
			return f1(c.Mix.DeliveredRate)
		})
		roomRows(add, "mix", func(c ServerResult) *RoomsReport { return c.Mix })
	}
	if b := first.Big; b != nil {
		add(fmt.Sprintf("**one room of %d**: join all (s)", b.Size), func(c ServerResult) string {
			if c.Big == nil {
				return "–"
			}
			return fmt.Sprintf("%.1f", c.Big.JoinSeconds)
		})
		add(fmt.Sprintf("%g posts/s: p50 / p99 ms", b.TargetRate), func(c ServerResult) string {
			if c.Big == nil {
				return "–"
			}
			return msS(c.Big.Latency)
		})
		add("deliveries/s", func(c ServerResult) string {
			if c.Big == nil {
				return "–"
			}
			return f1(c.Big.DeliveredRate)
		})
		roomRows(add, "big room", func(c ServerResult) *RoomsReport { return c.Big })
	}
	add("errors", func(c ServerResult) string {
		if c.Error == "" {
			return "none"
		}
		return strings.ReplaceAll(firstLine(c.Error), "|", "/")
	})

	var b strings.Builder
	b.WriteString("| |")
	for _, c := range cols {
		b.WriteString(" " + c.Server + " |")
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + r.name + " |")
		for _, c := range cols {
			b.WriteString(" " + r.cell(c) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// roomRows adds the rows every rooms scenario has: server CPU, lost
// deliveries and failures.
func roomRows(add func(string, func(ServerResult) string), name string, get func(ServerResult) *RoomsReport) {
	add("server CPU while posting (% of a core)", func(c ServerResult) string {
		r := get(c)
		if r == nil || r.Server == nil {
			return "–"
		}
		return fmt.Sprintf("%.0f", r.Server.CPUPercent)
	})
	add("lost / duplicated / join failures", func(c ServerResult) string {
		r := get(c)
		if r == nil {
			return "–"
		}
		jf := 0
		for _, n := range r.JoinFailures {
			jf += n
		}
		for _, n := range r.Login.Failures {
			jf += n
		}
		s := fmt.Sprintf("%d / %d / %d", r.Lost, r.Duplicates, jf)
		if r.Stalled != "" {
			s += " (stalled)"
		}
		return s
	})
}

// kbCell is a memory figure; a negative one (the server freed more
// than the sessions took: a collection in between, too few sessions to
// measure) is not shown.
func kbCell(kb float64) string {
	if kb <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", kb)
}

func failures(m map[string]int) string {
	n := 0
	for _, v := range m {
		n += v
	}
	return fmt.Sprintf("%d failed", n)
}

// trimMS is v in milliseconds without the unit (the row says it).
func trimMS(v float64) string { return strings.TrimSuffix(fmtMS(v), " ms") }

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 120 {
		line = line[:120] + "…"
	}
	return line
}

// TableReport is the table command's result: suite reports merged.
type TableReport struct{ reports []*SuiteReport }

func (t *TableReport) Text() string { return suiteTable(t.reports) }

// MarshalJSON writes the merged servers.
func (t *TableReport) MarshalJSON() ([]byte, error) {
	var all []ServerResult
	for _, r := range t.reports {
		all = append(all, r.Servers...)
	}
	return json.Marshal(all)
}

// runTable reads suite reports (suite.json files) and prints one table.
func runTable(paths []string) (*TableReport, error) {
	if len(paths) == 0 {
		return nil, errors.New("give the suite.json files to put side by side")
	}
	t := &TableReport{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r SuiteReport
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		t.reports = append(t.reports, &r)
	}
	return t, nil
}
