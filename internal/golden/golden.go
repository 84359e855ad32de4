// Package golden checks generated files that are kept in the repository
// (the README's key table, the package's config file, the manual pages)
// against what their generator makes now, and rewrites them on -update.
package golden

import (
	"os"
	"testing"
)

// Check fails t unless file holds exactly want; with update it writes want
// to file instead. how says how to regenerate it (a go test command line).
func Check(t testing.TB, file, want string, update bool, how string) {
	t.Helper()
	got, err := os.ReadFile(file)
	if err == nil && string(got) == want {
		return
	}
	if update {
		if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date (%v); run: %s", file, err, how)
}
