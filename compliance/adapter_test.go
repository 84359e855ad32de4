package compliance

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parleychat/parley/storage"
)

// engineEvents makes n events of the room engine's types, with payloads as
// package muc writes them, over three rooms and the events outside rooms,
// a second apart from base.
func engineEvents(prefix string, base time.Time, n int) []storage.OutboxEvent {
	kinds := []struct{ typ, room, payload string }{
		{"join", "lobby", `{"nick":"alice","session":"alice@example.org/phone","front_door":"xmpp"}`},
		{"post", "lobby", `{"stanza_id":"s1","nick":"alice","front_door":"xmpp","body":"hello <world> & \"you\"","stanza":"<message/>"}`},
		{"correction", "lobby", `{"stanza_id":"s2","nick":"alice","target":"s1","body":"hello world"}`},
		{"retraction", "lobby", `{"target":"s1"}`},
		{"history.read", "trading", `{"via":"mam","count":5}`},
		{"search", "trading", `{"via":"mam","text":"bonds","hits":2}`},
		{"private", "trading", `{"from_nick":"bob","to_nick":"carol","to":"carol@example.org","body":"psst"}`},
		{"kick", "trading", `{"nick":"dave","user":"dave@example.org","role":"none","reason":"spam"}`},
		{"ban", "trading", `{"jid":"dave@example.org","affiliation":"outcast"}`},
		{"leave", "lobby", `{"nick":"alice","session":"alice@example.org/phone"}`},
		{"subject", "ops é", `{"nick":"op","subject":"Today: release"}`},
		{"file.upload", "", `{"id":"f1","name":"report.pdf","size":12,"sha256":"ab","owner":"alice@example.org"}`},
		{"file.download", "", `{"id":"f1","name":"report.pdf","size":12,"sha256":"ab","owner":"alice@example.org","remote":"10.0.0.1"}`},
		{"something.new", "ops é", `{"x":1}`},
		{"room.create", "ops é", ``},
	}
	actors := []string{"alice@example.org", "bob@example.org", "carol@example.org"}
	evs := make([]storage.OutboxEvent, n)
	for i := range evs {
		k := kinds[i%len(kinds)]
		evs[i] = storage.OutboxEvent{
			ID: int64(i + 1), EventID: fmt.Sprintf("%s-%06d", prefix, i), Type: k.typ, Room: k.room,
			Actor: actors[i%len(actors)], Time: base.Add(time.Duration(i) * time.Second), Payload: []byte(k.payload),
		}
	}
	return evs
}

// capture stores evs in the compliance database in batches of 500.
func capture(t *testing.T, store storage.ComplianceStore, evs []storage.OutboxEvent) {
	t.Helper()
	for start := 0; start < len(evs); start += 500 {
		if _, err := store.CaptureEvents(t.Context(), evs[start:min(start+500, len(evs))]); err != nil {
			t.Fatal(err)
		}
	}
}

// jsonlEventIDs reads the event ids of every .jsonl file in dir, in file
// name order.
func jsonlEventIDs(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	slices.Sort(files)
	var ids []string
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev jsonEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ids = append(ids, ev.EventID)
		}
		f.Close()
	}
	return ids
}

// flaky fails its first failures Writes after delivering half of the
// window's files, as an adapter that dies halfway would.
type flaky struct {
	Adapter
	failures atomic.Int32
	windows  []Window
}

func (f *flaky) Write(ctx context.Context, w Window, evs []storage.ComplianceEvent) (string, error) {
	f.windows = append(f.windows, w)
	if f.failures.Add(-1) >= 0 {
		if _, err := f.Adapter.Write(ctx, w, evs[:len(evs)/2]); err != nil {
			return "", err
		}
		return "", errors.New("disk full")
	}
	return f.Adapter.Write(ctx, w, evs)
}

func TestAdapterRunnerExactlyOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ contentStore, openCompliance func() storage.ComplianceStore) {
		store := openCompliance()
		base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		evs := engineEvents("a", base, 250)
		capture(t, store, evs[:120])
		dir := t.TempDir()
		jsonl := &flaky{Adapter: &JSONLinesAdapter{Dir: dir}}
		jsonl.failures.Store(1)
		xmlDir := t.TempDir()
		r, err := NewAdapterRunner(AdapterRunnerConfig{
			Store: store, Holder: "node-a", MaxBatch: 100, Logger: quietLogger(),
			Adapters:   []Adapter{jsonl, &XMLAdapter{Dir: xmlDir, PerRoom: true}},
			Registerer: prometheus.NewRegistry(),
		})
		if err != nil {
			t.Fatal(err)
		}
		// The JSON-lines adapter fails after writing half a window; the
		// XML adapter is not held up by it.
		if err := r.RunOnce(t.Context()); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("RunOnce with a failing adapter = %v", err)
		}
		p, _ := store.AdapterPosition(t.Context(), "jsonl")
		if p.Seq != 0 || p.Pending == 0 {
			t.Fatalf("position after the failure = %+v; want 0 with a pending window", p)
		}
		// The failed run is recorded for parleyctl compliance status.
		if r := p.LastRun; r.At.IsZero() || r.Events != 0 || !strings.Contains(r.Error, "disk full") {
			t.Errorf("the failed run is recorded as %+v", r)
		}
		if p, _ := store.AdapterPosition(t.Context(), "xml"); p.Seq == 0 || p.Pending != p.Seq {
			t.Fatalf("xml position = %+v; want all written", p)
		}
		// More events arrive before the retry: the retry writes the same
		// window first (replacing the half file), then the rest.
		capture(t, store, evs[120:])
		before := time.Now()
		if err := r.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		if jsonl.windows[1] != jsonl.windows[0] {
			t.Errorf("retried window %+v, want the failed one %+v", jsonl.windows[1], jsonl.windows[0])
		}
		want := make([]string, len(evs))
		for i, ev := range evs {
			want[i] = ev.EventID
		}
		if got := jsonlEventIDs(t, dir); !slices.Equal(got, want) {
			t.Errorf("JSON lines hold %d events, want the %d once each in order", len(got), len(want))
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		if len(files) != 3 { // windows of 100, 100, 50
			t.Errorf("JSON-lines files %v, want 3", files)
		}
		if tmp, _ := filepath.Glob(filepath.Join(dir, ".*")); len(tmp) != 0 {
			t.Errorf("temporary files left: %v", tmp)
		}
		// The metrics count the failure and every event written.
		for _, c := range []struct {
			name string
			got  float64
			want float64
		}{
			{"jsonl failures", testutil.ToFloat64(r.m.failures.WithLabelValues("jsonl")), 1},
			{"xml failures", testutil.ToFloat64(r.m.failures.WithLabelValues("xml")), 0},
			{"jsonl written", testutil.ToFloat64(r.m.written.WithLabelValues("jsonl")), 250},
			{"xml written", testutil.ToFloat64(r.m.written.WithLabelValues("xml")), 250},
		} {
			if c.got != c.want {
				t.Errorf("metric %s = %v, want %v", c.name, c.got, c.want)
			}
		}
		if testutil.ToFloat64(r.m.lastSuccess.WithLabelValues("jsonl")) < float64(before.Unix()-1) {
			t.Error("jsonl's last success is not the retry")
		}
		// The successful run is recorded: 250 events, its last file.
		slices.Sort(files)
		p, _ = store.AdapterPosition(t.Context(), "jsonl")
		if r := p.LastRun; r.At.Before(before.Add(-time.Second)) || r.Events != 250 || r.Error != "" ||
			len(files) == 0 || r.File != files[len(files)-1] {
			t.Errorf("the run is recorded as %+v; want 250 events, file %v, no error", r, files)
		}
		// Nothing new: nothing written.
		if err := r.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		if again, _ := filepath.Glob(filepath.Join(dir, "*")); len(again) != 3 {
			t.Errorf("a run with nothing new wrote files: %v", again)
		}
		// Per room: a file per room per window, each valid, with every
		// event once.
		xmlFiles, _ := filepath.Glob(filepath.Join(xmlDir, "*.xml"))
		seen := map[string]int{}
		for _, name := range xmlFiles {
			validateXML(t, name)
			for _, id := range xmlEventIDs(t, name) {
				seen[id]++
			}
		}
		if len(seen) != len(evs) {
			t.Errorf("XML files hold %d distinct events, want %d", len(seen), len(evs))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("event %s in %d XML files", id, n)
			}
		}
	})
}

func TestAdapterRunnerOnlyOnLeaseHolder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ contentStore, openCompliance func() storage.ComplianceStore) {
		store := openCompliance()
		capture(t, store, engineEvents("l", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), 10))
		dir := t.TempDir()
		r, err := NewAdapterRunner(AdapterRunnerConfig{
			Store: store, Holder: "node-a", Interval: 20 * time.Millisecond, Logger: quietLogger(),
			Adapters: []Adapter{&JSONLinesAdapter{Dir: dir}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, held, err := store.AcquireLease(t.Context(), LeaseName, "node-b", time.Minute); err != nil || !held {
			t.Fatal(held, err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		time.Sleep(150 * time.Millisecond)
		if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
			t.Fatalf("node-a wrote %v while node-b holds the lease", files)
		}
		if err := store.ReleaseLease(t.Context(), LeaseName, "node-b"); err != nil {
			t.Fatal(err)
		}
		if _, held, err := store.AcquireLease(t.Context(), LeaseName, "node-a", time.Minute); err != nil || !held {
			t.Fatal(held, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(jsonlEventIDs(t, dir)) != 10 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		if got := jsonlEventIDs(t, dir); len(got) != 10 {
			t.Errorf("lease holder wrote %d events, want 10", len(got))
		}
	})
}

// xmlEventIDs returns the id attributes of the Messages of an XML file.
func xmlEventIDs(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var doc xmlDocument
	if err := decodeXML(f, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var ids []string
	for _, c := range doc.Conversations {
		for _, m := range c.Messages {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// validateXML checks a file against the shipped schema with xmllint, which
// the tests require (Debian: libxml2-utils; .ci/run installs it).
func validateXML(t *testing.T, name string) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatalf("xmllint is needed to validate the compliance XML against its schema: apt-get install libxml2-utils (Debian/Ubuntu), or brew install libxml2 (macOS): %v", err)
	}
	out, err := exec.Command(xmllint, "--noout", "--schema", filepath.Join("schema", "parley-compliance.xsd"), name).CombinedOutput()
	if err != nil {
		t.Fatalf("%s does not validate: %v\n%s", name, err, out)
	}
}
