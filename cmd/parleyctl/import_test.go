package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/cmd/parleyctl/internal/importer/importertest"
)

// An import interrupted (the signal that cancels parleyctl's context, as
// Ctrl-C does) stops between batches, says so, keeps what it committed,
// and the same command run again imports exactly the rest; a third run
// imports nothing. The interruption is tried later and later until it
// falls in the middle of the archive.
func TestImportInterrupted(t *testing.T) {
	const total = 3000
	src := t.TempDir()
	importertest.WriteProsody(t, src, total)
	imported := regexp.MustCompile(`messages: (\d+) imported, (\d+) already there`)
	importOnce := func(ctx context.Context, data string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, []string{"--data", data, "--domain", "new.test", "import", "prosody", "--from", src, "--batch", "50"},
			strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	counts := func(out string) (int, int) {
		m := imported.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no summary in\n%s", out)
		}
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		return a, b
	}
	var data string
	var first int
	for delay := 20 * time.Millisecond; ; delay *= 2 {
		if delay > 20*time.Second {
			t.Fatal("never interrupted in the middle of the archive")
		}
		data = t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		timer := time.AfterFunc(delay, cancel)
		code, out, errOut := importOnce(ctx, data)
		timer.Stop()
		cancel()
		if code == exitOK {
			continue // finished before the interruption: later is no good, but a fresh start is
		}
		if !imported.MatchString(out) {
			continue // interrupted before the import began (opening the database)
		}
		if !strings.Contains(errOut, "interrupted") || code != exitFailure {
			t.Fatalf("interrupted import: exit %d, stderr %q", code, errOut)
		}
		if first, _ = counts(out); first > 0 && first < total {
			t.Logf("interrupted after %v with %d of %d messages imported", delay, first, total)
			break
		}
	}
	if first%50 != 0 {
		t.Errorf("%d messages were committed, not a whole number of batches of 50", first)
	}
	code, out, errOut := importOnce(context.Background(), data)
	if n, skipped := counts(out); code != exitOK || n != total-first || skipped != first {
		t.Errorf("the run after the interruption: exit %d, %d imported and %d already there, want %d and %d\n%s%s", code, n, skipped, total-first, first, out, errOut)
	}
	code, out, _ = importOnce(context.Background(), data)
	if n, skipped := counts(out); code != exitOK || n != 0 || skipped != total {
		t.Errorf("a third run: exit %d, %d imported and %d already there, want 0 and %d", code, n, skipped, total)
	}
}
