package interop

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	storebackend "github.com/parleychat/parley/storage/backend"
)

// TestComplianceCapturesScriptedSession is issue 5's scripted audit: slixmpp
// clients and a SIP client (sipp) join, post, correct (XEP-0308), retract
// (XEP-0424), upload and download a file (XEP-0363), kick, read the
// archive and search it (MAM), through a real parleyd with compliance on;
// afterwards the compliance database must hold exactly the events of what
// they did, each once, in the order it happened, with the details the
// clients saw (stanza-ids, the front door, the file's hash). The XML
// adapter's files (one interval of 1 s) must validate against the shipped
// schema and hold the same events as `parleyctl compliance export` of the
// same window. On SQLite, and on MariaDB with the compliance database in
// another database of the server.
func TestComplianceCapturesScriptedSession(t *testing.T) {
	sipp := requireSipp(t)
	requireSlixmpp(t)
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatalf("xmllint not found (%v); install it with: apt-get install -y libxml2-utils", err)
	}
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		complianceSession(t, sipp, "", "")
	})
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		complianceSession(t, sipp, mysqlStorage(t), mysqlStorage(t))
	})
}

// capture is what the test expects of one compliance event.
type capture struct{ typ, room, actor string }

func (c capture) String() string { return fmt.Sprintf("%s %s by %s", c.typ, c.room, c.actor) }

