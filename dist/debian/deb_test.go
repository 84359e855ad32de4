// Package debian holds the Debian package's sources (the systemd unit, the
// maintainer scripts, the generated config file and manual pages) and the
// test that builds the package, installs it and runs the server from it.
package debian

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const testVersion = "9.9.9~test"

// TestPackage builds parley_VERSION_amd64.deb as make deb does, checks
// what it holds, installs it (dpkg -i on a machine where that is safe: run
// as root with no parley package, user or state directory yet, all removed
// afterwards; else dpkg -x into a scratch root), checks the unit with
// systemd-analyze verify, starts parleyd with the unit's command line and
// user and the package's /etc/parley/parley.toml under a fake service
// manager (NOTIFY_SOCKET, WATCHDOG_USEC), logs in with slixmpp, reloads
// twice as ExecReload does (SIGHUP) and checks the session survived, then
// stops it with SIGTERM.
func TestPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and installs a package")
	}
	for _, tool := range []string{"dpkg-deb", "/usr/bin/python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	root := filepath.Join("..", "..")
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	build := exec.Command("go", "build", "-buildvcs=auto",
		"-ldflags", "-X github.com/parleychat/parley/cmd/internal/version.release="+testVersion,
		"-o", bin+string(os.PathSeparator), "./cmd/parleyd", "./cmd/parleyctl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(tmp, "out")
	mk := exec.Command("scripts/deb.sh", testVersion, bin, out)
	mk.Dir = root
	res, err := mk.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/deb.sh: %v\n%s", err, res)
	}
	deb := strings.TrimSpace(string(res))
	if filepath.Base(deb) != "parley_"+testVersion+"_amd64.deb" {
		t.Fatalf("scripts/deb.sh made %q", deb)
	}

	// What the package holds, and its metadata.
	list := run(t, "dpkg-deb", "-c", deb)
	for _, want := range []string{"./usr/bin/parleyd", "./usr/bin/parleyctl", "./lib/systemd/system/parley.service",
		"./etc/parley/parley.toml", "./usr/share/man/man8/parleyd.8.gz", "./usr/share/man/man8/parleyctl.8.gz"} {
		if !regexp.MustCompile(`(?m) ` + regexp.QuoteMeta(want) + `$`).MatchString(list) {
			t.Errorf("dpkg-deb -c: no %s in\n%s", want, list)
		}
	}
	for field, want := range map[string]string{"Package": "parley", "Version": testVersion, "Architecture": "amd64"} {
		if got := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, field)); got != want {
			t.Errorf("control field %s: %q, want %q", field, got, want)
		}
	}
	if got := run(t, "dpkg-deb", "-I", deb, "conffiles"); strings.TrimSpace(got) != "/etc/parley/parley.toml" {
		t.Errorf("conffiles: %q", got)
	}

	scratch, installed := install(t, deb)
	unit := readUnit(t, filepath.Join(scratch, "lib/systemd/system/parley.service"))
	for key, want := range map[string]string{
		"Type": "notify", "ExecReload": "/bin/kill -HUP $MAINPID", "ProtectSystem": "strict",
		"NoNewPrivileges": "true", "AmbientCapabilities": "CAP_NET_BIND_SERVICE", "StateDirectory": "parley", "User": "parley",
	} {
		if unit[key] != want {
			t.Errorf("parley.service: %s=%q, want %q", key, unit[key], want)
		}
	}
	if installed {
		verify := exec.Command("systemd-analyze", "verify", "--man=no", "/lib/systemd/system/parley.service")
		if _, err := exec.LookPath("systemd-analyze"); err != nil {
			t.Log("systemd-analyze not installed: unit not verified")
		} else if out, err := verify.CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	} else {
		t.Log("not installed with dpkg -i: systemd-analyze verify needs the unit's binaries in place; skipped")
	}

	// The unit's command line, in the scratch root when not installed.
	argv := strings.Fields(unit["ExecStart"])
	if len(argv) < 3 || argv[0] != "/usr/bin/parleyd" || argv[1] != "--config" || argv[2] != "/etc/parley/parley.toml" {
		t.Fatalf("ExecStart=%q", unit["ExecStart"])
	}
	parleyd, parleyctl, conf := argv[0], "/usr/bin/parleyctl", argv[2]
	var extra []string
	var runAs []string // setpriv, as User= and AmbientCapabilities= do
	if installed {
		runAs = []string{"setpriv", "--reuid", "parley", "--regid", "parley", "--init-groups",
			"--inh-caps", "+net_bind_service", "--ambient-caps", "+net_bind_service", "--"}
	} else {
		parleyd, parleyctl, conf = filepath.Join(scratch, parleyd), filepath.Join(scratch, parleyctl), filepath.Join(scratch, conf)
		extra = []string{"--data", filepath.Join(tmp, "state")} // /var/lib/parley is not ours
	}
	// Free ports: the machine may run other servers on the defaults.
	listen := append(extra, "--xmpp-c2s", "127.0.0.1:0", "--xmpp-tls", "", "--xmpp-s2s", "", "--http", "",
		"--admin-http", "", "--sip", "", "--sip-tls", "")

	ctl := exec.Command(runAs0(runAs, parleyctl), runArgs(runAs, parleyctl, append([]string{"--config", conf}, append(extra, "user", "add", "alice", "--password", "package-test-pw")...))...)
	if out, err := ctl.CombinedOutput(); err != nil {
		t.Fatalf("parleyctl user add: %v\n%s", err, out)
	}

	// A fake service manager: the notification socket systemd would give.
	sockDir, err := os.MkdirTemp("", "parley-notify")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	os.Chmod(sockDir, 0o755) // the parley user reaches the socket
	sockPath := filepath.Join(sockDir, "notify.sock")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	os.Chmod(sockPath, 0o777)
	notes := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := sock.Read(buf)
			if err != nil {
				close(notes)
				return
			}
			notes <- string(buf[:n])
		}
	}()

	cmd := exec.Command(runAs0(runAs, parleyd), runArgs(runAs, parleyd, append(argv[1:], listen...))...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=1000000")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 64)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			select {
			case lines <- s.Text():
			default:
			}
		}
		exited <- cmd.Wait()
	}()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("parleyd's log:\n%s", stderr.String())
		}
	}()

	expectNote(t, notes, "READY=1", 30*time.Second)
	c2s := ""
	c2sLine := regexp.MustCompile(`^parleyd: XMPP c2s \(STARTTLS\) on (\S+)$`)
	for c2s == "" {
		select {
		case l := <-lines:
			if m := c2sLine.FindStringSubmatch(l); m != nil {
				c2s = m[1]
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no c2s address in the start-up message")
		}
	}
	expectNote(t, notes, "WATCHDOG=1", 5*time.Second)
	if installed {
		// The server runs as the unit's user.
		st, err := os.Stat(filepath.Join("/proc", itoa(cmd.Process.Pid)))
		if err != nil {
			t.Fatal(err)
		}
		u, _ := user.Lookup("parley")
		if uid := st.Sys().(*syscall.Stat_t).Uid; u == nil || itoa(int(uid)) != u.Uid {
			t.Errorf("parleyd runs as uid %d, not parley", uid)
		}
	}

	host, port, _ := net.SplitHostPort(c2s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	login := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/login.py", host, port, "alice@localhost", "package-test-pw")
	stdin, _ := login.StdinPipe()
	lout, _ := login.StdoutPipe()
	login.Stderr = os.Stderr
	if err := login.Start(); err != nil {
		t.Fatal(err)
	}
	scripted := bufio.NewReader(lout)
	if l, _ := scripted.ReadString('\n'); strings.TrimSpace(l) != "logged in" {
		t.Fatalf("slixmpp: %q", l)
	}
	for i := range 2 { // ExecReload, twice
		if err := exec.Command("/bin/kill", "-HUP", itoa(cmd.Process.Pid)).Run(); err != nil {
			t.Fatalf("kill -HUP: %v", err)
		}
		expectNote(t, notes, "RELOADING=1", 10*time.Second)
		expectNote(t, notes, "READY=1", 10*time.Second)
		t.Logf("reload %d done", i+1)
	}
	io.WriteString(stdin, "go on\n")
	rest, _ := io.ReadAll(scripted)
	if err := login.Wait(); err != nil || !strings.HasPrefix(string(rest), "still logged in") {
		t.Errorf("slixmpp after two reloads: %v: %s", err, rest)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	expectNote(t, notes, "STOPPING=1", 10*time.Second)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("parleyd after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("parleyd did not stop within 30s of SIGTERM")
	}
}

// install installs the package with dpkg -i when that leaves the machine
// as it was (root, dpkg, and no parley package, user or state directory
// yet), registering the purge; otherwise it extracts it into a scratch
// root. It returns the root ("/" when installed).
func install(t *testing.T, deb string) (string, bool) {
	reason := ""
	switch {
	case os.Geteuid() != 0:
		reason = "not root"
	case exec.Command("dpkg", "-s", "parley").Run() == nil:
		reason = "a parley package is installed already"
	case exists("/var/lib/parley") || exists("/etc/parley"):
		reason = "/var/lib/parley or /etc/parley exists"
	case func() bool { _, err := user.Lookup("parley"); return err == nil }():
		reason = "a parley user exists"
	}
	for _, tool := range []string{"dpkg", "setpriv", "userdel"} {
		if _, err := exec.LookPath(tool); err != nil && reason == "" {
			reason = tool + " not installed"
		}
	}
	if reason == "" {
		t.Cleanup(func() {
			if out, err := exec.Command("dpkg", "--purge", "parley").CombinedOutput(); err != nil {
				t.Errorf("dpkg --purge parley: %v\n%s", err, out)
			}
			// What a purge keeps on purpose (the history and its owner),
			// this test made: remove it.
			os.RemoveAll("/var/lib/parley")
			if out, err := exec.Command("userdel", "parley").CombinedOutput(); err != nil {
				t.Errorf("userdel parley: %v\n%s", err, out)
			}
			exec.Command("groupdel", "parley").Run() // gone with the user where USERGROUPS_ENAB
		})
		// dpkg refuses to run while another dpkg or apt holds its lock:
		// wait for it a while.
		var out []byte
		var err error
		for range 30 {
			out, err = exec.Command("dpkg", "-i", deb).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "lock") {
				break
			}
			time.Sleep(2 * time.Second)
		}
		if err != nil {
			t.Fatalf("dpkg -i: %v\n%s", err, out)
		}
		t.Logf("installed with dpkg -i:\n%s", out)
		return "/", true
	}
	t.Logf("not installing with dpkg -i (%s): extracting into a scratch root", reason)
	scratch := t.TempDir()
	run(t, "dpkg", "-x", deb, scratch)
	return scratch, false
}

// readUnit reads a unit file's Key=Value lines (the last of a key wins).
func readUnit(t *testing.T, path string) map[string]string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// expectNote waits for a notification containing want (one datagram may
// carry several lines), skipping others.
func expectNote(t *testing.T, notes <-chan string, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case n, ok := <-notes:
			if !ok {
				t.Fatalf("notification socket closed before %s", want)
			}
			for _, l := range strings.Split(n, "\n") {
				if l == want {
					return
				}
			}
		case <-deadline:
			t.Fatalf("no %s from parleyd within %s", want, timeout)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

func runAs0(runAs []string, prog string) string {
	if len(runAs) > 0 {
		return runAs[0]
	}
	return prog
}

func runArgs(runAs []string, prog string, args []string) []string {
	if len(runAs) > 0 {
		return append(append(append([]string{}, runAs[1:]...), prog), args...)
	}
	return args
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func itoa(i int) string { return strconv.Itoa(i) }
