package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/parleychat/parley/cmd/internal/config"
	"github.com/parleychat/parley/compliance"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/backend"
)

// complianceStatus shows whether this configuration copies captured events
// into the compliance database, which node does it now (the lease), what
// waits in the outbox and how many events the compliance database holds
// (shared/DESIGN.md §6).
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

	setting := "off (captured events wait in the outbox)"
	if c.cfg.Compliance {
		setting = "on"
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
	return writeTable(c.stdout, [][]string{
		{"compliance", setting},
		{"compliance storage", config.RedactDSN(c.cfg.ComplianceStorage)},
		{"worker", worker},
		{"outbox backlog", backlog},
		{"captured events", fmt.Sprint(st.Captured)},
	})
}
