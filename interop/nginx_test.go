package interop

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// nginx is Debian's nginx, the reverse proxy the README shows.
const nginx = "/usr/sbin/nginx"

// The README's nginx configuration (Operations, Certificates: "A reverse
// proxy in front of the web listener"), as written there but for its
// ports and certificate files, in front of parleyd's HTTPS listener: the
// phone page, loaded through it, registers over wss:/sip through it and
// does what TestWebPhoneRoomWithSlixmpp does; the web client, loaded
// through it, logs in over XMPP over WebSocket (/xmpp-websocket upgraded;
// parleyd checks the page's Origin against the Host nginx passes on) and
// over BOSH.
func TestWebBehindNginx(t *testing.T) {
	requireSlixmpp(t)
	requireChromium(t)
	if _, err := exec.LookPath(nginx); err != nil {
		t.Fatalf("%s not found (%v)\nInstall it with: apt-get install -y nginx", nginx, err)
	}
	s := newServer(t, "")
	s.args = append(s.args, "--http-trusted-proxies", "127.0.0.1") // as the README says
	s.start()
	port := startNginx(t, s)
	proxy := fmt.Sprintf("https://localhost:%d/", port)
	clientSeenThroughProxy(t, s, port)
	usePhone(t, s, proxy+"phone", "nginx-phone")
	requireWebClient(t, proxy)
	for _, page := range []string{proxy, proxy + "?transport=bosh"} {
		ctx := browser(t)
		if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#converse-login-jid`))); err != nil {
			t.Fatalf("the web client's login form through nginx at %s: %v", page, err)
		}
		if err := loginWebClient(ctx, account{"alice", "pw-alice"}); err != nil {
			screenshot(t, ctx, s.dir, "nginx-webclient-failed")
			t.Fatalf("logging in to the web client through nginx at %s: %v", page, err)
		}
	}
}

// clientSeenThroughProxy checks that parleyd, behind nginx, counts a
// browser by its own address: a failed admin login from 127.0.0.2 through
// nginx (on 127.0.0.1) is logged with 127.0.0.2, not the proxy's address,
// and an X-Forwarded-For the client writes itself is not believed.
func clientSeenThroughProxy(t *testing.T, s *server, port int) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext:     (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	req, err := http.NewRequest("POST", fmt.Sprintf("https://localhost:%d/admin/api/login", port),
		strings.NewReader(`{"user":"nobody-behind-nginx","password":"wrong"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // the client's own, not to be believed
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("admin login through nginx from 127.0.0.2: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("admin login with a wrong password through nginx: %s, want 401", res.Status)
	}
	log, err := os.ReadFile(s.stderr)
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "admin API login refused") && strings.Contains(l, "nobody-behind-nginx") {
			line = l
		}
	}
	if !strings.Contains(line, "address=127.0.0.2:") {
		t.Errorf("parleyd logged the refused login as %q, want the client's address 127.0.0.2 (from nginx's X-Forwarded-For)", line)
	}
}

// startNginx runs nginx with the README's server block in front of s's
// HTTPS listener, on a free loopback port it returns, with parleyd's own
// (self-signed) certificate; it is stopped when the test ends.
func startNginx(t *testing.T, s *server) int {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin = "```nginx\n# /etc/nginx/sites-enabled/parley\n"
	_, block, ok := strings.Cut(string(readme), begin)
	if ok {
		block, _, ok = strings.Cut(block, "```\n")
	}
	if !ok {
		t.Fatalf("README.md has no block starting %q", begin)
	}
	port := freePorts(t, 1)[0]
	tlsDir := filepath.Join(s.data, "tls")
	for _, r := range [][2]string{
		{"listen 443 ssl;", fmt.Sprintf("listen 127.0.0.1:%d ssl;", port)},
		{"/etc/letsencrypt/live/chat.example.org/fullchain.pem", filepath.Join(tlsDir, "cert.pem")},
		{"/etc/letsencrypt/live/chat.example.org/privkey.pem", filepath.Join(tlsDir, "key.pem")},
		{"https://127.0.0.1:5281;", fmt.Sprintf("https://127.0.0.1:%d;", s.https)},
	} {
		if !strings.Contains(block, r[0]) {
			t.Fatalf("the README's nginx block no longer says %q:\n%s", r[0], block)
		}
		block = strings.ReplaceAll(block, r[0], r[1])
	}
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n" // its workers write the temporary files below
	}
	conf := fmt.Sprintf(`%sdaemon off;
pid %[2]s/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
%[3]s}
`, user, dir, block)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd := exec.Command(nginx, "-p", dir, "-e", "stderr", "-c", confFile)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // nginx: fast shutdown
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("nginx's log:\n%s", stderr.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(20 * time.Second); ; {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("nginx exited (%v):\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not answer on %s: %v\n%s", addr, err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("nginx in front of parleyd's HTTPS listener on %s", addr)
	return port
}
