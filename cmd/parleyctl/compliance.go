package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
)

// complianceStatus shows whether compliance copy is on (as parleyd last
// started on this data directory, else as this configuration says), which
// node copies now (the lease), the lag and what waits in the outbox, how
// many events the compliance database holds, and each adapter's last run
// (shared/DESIGN.md §6). Off never stops capture: every action still
// writes its outbox event before it is acknowledged; off only means no
// worker on that node copies the outbox.
func complianceStatus(ctx context.Context, c *ctl, _ *flag.FlagSet, _ []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	st, err := api.ComplianceStatus(ctx)
	if err != nil {
		return err
	}
	worker := "none active"
	switch {
	case st.Active():
		worker = fmt.Sprintf("%s, lease until %s (in %s)", st.Lease.Holder, timestamp(st.Lease.Expires),
			st.Lease.Expires.Sub(st.DBTime).Round(time.Second))
	case st.Lease.Holder != "":
		worker = fmt.Sprintf("none active (%s's lease expired %s)", st.Lease.Holder, timestamp(st.Lease.Expires))
	}
	backlog := fmt.Sprintf("%d events", st.Outbox.Events)
	if !st.Outbox.Oldest.IsZero() {
		backlog += fmt.Sprintf(", oldest %s (%s ago)", timestamp(st.Outbox.Oldest),
			time.Since(st.Outbox.Oldest).Round(time.Second))
	}
	rows := [][]string{
		{"compliance", st.Setting},
		{"compliance storage", st.Storage},
		{"worker", worker},
		{"lag", st.Lag.Round(time.Second).String()},
		{"outbox backlog", backlog},
		{"captured events", fmt.Sprint(st.Captured)},
	}
	if len(st.Adapters) == 0 {
		rows = append(rows, []string{"adapters", "none has run"})
	}
	for _, p := range st.Adapters {
		rows = append(rows, []string{"adapter " + p.Name, adapterRun(p)})
	}
	return writeTable(c.stdout, rows)
}

// adapterRun describes an adapter's position and last run.
func adapterRun(p storage.AdapterPosition) string {
	r := p.LastRun
	if r.At.IsZero() {
		return fmt.Sprintf("written up to event %d; no run recorded", p.Seq)
	}
	s := fmt.Sprintf("last run %s (%s ago): %d events", timestamp(r.At), time.Since(r.At).Round(time.Second), r.Events)
	if r.File != "" {
		s += ", file " + r.File
	}
	if r.Error != "" {
		s += ", FAILED: " + r.Error
	}
	return s + fmt.Sprintf("; written up to event %d", p.Seq)
}
