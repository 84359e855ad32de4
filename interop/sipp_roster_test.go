package interop

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSippRoomCommandsAndPosts: a SIP user in pager mode whose contact is
// a sipp UAS (sipp_uas_message.xml: each MESSAGE must come from a room as
// text/plain) and an XMPP occupant (slixmpp bob). bob joins and posts a
// seed; sipp REGISTERs alice's contact, and as a UAC sends "/join", "/who"
// and "/history 5" (sipp_room_commands.xml); bob must see alice as an
// ordinary occupant (presence with an occupant-id), then posts live and
// leaves. The UAS must get, in order: the /join answer, the /who answer,
// the /history answer with the seed, bob's live post and bob leaving.
func TestSippRoomCommandsAndPosts(t *testing.T) {
	sippRoomCommandsAndPosts(t, "sip_register.xml", regexp.MustCompile(`^BODY bob: live from bob$`))
}

// TestSippRoomPostsInCPIM: the same, with a contact whose REGISTER accepted
// message/cpim (sipp_register_cpim.xml): command answers stay text/plain,
// bob's live post comes wrapped in message/cpim with his nick and the
// room's occupant URI (the lobby hides real addresses) in From.
func TestSippRoomPostsInCPIM(t *testing.T) {
	sippRoomCommandsAndPosts(t, "sipp_register_cpim.xml",
		regexp.MustCompile(`^CPIM "bob" <sip:lobby@conference\.localhost;occupant=[A-Za-z0-9_-]+> \| `+
			`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \| live from bob$`))
}

// sippRoomCommandsAndPosts runs the scenario of the tests above, the
// contact registered with the register scenario, and wants live for the
// log line of bob's live post.
func sippRoomCommandsAndPosts(t *testing.T, register string, live *regexp.Regexp) {
	sipp := requireSipp(t)
	requireSlixmpp(t)
	t.Parallel()
	const (
		room = "lobby"
		seed = "seed from bob"
	)
	s, alice, bob := imServer(t) // MD5: all sipp 3.6 answers
	s.mustCtl("room", "create", room, "--privacy", "open")
	roomhost := "conference." + domain

	state, goFile := filepath.Join(s.dir, "occupant.ready"), filepath.Join(s.dir, "occupant.go")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runScript("sipp_occupant.py", []account{bob}, "--state", state, "--go", goFile,
			"--room", room, "--nick", alice.name, "--seed", seed, "--live", "live from bob")
	}()
	ok := false
	defer func() {
		if !ok {
			<-done
		}
	}()
	waitFile(t, state, done, "bob in the room with his seed post")

	port := freePorts(t, 1)[0]
	auth := []string{"-au", alice.name, "-ap", alice.password}
	s.runSipp(sipp, register, append(auth, "-auth_uri", domain, "-p", strconv.Itoa(port)),
		"user", alice.name, "domain", domain)
	uas := startSippMessageUAS(t, s, sipp, port, 5)
	s.runSipp(sipp, "sipp_room_commands.xml", append(auth, "-auth_uri", room+"@"+roomhost),
		"user", alice.name, "domain", domain, "room", room, "roomhost", roomhost)
	if err := os.WriteFile(goFile, []byte("go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok = true
	<-done
	got := uas()
	want := []*regexp.Regexp{
		regexp.MustCompile(`^BODY You joined lobby as alice\. Also here: bob\.$`),
		regexp.MustCompile(`^BODY In lobby \(2\): alice, bob$`),
		regexp.MustCompile(`^BODY \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] bob: ` + seed + `$`),
		live,
		regexp.MustCompile(`^BODY \* bob left$`),
	}
	t.Logf("sipp (alice's contact) got %q", got)
	if len(got) != len(want) {
		t.Fatalf("sipp got %d MESSAGEs %q, want %d", len(got), got, len(want))
	}
	for i, re := range want {
		if !re.MatchString(got[i]) {
			t.Errorf("MESSAGE %d: %q, want %s", i+1, got[i], re)
		}
	}
}

// startSippMessageUAS runs sipp as a UAS on port for n MESSAGEs (each
// checked to come from a room, as text/plain or message/cpim, and
// answered 200). The returned function waits for sipp to end (fails the
// test if it failed) and returns what it logged of each, in order:
// "BODY text" or "CPIM from | datetime | text".
func startSippMessageUAS(t *testing.T, s *server, sipp string, port, n int) func() []string {
	t.Helper()
	scenario, err := filepath.Abs(filepath.Join("testdata", "sipp_uas_message.xml"))
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(s.dir, "uas-message-"+strconv.Itoa(port))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, sipp, "-sf", scenario, "-nostdin", "-t", "u1", "-i", "127.0.0.1",
		"-p", strconv.Itoa(port), "-m", strconv.Itoa(n), "-timeout", "40s", "-timeout_error",
		"-trace_logs", "-log_file", base+".log", "-trace_err", "-error_file", base+".errors")
	cmd.Dir = s.dir
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("sipp UAS: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() { cancel(); <-waited })
	return func() []string {
		t.Helper()
		err := <-waited
		waited <- err // for the cleanup
		logged, _ := os.ReadFile(base + ".log")
		if err != nil {
			errs, _ := os.ReadFile(base + ".errors")
			t.Fatalf("sipp UAS: %v\n%s\nerrors:\n%s\nlogged:\n%s\nparleyd:\n%s", err, tail([]byte(out.String()), 2000), errs, logged, s.tail(s.stderr, 30))
		}
		var bodies []string
		for line := range strings.Lines(string(logged)) {
			if line = strings.TrimRight(line, "\r\n"); strings.HasPrefix(line, "BODY ") || strings.HasPrefix(line, "CPIM ") {
				bodies = append(bodies, line)
			}
		}
		return slices.Clip(bodies)
	}
}

// TestSippConferenceSubscription: sipp subscribes to a room's conference
// roster (sipp_subscribe.xml) and must get the full roster, then partial
// documents with increasing versions when an XMPP occupant (slixmpp bob)
// joins and leaves, then the terminated NOTIFY after unsubscribing.
func TestSippConferenceSubscription(t *testing.T) {
	sipp := requireSipp(t)
	requireSlixmpp(t)
	t.Parallel()
	const room = "lobby"
	s, alice, bob := imServer(t) // MD5: all sipp 3.6 answers
	s.mustCtl("room", "create", room, "--privacy", "open")
	roomhost := "conference." + domain

	ready := filepath.Join(s.dir, "subscribed")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runScript("sipp_roster_join.py", []account{bob}, "--go", ready, "--room", room)
	}()
	ok := false
	defer func() {
		if !ok {
			<-done
		}
	}()
	s.runSipp(sipp, "sipp_subscribe.xml", []string{"-au", alice.name, "-ap", alice.password, "-auth_uri", room + "@" + roomhost},
		"user", alice.name, "domain", domain, "room", room, "roomhost", roomhost, "ready", ready)
	ok = true
	<-done
}
