package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// reload asks the parleyd that runs on this data directory to reload its
// configuration file and TLS certificate, as kill -HUP does: parleyctl
// talks to the database, not to parleyd, so it signals the process whose
// id parleyd keeps in DATA/parleyd.pid (the same user or root may). What
// the reload changed, or why it changed nothing, is in parleyd's log.
func reload(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	file := c.cfg.PIDFile()
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no parleyd runs with --data %s (no %s)", c.cfg.Data, file)
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("%s: not a process id: %q", file, strings.TrimSpace(string(data)))
	}
	// A file left by a parleyd that was killed may name another program
	// by now: signal only a parleyd.
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) != "parleyd" {
		return fmt.Errorf("%s names process %d, which is %s, not parleyd: parleyd is not running (a stale file)", file, pid, strings.TrimSpace(string(comm)))
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("parleyd (pid %d in %s) is not running", pid, file)
		}
		return fmt.Errorf("signalling parleyd (pid %d): %w (run parleyctl as the user parleyd runs as, or root)", pid, err)
	}
	fmt.Fprintf(c.stdout, "sent SIGHUP to parleyd (pid %d): it reloads its configuration file and certificate; its log says what changed\n", pid)
	return nil
}
