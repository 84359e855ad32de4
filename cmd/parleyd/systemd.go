package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// serviceManager tells systemd (Type=notify, sd_notify(3)) how parleyd
// is doing, over the datagram socket systemd names in NOTIFY_SOCKET:
// READY=1 once every listener is open, RELOADING=1 … READY=1 around a
// SIGHUP reload, STOPPING=1 at shutdown, and WATCHDOG=1 at half the
// WatchdogSec= interval while the node runs. Outside systemd (no
// NOTIFY_SOCKET) every call does nothing.
type serviceManager struct {
	log    *slog.Logger
	failed atomic.Bool // one warning is enough
}

// notify sends one state; a failure is logged, never fatal: the service
// manager then restarts or times the unit out, which says more than an
// error here could.
func (m *serviceManager) notify(state string) {
	if _, err := sd.SdNotify(false, state); err != nil && !m.failed.Swap(true) {
		m.log.Warn("sd_notify failed (further failures are not logged)", "state", state, "err", err)
	}
}

// ready says the node serves; status is shown by systemctl status.
func (m *serviceManager) ready(status string) {
	m.notify(sd.SdNotifyReady + "\nSTATUS=" + status)
}

// reloading brackets a reload: RELOADING=1 with the monotonic time
// systemd 253's Type=notify-reload wants, then READY=1 when done.
func (m *serviceManager) reloading() func() {
	m.notify(sd.SdNotifyReloading + "\n" + sd.SdNotifyMonotonicUsec())
	return func() { m.notify(sd.SdNotifyReady) }
}

// stopping says the shutdown began.
func (m *serviceManager) stopping() { m.notify(sd.SdNotifyStopping) }

// watchdog pings the service manager at half the interval it asked for
// (WATCHDOG_USEC) until ctx ends; without a watchdog it returns at once.
// The ping proves the process is alive and its scheduler runs, nothing
// more: a content database that stops answering shows on /healthz and
// /readyz, and must not have systemd restart every node at once.
func (m *serviceManager) watchdog(ctx context.Context) error {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		return fmt.Errorf("systemd watchdog: %w", err)
	}
	if interval == 0 {
		return nil
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		m.notify(sd.SdNotifyWatchdog)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