func complianceSession(t *testing.T, sipp, content, cstorage string) {
	const (
		room    = "audit"
		sipBody = "hello from sip, for the record"
	)
	alice := account{"alice", "wonderland"}
	bob := account{"bob", "b0b-s3cret"}
	carol := account{"carol", "c4rol-sip"}
	s := newServer(t, content)
	if cstorage == "" {
		cstorage = "sqlite:" + filepath.Join(s.data, "compliance.db")
	}
	out := filepath.Join(s.dir, "compliance-out")
	s.args = []string{"--compliance-storage", cstorage, "--compliance-interval", "1s", "--compliance-output", out,
		"--upload-url", fmt.Sprintf("http://127.0.0.1:%d", s.http)}
	began := time.Now().UTC().Add(-time.Second)
	s.start()
	for _, u := range []account{alice, bob, carol} {
		s.addUser(u.name, u.password)
	}
	s.mustCtl("room", "create", room, "--privacy", "open", "--managers", alice.name)

	ready := filepath.Join(s.dir, "compliance.ready")
	seenFile := filepath.Join(s.dir, "compliance.seen.json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runScript("compliance.py", []account{alice, bob}, "--room", room, "--sip-nick", carol.name,
			"--sip-body", sipBody, "--ready", ready, "--out", seenFile)
	}()
	ok := false
	defer func() {
		if !ok {
			<-done
		}
	}()
	deadline := time.After(40 * time.Second)
	for !fileExists(ready) {
		select {
		case <-done:
			t.Fatalf("compliance.py ended before it was ready for the SIP user")
		case <-deadline:
			t.Fatalf("compliance.py was not ready for the SIP user within 40s")
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.sipRoomPost(sipp, carol, room, sipBody)
	ok = true
	<-done
	if t.Failed() {
		return
	}
	var seen struct {
		Post, Correction, Retracted, Retraction, Link, SIP, URL, SHA256 string
		Size                                                            int64
		SearchHits                                                      int `json:"search_hits"`
	}
	b, err := os.ReadFile(seenFile)
	if err != nil {
		t.Fatalf("what the clients saw: %v", err)
	}
	if err := json.Unmarshal(b, &seen); err != nil {
		t.Fatalf("what the clients saw: %v: %s", err, b)
	}

	a, bo, c := alice.name+"@"+domain, bob.name+"@"+domain, carol.name+"@"+domain
	want := []capture{
		{"category.put", "", "parleyd"}, // the default category, made at the first start
		{"compliance.enable", "", "parleyd"},
		{"account.add", "", "parleyctl"}, // alice, bob, carol (package admin)
		{"account.add", "", "parleyctl"},
		{"account.add", "", "parleyctl"},
		{"room.create", room, "parleyctl"},
		{"join", room, a},
		{"join", room, bo},
		{"post", room, a},
		{"correction", room, a},
		{"post", room, bo},
		{"retraction", room, bo},
		{"file.upload", "", a},
		{"post", room, a},
		{"file.download", "", "http:127.0.0.1"},
		{"join", room, c},
		{"post", room, c},
		{"kick", room, a},
		{"history.read", room, a},
		{"history.read", room, a},
		{"search", room, a},
		{"leave", room, a},
	}
	evs := waitCaptured(t, s, content, cstorage, len(want))
	var got []capture
	for _, ev := range evs {
		actor := ev.Actor
		if h, _, ok := strings.Cut(actor, ":"); ok && h == "http" {
			actor = "http:" + strings.Split(strings.TrimPrefix(actor, "http:"), ":")[0] // without the client port
		}
		got = append(got, capture{ev.Type, ev.Room, actor})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the compliance database holds, in order:\n\t%s\nwant:\n\t%s",
			joinCaptures(got), joinCaptures(want))
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq || evs[i].Time.Before(evs[i-1].Time) {
			t.Errorf("event %d (%s, seq %d, %s) does not follow event %d (seq %d, %s)",
				i, evs[i].Type, evs[i].Seq, evs[i].Time, i-1, evs[i-1].Seq, evs[i-1].Time)
		}
	}

	// The details, as the clients saw them.
	p := func(i int) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(evs[i].Payload, &m); err != nil {
			t.Fatalf("event %d (%s): payload %q: %v", i, evs[i].Type, evs[i].Payload, err)
		}
		return m
	}
	expect := func(i int, key string, v any) {
		t.Helper()
		if got := p(i)[key]; fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("event %d (%s): %s = %v, want %v (payload %s)", i, evs[i].Type, key, got, v, evs[i].Payload)
		}
	}
	expect(6, "front_door", "xmpp")
	expect(8, "stanza_id", seen.Post)
	expect(8, "body", "the figures are final")
	expect(9, "stanza_id", seen.Correction)
	expect(9, "target", seen.Post)
	expect(9, "body", "the figures are final, except Q3")
	expect(11, "stanza_id", seen.Retraction)
	expect(11, "target", seen.Retracted)
	expect(12, "sha256", seen.SHA256)
	expect(12, "size", seen.Size)
	expect(13, "body", seen.URL)
	expect(14, "sha256", seen.SHA256)
	expect(15, "front_door", "sip")
	expect(16, "front_door", "sip")
	expect(16, "stanza_id", seen.SIP)
	expect(16, "body", sipBody)
	expect(17, "user", bo)
	expect(20, "text", "figures")
	expect(20, "hits", seen.SearchHits)
	if evs[17].Target != bo {
		t.Errorf("the kick's target is %q, want %s", evs[17].Target, bo)
	}
	if !strings.Contains(p(8)["stanza"].(string), "the figures are final") {
		t.Errorf("the post's event lacks the full stanza: %s", evs[8].Payload)
	}
	if t.Failed() {
		return
	}

	// The XML adapter (every second) and an export of the same window
	// agree event for event with the database.
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.EventID
	}
	files := waitAdapterFiles(t, out, evs[len(evs)-1].Seq)
	schema, err := filepath.Abs(filepath.Join("..", "compliance", "schema", "parley-compliance.xsd"))
	if err != nil {
		t.Fatal(err)
	}
	var fromFiles []string
	for _, f := range files {
		if out, err := exec.Command("xmllint", "--noout", "--schema", schema, f).CombinedOutput(); err != nil {
			t.Errorf("xmllint --schema %s %s: %v\n%s", schema, f, err, out)
		}
		fromFiles = append(fromFiles, xmlEventIDs(t, f)...)
	}
	export := filepath.Join(s.dir, "export.xml")
	s.mustCtl("--compliance-storage", cstorage, "compliance", "export", "--from", began.Format(time.RFC3339),
		"--to", time.Now().UTC().Add(time.Minute).Format(time.RFC3339), "--format", "xml", "--out", export)
	fromExport := xmlEventIDs(t, export)
	slices.Sort(ids)
	slices.Sort(fromFiles)
	slices.Sort(fromExport)
	if !slices.Equal(fromFiles, ids) {
		t.Errorf("the XML adapter's files hold %d events %v, the database %d %v", len(fromFiles), fromFiles, len(ids), ids)
	}
	if !slices.Equal(fromExport, ids) {
		t.Errorf("parleyctl compliance export holds %d events %v, the database %d %v", len(fromExport), fromExport, len(ids), ids)
	}

	// An export for bob has what he did and what was done to him (his
	// account made, the kick), nothing else.
	bobs := filepath.Join(s.dir, "bob.jsonl")
	s.mustCtl("--compliance-storage", cstorage, "compliance", "export", "--from", began.Format(time.RFC3339),
		"--to", time.Now().UTC().Add(time.Minute).Format(time.RFC3339), "--user", bo, "--format", "json", "--out", bobs)
	b, err = os.ReadFile(bobs)
	if err != nil {
		t.Fatal(err)
	}
	var bobTypes []string
	for line := range strings.Lines(string(b)) {
		var ev struct{ Type string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%s: %q: %v", bobs, line, err)
		}
		bobTypes = append(bobTypes, ev.Type)
	}
	if want := []string{"account.add", "join", "post", "retraction", "kick"}; !slices.Equal(bobTypes, want) {
		t.Errorf("export --user %s has %v, want %v", bo, bobTypes, want)
	}
	// The status shows the XML adapter's last run.
	st := s.mustCtl("--compliance-storage", cstorage, "compliance", "status")
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^adapter xml\s+last run .*: \d+ events.*; written up to event %d$`, evs[len(evs)-1].Seq)).MatchString(st) {
		t.Errorf("compliance status does not show the XML adapter's last run:\n%s", st)
	}
}

func joinCaptures(cs []capture) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, "\n\t")
}

// waitCaptured waits until the outbox is empty and the compliance database
// holds at least n events (parleyd's worker copies every second), then
// returns them all in Seq order.
func waitCaptured(t *testing.T, s *server, content, cstorage string, n int) []storage.ComplianceEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if content == "" {
		content = "sqlite:" + filepath.Join(s.data, "parley.db")
	}
	store, err := storebackend.Open(ctx, content, contentrules.Rules{})
	if err != nil {
		t.Fatalf("open the content store: %v", err)
	}
	defer store.Close()
	cstore, err := storebackend.OpenCompliance(ctx, cstorage)
	if err != nil {
		t.Fatalf("open the compliance database: %v", err)
	}
	defer cstore.Close()
	outbox := store.(storage.ComplianceOutbox)
	for {
		st, err := outbox.OutboxStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := cstore.ComplianceEvents(ctx, 0, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		if st.Events == 0 && len(evs) >= n {
			return evs
		}
		select {
		case <-ctx.Done():
			var got []string
			for _, ev := range evs {
				got = append(got, ev.Type+" by "+ev.Actor)
			}
			t.Fatalf("after 30s the outbox holds %d events and the compliance database %d, want %d: %v",
				st.Events, len(evs), n, got)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitAdapterFiles waits until the XML adapter's files in dir reach seq
// (their names end in -FIRSTSEQ-LASTSEQ.xml) and returns them.
func waitAdapterFiles(t *testing.T, dir string, seq int64) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "parley-compliance-*.xml"))
		for _, f := range files {
			if strings.HasSuffix(f, fmt.Sprintf("-%d.xml", seq)) {
				return files
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the XML adapter wrote no file up to seq %d within 20s: %v", seq, files)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// xmlEventIDs returns the id of every Message in a compliance XML file.
func xmlEventIDs(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	d := xml.NewDecoder(f)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return ids
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "Message" {
			for _, a := range se.Attr {
				if a.Name.Local == "id" {
					ids = append(ids, a.Value)
				}
			}
		}
	}
}

// TestComplianceOffKeepsCapturing: compliance off never stops capture; it
// stops the copy on that node. A parleyd started with --compliance=false
// still records what happens (and its own setting) in the outbox, and
// parleyctl compliance status says so; restarted with compliance on, its
// worker copies all of it, the setting's two changes included, in order.
func TestComplianceOffKeepsCapturing(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	cstorage := "sqlite:" + filepath.Join(s.data, "compliance.db")
	s.args = []string{"--compliance=false"}
	s.start()
	s.mustCtl("room", "create", "offroom", "--privacy", "open")
	st := s.mustCtl("compliance", "status")
	for _, want := range []string{
		`(?m)^compliance\s+off \(capture goes on: events wait in the outbox; no worker copies them from this node\), as parleyd last started on this data directory \(this configuration says on\)$`,
		`(?m)^worker\s+none active$`,
		`(?m)^outbox backlog\s+3 events, `, // category.put, compliance.disable, room.create
	} {
		if !regexp.MustCompile(want).MatchString(st) {
			t.Errorf("compliance status with parleyd off does not match %s:\n%s", want, st)
		}
	}
	s.stop()
	s.args = nil
	s.start()
	evs := waitCaptured(t, s, "", cstorage, 4)
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Type)
	}
	if want := []string{"category.put", "compliance.disable", "room.create", "compliance.enable"}; !slices.Equal(got, want) {
		t.Errorf("captured %v, want %v", got, want)
	}
	if st := s.mustCtl("compliance", "status"); !regexp.MustCompile(`(?m)^compliance\s+on$`).MatchString(st) {
		t.Errorf("status after the restart with compliance on:\n%s", st)
	}
}
