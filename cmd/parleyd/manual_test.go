package main

import (
	"flag"
	"testing"

	"github.com/parleychat/parley/internal/golden"
)

var update = flag.Bool("update", false, "rewrite dist/debian/parleyd.8 from the flag definitions")

// TestManual checks that the manual page the package installs is the one
// the flags generate now; -update rewrites it.
func TestManual(t *testing.T) {
	golden.Check(t, "../../dist/debian/parleyd.8", manual().Roff(), *update, "go test ./cmd/parleyd -run TestManual -update")
}
