package interop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// baresip (Debian baresip 1.0.0) as a SIP user agent nobody here wrote:
// headless, with its own config directory (-f), driven over its cons
// module (UDP line commands; what it prints, incoming MESSAGEs included,
// comes back to the socket that sent the last command).
//
// What baresip 1.0.0 needs of parleyd, found by running it:
//   - MD5 offered alone: its digest code (libre) walks every
//     WWW-Authenticate header and fails the whole REGISTER with ENOSYS
//     ("Register: Function not implemented") on the SHA-256 one, in any
//     order; parleyd offers MD5 alone to baresip before 3.12 by its
//     User-Agent, so the tests run parleyd with no --sip-digest;
//   - the stdio UI needs a terminal; without one it fails, so only cons
//     is loaded;
//   - "net_interface 127.0.0.1" keeps it on loopback (the interface name
//     "lo" is not accepted).

const (
	baresipWait = 15 * time.Second // for one thing baresip should do
	baresipQuit = 5 * time.Second  // for it to exit after SIGTERM
)

// baresipPorts returns a SIP port P for baresip (it listens on UDP and
// TCP P and, for TLS, on TCP P+1, which it cannot be told not to) and a
// port for its cons module (UDP and TCP), all free now.
func baresipPorts(t *testing.T) [2]int {
	t.Helper()
	for range 100 {
		var closers []io.Closer
		ok := true
		listen := func(network, addr string) int {
			var c io.Closer
			var port int
			if network == "udp" {
				pc, err := net.ListenPacket(network, addr)
				if err != nil {
					ok = false
					return 0
				}
				c, port = pc, pc.LocalAddr().(*net.UDPAddr).Port
			} else {
				l, err := net.Listen(network, addr)
				if err != nil {
					ok = false
					return 0
				}
				c, port = l, l.Addr().(*net.TCPAddr).Port
			}
			closers = append(closers, c)
			return port
		}
		p := listen("tcp", "127.0.0.1:0")
		listen("udp", fmt.Sprintf("127.0.0.1:%d", p))
		listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		cons := listen("tcp", "127.0.0.1:0") // cons listens on UDP and TCP
		listen("udp", fmt.Sprintf("127.0.0.1:%d", cons))
		for _, c := range closers {
			c.Close()
		}
		if ok && cons != p+1 {
			return [2]int{p, cons}
		}
	}
	t.Fatal("no free ports for baresip")
	return [2]int{}
}

// requireBaresip fails the test when baresip is missing.
func requireBaresip(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatalf("baresip not found on PATH (%v)\nInstall it with: apt-get install -y baresip", err)
	}
	return path
}

// baresip is one running baresip process registered as one user.
type baresip struct {
	t      *testing.T
	name   string
	dir    string
	stdout string
	cmd    *exec.Cmd
	done   chan struct{}
	cons   *net.UDPConn

	mu      sync.Mutex
	printed bytes.Buffer  // everything cons sent back
	more    chan struct{} // closed and replaced when printed grows
}

// startBaresip runs baresip as user against s's SIP port over UDP, with
// contacts (SIP URIs; the first is the current one, which /message
// sends to), and waits until its REGISTER succeeded.
func startBaresip(t *testing.T, s *server, bin string, user account, contacts ...string) *baresip {
	t.Helper()
	dir := filepath.Join(s.dir, "baresip-"+user.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var cs strings.Builder
	for _, c := range contacts {
		name := strings.TrimPrefix(c, "sip:")
		name, _, _ = strings.Cut(name, "@")
		fmt.Fprintf(&cs, "%q <%s>\n", name, c)
	}
	// The ports were free when picked, but another process may take one
	// before baresip binds it: then start again on others.
	var b *baresip
	var ports [2]int
	for try := 1; b == nil; try++ {
		ports = baresipPorts(t)
		b = launchBaresip(t, bin, dir, user.name, ports, cs.String())
		if b == nil && try == 3 {
			t.Fatalf("baresip %s: its ports were taken three times", user.name)
		}
	}
	// cons prints to whoever sent the last command: become that before
	// the account registers (a MESSAGE may follow the REGISTER at once),
	// then add the account (no accounts in the file: it would register
	// before anyone listens). cons is a UDP socket: a command can be lost
	// (under load), so ask until it answers.
	for try := 1; ; try++ {
		b.command("/contacts")
		if b.printedWithin(0, "Contacts", time.Second) {
			break
		}
		if try == int(baresipWait/time.Second) {
			t.Fatalf("baresip %s: cons does not answer /contacts:\n%s", user.name, b.tail())
		}
	}
	b.command(fmt.Sprintf("/uanew <sip:%s@%s>;auth_pass=%s;outbound=\"sip:127.0.0.1:%d;transport=udp\";regint=600;answermode=manual",
		user.name, domain, user.password, s.sip))
	b.waitPrinted(0, "200 OK", "its REGISTER to succeed")
	t.Logf("baresip registered as %s@%s (SIP port %d, cons %d)", user.name, domain, ports[0], ports[1])
	return b
}

// launchBaresip starts baresip in dir with its SIP and cons ports and the
// contacts file, and waits until it is ready. It returns nil, after
// stopping it, if a port was taken.
func launchBaresip(t *testing.T, bin, dir, name string, ports [2]int, contacts string) *baresip {
	t.Helper()
	config := fmt.Sprintf(`poll_method		poll
sip_listen		127.0.0.1:%d
sip_trans_def		udp
net_interface		127.0.0.1
module_path		/usr/lib/baresip/modules
module			cons.so
module_app		account.so
module_app		contact.so
module_app		menu.so
cons_listen		127.0.0.1:%d
audio_player		aufile,/dev/null
audio_source		aufile,/dev/null
`, ports[0], ports[1])
	for file, body := range map[string]string{"config": config, "accounts": "", "contacts": contacts} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := &baresip{t: t, name: name, dir: dir, stdout: filepath.Join(dir, "stdout"), done: make(chan struct{}), more: make(chan struct{})}
	out, err := os.Create(b.stdout)
	if err != nil {
		t.Fatal(err)
	}
	// -t: a hard limit, should the test not stop it; -s: SIP trace on
	// stdout, for what cons does not print (responses to MESSAGEs).
	b.cmd = exec.Command(bin, "-f", dir, "-t", "120", "-s")
	b.cmd.Stdout, b.cmd.Stderr = out, out
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start baresip: %v", err)
	}
	go func() {
		b.cmd.Wait()
		out.Close()
		close(b.done)
	}()
	b.cons, err = net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: ports[1]})
	if err != nil {
		b.stop()
		t.Fatalf("baresip cons socket: %v", err)
	}
	go b.read()
	for {
		stdout, _ := os.ReadFile(b.stdout)
		select {
		case <-b.done:
		default:
			if !bytes.Contains(stdout, []byte("baresip is ready.")) {
				time.Sleep(20 * time.Millisecond)
				continue
			}
		}
		if bytes.Contains(stdout, []byte("Address already in use")) {
			t.Logf("baresip %s: a port was taken, trying others:\n%s", name, tail(stdout, 400))
			b.stop()
			return nil
		}
		select {
		case <-b.done:
			t.Fatalf("baresip %s exited during start-up:\n%s", name, stdout)
		default:
		}
		t.Cleanup(b.stop)
		return b
	}
}

