package interop

import (
	"context"
	"encoding/json"
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

// TestThreeClientsOneRoom is issue 4's first acceptance line: in one room
// a slixmpp user (carol), a baresip user (alice) and a sipp user (dave)
// exchange posts, one after another and then all three at once; each sees
// every other post once, in the room's MAM order (which carol reads).
// dave's contact is a sipp UAS on the port his REGISTER came from; his
// posts are separate sipp runs (sipp cannot receive requests in a UAC run).
func TestThreeClientsOneRoom(t *testing.T) {
	sipp := requireSipp(t)
	bin := requireBaresip(t)
	requireSlixmpp(t)
	t.Parallel()
	const room = "lobby"
	s, alice, _ := imServer(t)
	carol, dave := account{"carol", "c4r0l"}, account{"dave", "d4ve"}
	s.addUser(carol.name, carol.password)
	s.addUser(dave.name, dave.password)
	s.mustCtl("room", "create", room, "--privacy", "open")
	roomhost := "conference." + domain
	roomURI := "sip:" + room + "@" + roomhost

	state, goFile := filepath.Join(s.dir, "three.json"), filepath.Join(s.dir, "three.go")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runScript("sip_room_three.py", []account{carol}, "--state", state, "--go", goFile, "--room", room)
	}()
	ok := false
	defer func() {
		if !ok {
			<-done
		}
	}()
	waitFile(t, state+".ready", done, "carol in the room")

	// dave: a contact that takes every MESSAGE, then /join.
	port := freePorts(t, 1)[0]
	daveAuth := []string{"-au", dave.name, "-ap", dave.password}
	s.runSipp(sipp, "sip_register.xml", append(daveAuth, "-auth_uri", domain, "-p", strconv.Itoa(port)),
		"user", dave.name, "domain", domain)
	daveGot := startSippUAS(t, s, sipp, port)
	// alice: baresip joins.
	b := startBaresip(t, s, bin, alice, roomURI)
	mark := b.mark()
	b.command("/message /join")
	b.waitPrinted(mark, "You joined "+room, "the answer to /join")

	post := func(body string) {
		s.runSipp(sipp, "sip_room_post.xml", append(daveAuth, "-auth_uri", room+"@"+roomhost),
			"user", dave.name, "domain", domain, "room", room, "roomhost", roomhost, "body", body)
	}
	// Round 1, one after the other: dave's run ends at the post's 200,
	// which comes after the commit.
	post("p-dave-1")
	mark = b.mark()
	b.command("/message p-alice-1")
	b.waitPrinted(mark, "carol: p-carol-1", "carol's first post")
	// Round 2, all at once.
	if err := os.WriteFile(goFile, []byte("go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.command("/message p-alice-2")
	post("p-dave-2")
	ok = true
	<-done
	if t.Failed() {
		return
	}
	raw, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("carol's result: %v", err)
	}
	var res struct{ MAM, Live []string }
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("carol's result %s: %v", raw, err)
	}
	t.Logf("MAM order: %v", res.MAM)
	others := func(self string) []string {
		return slices.DeleteFunc(slices.Clone(res.MAM), func(b string) bool { return strings.HasPrefix(b, "p-"+self+"-") })
	}

	// alice (baresip) gets each post as "nick: body" from the room URI.
	b.waitPrinted(0, "dave: p-dave-2", "dave's second post")
	b.waitPrinted(0, "carol: p-carol-2", "carol's second post")
	seenByAlice := postsIn(b.all(), regexp.MustCompile(`\r`+regexp.QuoteMeta(roomURI)+`: "(\w+): (p-[a-z]+-\d)"`))
	t.Logf("baresip (alice) got %v", seenByAlice)
	if want := others("alice"); !slices.Equal(seenByAlice, want) {
		t.Errorf("baresip (alice) got %v, want the others' posts once each in MAM order %v", seenByAlice, want)
	}
	// dave (sipp UAS) likewise, one MESSAGE per post (retransmissions
	// share a Call-ID and count once).
	seenByDave := daveGot(others("dave"))
	t.Logf("sipp (dave) got %v", seenByDave)
	if want := others("dave"); !slices.Equal(seenByDave, want) {
		t.Errorf("sipp (dave) got %v, want the others' posts once each in MAM order %v", seenByDave, want)
	}
}

// postsIn returns the bodies of the posts re finds in text, in order
// (re's second group is the body).
func postsIn(text string, re *regexp.Regexp) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		out = append(out, m[2])
	}
	return out
}

// startSippUAS runs sipp as a UAS on port that answers every MESSAGE with
// 200, until the test ends. The returned function waits until the posts
// in want have arrived (or a timeout) and returns every post body it got,
// in order, once per Call-ID.
func startSippUAS(t *testing.T, s *server, sipp string, port int) func(want []string) []string {
	t.Helper()
	return startSippUASOn(t, s, sipp, port, "u1")
}

// startSippUASOn is startSippUAS over sipp's transport mode (-t): u1 for
// UDP, t1 for TCP.
func startSippUASOn(t *testing.T, s *server, sipp string, port int, transport string) func(want []string) []string {
	t.Helper()
	return startSippUASScenario(t, s, sipp, port, transport, "sip_uas_accept.xml")
}

// startSippUASScenario is startSippUASOn with another UAS scenario of
// testdata (sip_uas_refuse.xml refuses every MESSAGE).
func startSippUASScenario(t *testing.T, s *server, sipp string, port int, transport, name string) func(want []string) []string {
	t.Helper()
	scenario, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(s.dir, "uas-"+strconv.Itoa(port)+".msg")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, sipp, "-sf", scenario, "-nostdin", "-t", transport, "-i", "127.0.0.1",
		"-p", strconv.Itoa(port), "-trace_msg", "-message_file", trace)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("sipp UAS: %v", err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	return func(want []string) []string {
		t.Helper()
		deadline := time.Now().Add(baresipWait)
		for {
			got := uasPosts(trace)
			if len(got) >= len(want) || time.Now().After(deadline) {
				return got
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// uasPosts reads sipp's message trace: the post bodies ("nick: p-…") of
// the MESSAGEs received, in order, once per Call-ID.
func uasPosts(trace string) []string {
	raw, _ := os.ReadFile(trace)
	var out []string
	seen := map[string]bool{}
	for _, msg := range strings.Split(string(raw), "MESSAGE sip:")[1:] {
		callID := regexp.MustCompile(`(?mi)^Call-ID:\s*(\S+)`).FindStringSubmatch(msg)
		post := regexp.MustCompile(`(?m)^(\w+): (p-[a-z]+-\d)\s*$`).FindStringSubmatch(msg)
		if callID == nil || post == nil || seen[callID[1]] {
			continue
		}
		seen[callID[1]] = true
		out = append(out, post[2])
	}
	return out
}
