package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/parleychat/parley/cmd/internal/config"
	"github.com/parleychat/parley/compliance"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/backend"
)

// complianceStatus shows whether compliance copy is on (as parleyd last
// started on this data directory, else as this configuration says), which
// node copies now (the lease), the lag and what waits in the outbox, how
// many events the compliance database holds, and each adapter's last run
// (shared/DESIGN.md §6). Off never stops capture: every action still
// writes its outbox event before it is acknowledged; off only means no
// worker on that node copies the outbox.
func complianceStatus(ctx context.Context, c *ctl, _ *flag.FlagSet, _ []string) error {
	store, err := c.open(ctx)
	if err != nil {
		return err
	}
	outbox, ok := store.(storage.ComplianceOutbox)
	if !ok {
		return fmt.Errorf("the content store has no compliance outbox")
	}
	if err := os.MkdirAll(c.cfg.Data, 0o750); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	cstore, err := backend.OpenCompliance(ctx, c.cfg.ComplianceStorage)
	if err != nil {
		return fmt.Errorf("opening the compliance database: %w", err)
	}
	defer cstore.Close()
	st, err := compliance.ReadStatus(ctx, outbox, cstore)
	if err != nil {
		return err
	}

	setting, err := complianceSetting(c.cfg.Data, c.cfg.Compliance)
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
		{"compliance", setting},
		{"compliance storage", config.RedactDSN(c.cfg.ComplianceStorage)},
		{"worker", worker},
		{"lag", st.Lag(time.Now()).Round(time.Second).String()},
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

// complianceSetting describes the compliance setting: the one parleyd
// last started with on this data directory (compliance.RecordedSetting),
// saying so when this configuration differs, or this configuration's when
// parleyd never started here.
func complianceSetting(data string, configured bool) (string, error) {
	describe := func(on bool) string {
		if on {
			return "on"
		}
		return "off (capture goes on: events wait in the outbox; no worker copies them from this node)"
	}
	recorded, err := compliance.RecordedSetting(filepath.Join(data, compliance.StateFile))
	if err != nil {
		return "", err
	}
	if recorded == "" || (recorded == "on") == configured {
		return describe(configured), nil
	}
	return fmt.Sprintf("%s, as parleyd last started on this data directory (this configuration says %s)",
		describe(recorded == "on"), describe(configured)), nil
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
