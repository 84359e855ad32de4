package interop

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// requireSipp fails the test (it does not skip: the real-client test is
// part of the suite) when sipp (Debian sip-tester) is missing.
func requireSipp(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp not found on PATH (%v)\nInstall it with: apt-get install -y sip-tester", err)
	}
	return path
}

// runSipp runs one call of scenario testdata/NAME against s's SIP port
// over UDP, with the keys (-key NAME VALUE pairs) and extra arguments, and
// fails the test unless it succeeds.
func (s *server) runSipp(sipp, name string, extra []string, keys ...string) {
	t := s.t
	t.Helper()
	scenario, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	errFile := filepath.Join(s.dir, name+".errors")
	args := []string{"-sf", scenario, "-m", "1", "-timeout", "10s", "-timeout_error", "-nostdin",
		"-i", "127.0.0.1", "-p", "0", "-trace_err", "-error_file", errFile, "-trace_msg", "-message_file", errFile + ".msg", "-t", "u1"}
	for i := 0; i+1 < len(keys); i += 2 {
		args = append(args, "-key", keys[i], keys[i+1])
	}
	args = append(args, extra...)
	args = append(args, "127.0.0.1:"+strconv.Itoa(s.sip))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, args...)
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		errs, _ := os.ReadFile(errFile)
		msgs, _ := os.ReadFile(errFile + ".msg")
		errs = append(errs, msgs...)
		t.Fatalf("sipp %s: %v\n%s\nerrors:\n%s\nparleyd:\n%s", name, err, tail(out, 2000), errs, s.tail(s.stderr, 30))
	}
}

// sipRoomPost has sipp REGISTER u and then, in pager mode, MESSAGE "/join"
// and body to room (sip_room_post.xml), answering every challenge with MD5.
// The digest uri sipp sends is one per run (-auth_uri) and parleyd wants
// the request-URI there, so REGISTER (sip:DOMAIN) and the MESSAGEs
// (sip:ROOM@conference.DOMAIN) are two runs.
func (s *server) sipRoomPost(sipp string, u account, room, body string) {
	s.t.Helper()
	auth := []string{"-au", u.name, "-ap", u.password}
	s.runSipp(sipp, "sip_register.xml", append(auth, "-auth_uri", domain),
		"user", u.name, "domain", domain)
	s.runSipp(sipp, "sip_room_post.xml", append(auth, "-auth_uri", room+"@conference."+domain),
		"user", u.name, "domain", domain, "room", room, "roomhost", "conference."+domain, "body", body)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// TestSippRegister has sipp, a SIP client nobody here wrote, REGISTER
// with MD5 digest (RFC 3261 §22.4) as a user created by parleyctl, whose
// HA1 parleyctl stored with the SCRAM credentials, against parleyd's
// default digest offer (no --sip-digest): sipp 3.6 answers the first
// challenge only, and only with MD5, so MD5 must come first (issue 15).
func TestSippRegister(t *testing.T) {
	sipp := requireSipp(t)
	t.Parallel()
	s := newServer(t, "")
	// sipp's digest uri is the server address unless -auth_uri says
	// otherwise.
	s.start()
	s.addUser("alice", "wonderland")
	s.runSipp(sipp, "sip_register.xml", []string{"-au", "alice", "-ap", "wonderland", "-auth_uri", domain}, "user", "alice", "domain", domain)
}
