package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinaries builds parleyd and parleyctl with a release number, as make
// build VERSION=… does, checks what --version prints, starts parleyd as an
// operator would, manages users with parleyctl while it runs, has parleyctl reload it (SIGHUP through the pid file), and stops it
// with SIGTERM, expecting exit status 0.
func TestBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	bin := t.TempDir()
	// go test puts its own go command first on PATH.
	build := exec.Command("go", "build", "-buildvcs=auto",
		"-ldflags", "-X github.com/parleychat/parley/cmd/internal/version.release=9.9.9-test",
		"-o", bin+string(os.PathSeparator), "./cmd/parleyd", "./cmd/parleyctl")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, name := range []string{"parleyd", "parleyctl"} {
		out, err := exec.Command(filepath.Join(bin, name), "--version").Output()
		if v := string(out); err != nil || !strings.HasPrefix(v, name+" 9.9.9-test (") || !strings.HasSuffix(v, runtime.Version()+")\n") {
			t.Errorf("%s --version: %q, %v; want %q … %q", name, out, err, name+" 9.9.9-test (", runtime.Version()+")")
		}
	}

	data := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "parleyd"), "--data", data,
		"--xmpp-c2s", "127.0.0.1:0", "--xmpp-tls", "127.0.0.1:0", "--https", "", "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0", "--sip-tls", "127.0.0.1:0", "--xmpp-s2s", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{} // read while parleyd writes
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// One goroutine reads stdout (so parleyd never blocks on a full pipe)
	// and then waits for the process, as os/exec requires.
	startup := make(chan string, 64)
	exited := make(chan error, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			select {
			case startup <- lines.Text():
			default: // the test only reads the start-up message
			}
		}
		close(startup)
		exited <- cmd.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
	})

	// Read the start-up message up to the hint for the first user.
	httpAddr := ""
	httpLine := regexp.MustCompile(`^parleyd: HTTP \(/healthz, upload, /sip\) on (\S+)$`)
	timeout := time.After(20 * time.Second)
	for done := false; !done; {
		select {
		case line, ok := <-startup:
			if !ok {
				t.Fatalf("parleyd ended its output early; stderr:\n%s", stderr.String())
			}
			if m := httpLine.FindStringSubmatch(line); m != nil {
				httpAddr = m[1]
			}
			done = strings.HasPrefix(line, "Create the first user:")
		case <-timeout:
			t.Fatalf("no start-up message within 20s; stderr:\n%s", stderr.String())
		}
	}
	resp, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}

	ctl := func(stdin string, args ...string) (string, error) {
		c := exec.Command(filepath.Join(bin, "parleyctl"), append([]string{"--data", data}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := ctl("secret\n", "user", "add", "alice"); err != nil {
		t.Fatalf("user add while parleyd runs: %v\n%s", err, out)
	}
	if out, err := ctl("", "user", "list"); err != nil || out != "alice\n" {
		t.Errorf("user list while parleyd runs: %v, %q", err, out)
	}

	// parleyctl reload signals the parleyd of this data directory.
	out, err := ctl("", "reload")
	if err != nil || !strings.Contains(out, "(pid "+strconv.Itoa(cmd.Process.Pid)+")") {
		t.Errorf("reload: %v, %q", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "msg=reloaded"); {
		if time.Now().After(deadline) {
			t.Fatalf("parleyd did not log a reload after parleyctl reload; stderr:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("parleyd after SIGTERM: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("parleyd still running 15s after SIGTERM; stderr:\n%s", stderr.String())
	}
	// Stopped, it removed its pid file: nothing to reload.
	if out, err := ctl("", "reload"); err == nil || !strings.Contains(out, "no parleyd runs") {
		t.Errorf("reload with parleyd stopped: %v, %q", err, out)
	}
}
