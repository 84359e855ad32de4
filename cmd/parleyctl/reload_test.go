package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestReloadRefusals: without a running parleyd, or with a pid file left
// behind that names another program, reload signals nothing and fails.
// (TestBinaries in cmd/parleyd reloads a running parleyd.)
func TestReloadRefusals(t *testing.T) {
	r := newRunner(t)
	if res := r.must(exitFailure, "", "reload"); !strings.Contains(res.stderr, "no parleyd runs with --data") {
		t.Errorf("reload with no pid file: %q", res.stderr)
	}
	// This test's own process is not a parleyd: it must not get SIGHUP
	// (which would end it).
	pid := strconv.Itoa(os.Getpid())
	if err := os.WriteFile(filepath.Join(r.data, "parleyd.pid"), []byte(pid+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if res := r.must(exitFailure, "", "reload"); !strings.Contains(res.stderr, "not parleyd") {
		t.Errorf("reload with a stale pid file: %q", res.stderr)
	}
}
