package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Profanity (Debian's profanity, a terminal XMPP client built on libstrophe)
// is one of the clients the README promises. It runs here in a detached tmux
// session of its own (a private tmux server socket and HOME), and the test
// reads its screen as a user would.

// profanity is one Profanity process in a tmux session.
type profanity struct {
	t      *testing.T
	socket string // tmux -S: a tmux server of this test's own
	home   string
}

// startProfanity starts Profanity in a 200×50 tmux window with an empty HOME.
func startProfanity(t *testing.T) *profanity {
	t.Helper()
	for _, bin := range []string{"profanity", "tmux"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed (apt-get install -y profanity tmux): %v", bin, err)
		}
	}
	dir := t.TempDir()
	p := &profanity{t: t, socket: filepath.Join(dir, "tmux.sock"), home: filepath.Join(dir, "home")}
	if err := os.MkdirAll(p.home, 0o700); err != nil {
		t.Fatal(err)
	}
	p.tmux("new-session", "-d", "-s", "prof", "-x", "200", "-y", "50",
		"env", "HOME="+p.home, "XDG_CONFIG_HOME="+filepath.Join(p.home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(p.home, ".local/share"), "TERM=xterm-256color", "profanity")
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-S", p.socket, "kill-server").Run()
	})
	p.waitFor(regexp.MustCompile(`Type '/help'`), "Profanity's welcome")
	return p
}

func (p *profanity) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", p.socket}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// typeLine types line and Enter into Profanity.
func (p *profanity) typeLine(line string) {
	p.t.Helper()
	p.tmux("send-keys", "-t", "prof", "-l", line)
	p.tmux("send-keys", "-t", "prof", "Enter")
}

// screen is what the window shows now, with its scrollback.
func (p *profanity) screen() string {
	return p.tmux("capture-pane", "-p", "-J", "-S", "-1000", "-t", "prof")
}

// waitFor waits up to 30 s for the screen to match re and returns the screen.
func (p *profanity) waitFor(re *regexp.Regexp, what string) string {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := p.screen()
		if re.MatchString(s) {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("Profanity did not show %s within 30s; its screen:\n%s", what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serverErrors are the lines in which Profanity reports an error the server
// sent: "Server error enabling message carbons: service-unavailable", "Error
// joining room…", "Error from server…".
var serverErrors = regexp.MustCompile(`(?im)^.*(error|failed|not supported|service-unavailable|feature-not-implemented).*$`)

// afterLogin is the part of a screen after Profanity accepted the
// certificate: the self-signed certificate's "verification failed" notice
// above it is expected.
func afterLogin(screen string) string {
	const accepted = "Continuing with connection."
	if i := strings.LastIndex(screen, accepted); i >= 0 {
		return screen[i+len(accepted):]
	}
	return screen
}

// TestProfanity logs in from Profanity over STARTTLS with the self-signed
// certificate accepted once (/tls allow), checks that no server error is
// shown at login (carbons, roster, disco, bookmarks, OMEMO's PEP nodes),
// then joins a room in which a slixmpp user is: the slixmpp user's earlier
// post is shown from the room's history, Profanity's post reaches the
// slixmpp user, and the reply is shown.
func TestProfanity(t *testing.T) {
	t.Parallel()
	requireSlixmpp(t)
	s := newServer(t, "")
	s.start()
	alice := account{"alice", "profanity-" + randomHex(t, 6)}
	bob := account{"bob", "bob-" + randomHex(t, 6)}
	s.addUser(alice.name, alice.password)
	s.addUser(bob.name, bob.password)
	room := "lobby"
	s.mustCtl("room", "create", room, "--privacy", "open", "--subject", "Welcome to the lobby")

	p := startProfanity(t)
	p.typeLine(fmt.Sprintf("/connect %s@%s server 127.0.0.1 port %d tls force", alice.name, s.domain, s.c2s))
	p.waitFor(regexp.MustCompile(`(?i)password`), "the password prompt")
	p.typeLine(alice.password)
	p.waitFor(regexp.MustCompile(`Use '/tls allow'`), "the self-signed certificate")
	p.typeLine("/tls allow")
	p.waitFor(regexp.MustCompile(`logged in successfully`), "a successful login")
	// What Profanity does after login (roster, carbons, disco, bookmarks,
	// OMEMO device list in PEP) takes a few round trips; a server error
	// among them is printed as it comes.
	time.Sleep(2 * time.Second)
	login := afterLogin(p.screen())
	if bad := serverErrors.FindAllString(login, -1); len(bad) > 0 {
		t.Errorf("Profanity shows errors after login:\n%s\nits screen:\n%s", strings.Join(bad, "\n"), login)
	}

	body := "hello from Profanity"
	reply := "hello Profanity, bob here"
	history := "posted before Profanity came"
	ready := filepath.Join(s.dir, "room.ready")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runScript("webclient_room.py", []account{bob}, "--state", ready,
			"--room", room, "--nick", alice.name, "--body", body, "--reply", reply, "--history", history)
	}()
	t.Cleanup(func() { <-done })
	waitFile(t, ready, done, "bob in the room")

	roomJID := room + "@conference." + s.domain
	p.typeLine("/join " + roomJID + " nick " + alice.name)
	p.waitFor(regexp.MustCompile(regexp.QuoteMeta(history)), "bob's earlier post, from the room's history")
	p.typeLine(body)
	shown := afterLogin(p.waitFor(regexp.MustCompile(regexp.QuoteMeta(reply)), "bob's reply"))
	<-done
	if bad := serverErrors.FindAllString(shown, -1); len(bad) > 0 {
		t.Errorf("Profanity shows errors in the room:\n%s\nits screen:\n%s", strings.Join(bad, "\n"), shown)
	}
}