// read collects what cons sends back until the socket is closed.
func (b *baresip) read() {
	buf := make([]byte, 64<<10)
	for {
		n, err := b.cons.Read(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				continue // e.g. ECONNREFUSED before cons listens: keep reading
			}
			return
		}
		b.mu.Lock()
		b.printed.Write(buf[:n])
		close(b.more)
		b.more = make(chan struct{})
		b.mu.Unlock()
	}
}

// mark is a position in what cons printed, for waitPrinted.
func (b *baresip) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.printed.Len()
}

// all is everything cons printed so far.
func (b *baresip) all() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.printed.String()
}

// command sends one cons command line (e.g. "/message hello").
func (b *baresip) command(line string) {
	b.t.Helper()
	if _, err := b.cons.Write([]byte(line + "\n")); err != nil {
		b.t.Fatalf("baresip %s: cons %q: %v", b.name, line, err)
	}
}

// waitPrinted waits until cons printed want after mark, and returns what
// it printed from mark to the end of want's line.
func (b *baresip) waitPrinted(since int, want, what string) string {
	b.t.Helper()
	deadline := time.After(baresipWait)
	for {
		b.mu.Lock()
		got := b.printed.String()[since:]
		more := b.more
		b.mu.Unlock()
		if i := strings.Index(got, want); i >= 0 {
			end := strings.IndexByte(got[i:], '\n')
			if end < 0 {
				end = len(got) - i
			}
			return got[:i+end]
		}
		select {
		case <-more:
		case <-b.done:
			b.t.Fatalf("baresip %s exited while waiting for %s:\n%s", b.name, what, b.tail())
		case <-deadline:
			b.t.Fatalf("baresip %s: no %q (%s) within %v; cons printed:\n%q\nstdout:\n%s",
				b.name, want, what, baresipWait, got, b.tail())
		}
	}
}

// printedWithin reports whether cons printed want after since, waiting
// up to d.
func (b *baresip) printedWithin(since int, want string, d time.Duration) bool {
	deadline := time.After(d)
	for {
		b.mu.Lock()
		got := strings.Contains(b.printed.String()[since:], want)
		more := b.more
		b.mu.Unlock()
		if got {
			return true
		}
		select {
		case <-more:
		case <-b.done:
			return false
		case <-deadline:
			return false
		}
	}
}

// incoming is how baresip's menu module prints a MESSAGE it received.
func incoming(from, body string) string {
	return fmt.Sprintf("%s: %q", from, body)
}

// waitStdout waits until baresip's output holds want (stdout is a file:
// polled).
func (b *baresip) waitStdout(want, what string) {
	b.t.Helper()
	deadline := time.Now().Add(baresipWait)
	for {
		out, _ := os.ReadFile(b.stdout)
		if bytes.Contains(out, []byte(want)) {
			return
		}
		select {
		case <-b.done:
			b.t.Fatalf("baresip %s exited while waiting for %s:\n%s", b.name, what, b.tail())
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("baresip %s: no %s (%q) within %v:\n%s", b.name, what, want, baresipWait, b.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *baresip) tail() string {
	out, _ := os.ReadFile(b.stdout)
	return string(tail(out, 3000))
}

// stop ends baresip with SIGTERM (it un-registers on the way out).
func (b *baresip) stop() {
	select {
	case <-b.done:
	default:
		b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(baresipQuit):
			b.cmd.Process.Kill()
			<-b.done
		}
	}
	if b.cons != nil {
		b.cons.Close()
	}
}
