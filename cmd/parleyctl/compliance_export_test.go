package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/sqlite"
)

func TestComplianceExport(t *testing.T) {
	r := newRunner(t)
	store, err := sqlite.OpenCompliance(t.Context(), filepath.Join(r.data, "compliance.db"))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var evs []storage.OutboxEvent
	for i := range 300 {
		evs = append(evs, storage.OutboxEvent{ID: int64(i + 1), EventID: fmt.Sprintf("ev-%03d", i), Type: "post",
			Room: []string{"lobby", "trading"}[i%2], Actor: []string{"alice@example.org", "bob@example.org", "carol@example.org"}[i%3],
			Time: base.Add(time.Duration(i) * time.Minute), Payload: []byte(fmt.Sprintf(`{"body":"message %d"}`, i))})
		if i%5 == 0 { // something done to bob: --user bob exports it too
			evs[i].Type, evs[i].Target = "kick", "bob@example.org"
			evs[i].Payload = []byte(`{"nick":"bob","user":"bob@example.org","role":"none"}`)
		}
	}
	if _, err := store.CaptureEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	store.Close()

	// JSON lines to stdout, the summary on stderr.
	res := r.must(exitOK, "", "compliance", "export", "--from", "2026-03-01T10:00:00Z", "--to", "2026-03-01T12:00",
		"--room", "trading", "--user", "bob@example.org", "--format", "json")
	var got []string
	for line := range strings.Lines(res.stdout) {
		var ev struct {
			EventID string `json:"event_id"`
			Room    string `json:"room"`
			Actor   string `json:"actor"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, ev.EventID)
	}
	var want []string
	for i, ev := range evs {
		if i >= 60 && i < 180 && ev.Room == "trading" && (ev.Actor == "bob@example.org" || ev.Target == "bob@example.org") {
			want = append(want, ev.EventID)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("exported %v, want %v", got, want)
	}
	if !regexp.MustCompile(fmt.Sprintf(`^exported %d events from 1 rooms, [\d.]+ (B|KiB) in \S+\n$`, len(want))).MatchString(res.stderr) {
		t.Errorf("summary %q", res.stderr)
	}

	// XML into a file, the summary on stdout; no progress bar off a
	// terminal.
	out := filepath.Join(t.TempDir(), "export.xml")
	res = r.must(exitOK, "", "compliance", "export", "--from", "2026-03-01", "--to", "2026-03-02", "--out", out)
	if !strings.HasPrefix(res.stdout, "exported 300 events from 2 rooms, ") || res.stderr != "" {
		t.Errorf("stdout %q, stderr %q", res.stdout, res.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "<Message "); n != 300 || !strings.Contains(string(b), "<Channel>trading</Channel>") {
		t.Errorf("XML export has %d messages, want 300:\n%.500s", n, b)
	}
	if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	for _, bad := range [][]string{
		{"--to", "2026-03-02"},
		{"--from", "yesterday", "--to", "2026-03-02"},
		{"--from", "2026-03-02", "--to", "2026-03-01"},
		{"--from", "2026-03-01", "--to", "2026-03-02", "--format", "csv"},
	} {
		r.must(exitUsage, "", append([]string{"compliance", "export"}, bad...)...)
	}
}
