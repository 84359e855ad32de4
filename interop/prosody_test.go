package interop

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Federation with Prosody (Debian's prosody 0.12) as remote.test: a
// slixmpp user of Prosody and one of parleyd's meet in a parleyd room, chat
// 1:1 both ways with a presence subscription, and meet in a room on
// Prosody's MUC service; parleyd then denies remote.test and nothing gets
// through either way. Both servers find each other by name as a new
// operator's would: Prosody through its own /etc/hosts (a private mount
// namespace, never the machine's file), parleyd through --s2s-route. Both
// have self-signed certificates: every link is authenticated by dialback.
// See testdata/federation.py for the steps.

const (
	parleyFedDomain  = "parley.test"
	prosodyFedDomain = "remote.test"
)

var juliet = account{"juliet", "jul1et-s3cret"}

func TestProsodyFederation(t *testing.T) {
	requireSlixmpp(t)
	requireProsody(t)
	binaries(t)
	t.Parallel()
	parleyIP, prosodyIP := loopbackIP(t), loopbackIP(t)
	p := startProsody(t, prosodyFedDomain, prosodyIP, map[string]string{
		parleyFedDomain: parleyIP, "conference." + parleyFedDomain: parleyIP,
		prosodyFedDomain: prosodyIP, "conference." + prosodyFedDomain: prosodyIP,
	}, nil, juliet)

	admin := freePorts(t, 1)[0] // for /metrics
	s := federatedParley(t, parleyIP, "--admin-http", fmt.Sprintf("127.0.0.1:%d", admin),
		"--s2s-route", prosodyFedDomain+"="+prosodyIP+":5269",
		"--s2s-route", "conference."+prosodyFedDomain+"="+prosodyIP+":5269")
	remote := []string{"--remote-user", juliet.name + ":" + juliet.password, "--remote-domain", prosodyFedDomain,
		"--remote-host", prosodyIP, "--remote-port", strconv.Itoa(p.c2s)}

	s.runScript("federation.py", []account{alice}, append([]string{"--phase", "room,chat,remote_room"}, remote...)...)
	if t.Failed() {
		t.Logf("prosody's log:\n%s", s.tail(p.log, 60))
		return
	}
	// Every link either way was set up by dialback (self-signed
	// certificates verify for no one).
	metrics := s.metrics(admin)
	for _, dir := range []string{"in", "out"} {
		m := regexp.MustCompile(`parley_xmpp_s2s_authentications_total\{direction="` + dir + `",method="dialback"\} (\d+)`).FindStringSubmatch(metrics)
		if m == nil || m[1] == "0" {
			t.Errorf("no %s link authenticated by dialback in parleyd's metrics:\n%s", dir, grepLines(metrics, "parley_xmpp_s2s"))
		}
	}
	waitS2SList(t, s, prosodyFedDomain, "dialback")
	// Compliance captured the remote user's join and post like a local
	// user's, with the remote JID as actor.
	waitCompliance(t, s, "juliet@"+prosodyFedDomain)

	// A denied domain: parleyd restarts with --s2s-deny.
	s.stop()
	s.args = append(s.args, "--s2s-deny", prosodyFedDomain)
	s.start()
	s.runScript("federation.py", []account{alice}, append([]string{"--phase", "denied"}, remote...)...)
	if !strings.Contains(s.tail(s.stderr, 200), "policy-violation") {
		t.Errorf("parleyd's log shows no policy-violation for the denied domain:\n%s", s.tail(s.stderr, 30))
	}
}

// Certificate authentication with Prosody: a test CA signs both servers'
// certificates and both trust it; both require a verifying certificate
// (Prosody's s2s_secure_auth, parleyd's --s2s-secure-auth), so no link may
// fall back to dialback. The users chat both ways.
func TestProsodyFederationCertificates(t *testing.T) {
	requireSlixmpp(t)
	requireProsody(t)
	binaries(t)
	t.Parallel()
	admin := freePorts(t, 1)[0]
	p, s := certifiedFederation(t, nil, true, func(prosodyIP string) []string {
		return []string{"--admin-http", fmt.Sprintf("127.0.0.1:%d", admin), "--s2s-secure-auth",
			"--s2s-route", prosodyFedDomain + "=" + prosodyIP + ":5269"}
	})
	s.runScript("federation.py", []account{alice}, "--phase", "chat",
		"--remote-user", juliet.name+":"+juliet.password, "--remote-domain", prosodyFedDomain,
		"--remote-host", p.ip, "--remote-port", strconv.Itoa(p.c2s))
	if t.Failed() {
		t.Logf("prosody's log:\n%s", s.tail(p.log, 80))
		return
	}
	metrics := s.metrics(admin)
	for _, dir := range []string{"in", "out"} {
		m := regexp.MustCompile(`parley_xmpp_s2s_authentications_total\{direction="`+dir+`",method="(\w+)"\} (\d+)`).FindAllStringSubmatch(metrics, -1)
		var certs int
		for _, x := range m {
			if x[1] == "dialback" && x[2] != "0" {
				t.Errorf("a %s link authenticated by dialback under secure auth", dir)
			}
			if x[1] == "certificate" {
				certs, _ = strconv.Atoi(x[2])
			}
		}
		if certs == 0 {
			t.Errorf("no %s link authenticated by certificate:\n%s", dir, grepLines(metrics, "parley_xmpp_s2s"))
		}
	}
	waitS2SList(t, s, prosodyFedDomain, "certificate")
}

// TestProsodyFederationBidi: XEP-0288 with Prosody's mod_s2s_bidi. Both
// servers have certificates from a test CA (no dialback, which would need
// parleyd to reach Prosody), and parleyd has no route to remote.test, so
// it cannot open a link of its own there. juliet writes to alice first:
// Prosody's link to parleyd asks for bidi, and alice's reply, presence
// and all, go back over it to juliet. parleyctl s2s list shows the
// outbound side with AUTH bidi.
func TestProsodyFederationBidi(t *testing.T) {
	requireSlixmpp(t)
	requireProsody(t)
	binaries(t)
	t.Parallel()
	s := bidiFederation(t, "bidi", true, func(string) []string { return nil })
	if s == nil {
		return
	}
	// The outbound side is Prosody's link.
	re := `(?m)^\S+\s+out\s+` + regexp.QuoteMeta(parleyFedDomain) + `\s+` + regexp.QuoteMeta(prosodyFedDomain) + `\s+authenticated\s+bidi\s`
	if out := waitS2SMatch(s, re); !regexp.MustCompile(re).MatchString(out) {
		t.Errorf("parleyctl s2s list shows no outbound link to %s over Prosody's (AUTH bidi):\n%s", prosodyFedDomain, out)
	}
}

// TestProsodyFederationBidiOut: XEP-0288 the other way: parleyd with
// --s2s-bidi asks Prosody (mod_s2s_bidi, whose certificate verifies
// against --s2s-ca) for bidi on the link it opens, and Prosody, which
// cannot find parley.test at all (its hosts file does not name it), sends
// juliet's replies back over that link.
func TestProsodyFederationBidiOut(t *testing.T) {
	requireSlixmpp(t)
	requireProsody(t)
	binaries(t)
	t.Parallel()
	s := bidiFederation(t, "bidi_out", false, func(prosodyIP string) []string {
		return []string{"--s2s-bidi", "--s2s-route", prosodyFedDomain + "=" + prosodyIP + ":5269"}
	})
	if s == nil {
		return
	}
	// parleyd's link carried juliet's two messages back (IN).
	re := `(?m)^\S+\s+out\s+` + regexp.QuoteMeta(parleyFedDomain) + `\s+` + regexp.QuoteMeta(prosodyFedDomain) + `\s+authenticated\s+certificate\s+\d+\s+[2-9]\d*\s`
	out := waitS2SMatch(s, re)
	if !regexp.MustCompile(re).MatchString(out) {
		t.Errorf("parleyctl s2s list shows no link of parleyd's to %s that carried juliet's messages back:\n%s", prosodyFedDomain, out)
	}
	if regexp.MustCompile(`(?m)^\S+\s+in\s`).MatchString(out) {
		t.Errorf("an inbound link from Prosody, which was to use parleyd's:\n%s", out)
	}
}

// bidiFederation runs federation.py's phase between alice and juliet, on
// parleyd and Prosody with mod_s2s_bidi (certifiedFederation); nil if it
// failed (the logs are shown).
func bidiFederation(t *testing.T, phase string, parleyKnown bool, args func(prosodyIP string) []string) *server {
	t.Helper()
	p, s := certifiedFederation(t, []string{"s2s_bidi"}, parleyKnown, args)
	s.runScript("federation.py", []account{alice}, "--phase", phase,
		"--remote-user", juliet.name+":"+juliet.password, "--remote-domain", prosodyFedDomain,
		"--remote-host", p.ip, "--remote-port", strconv.Itoa(p.c2s))
	if t.Failed() {
		t.Logf("prosody's log:\n%s", s.tail(p.log, 80))
		t.Logf("parleyd's log:\n%s", s.tail(s.stderr, 40))
		return nil
	}
	return s
}

// waitS2SMatch waits (parleyd publishes its link table every 5 s) until
// `parleyctl s2s list` matches re, and returns the list, logged.
func waitS2SMatch(s *server, re string) string {
	s.t.Helper()
	var out string
	m := regexp.MustCompile(re)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && !m.MatchString(out); time.Sleep(500 * time.Millisecond) {
		out, _ = s.ctl("s2s", "list")
	}
	s.t.Logf("parleyctl s2s list:\n%s", out)
	return out
}

// certifiedFederation starts Prosody as remote.test with the modules
// given and parleyd as parley.test, both with certificates from one test
// CA that both trust (Prosody requires them: s2s_secure_auth), parleyd
// with the flags args returns for Prosody's address. Unless parleyKnown,
// Prosody's hosts file does not name parley.test: it cannot open a link
// there.
func certifiedFederation(t *testing.T, modules []string, parleyKnown bool, args func(prosodyIP string) []string) (*prosody, *server) {
	t.Helper()
	ca := newTestCA(t, t.TempDir())
	parleyIP, prosodyIP := loopbackIP(t), loopbackIP(t)
	hosts := map[string]string{prosodyFedDomain: prosodyIP, "conference." + prosodyFedDomain: prosodyIP}
	if parleyKnown {
		hosts[parleyFedDomain], hosts["conference."+parleyFedDomain] = parleyIP, parleyIP
	}
	p := startProsodyWith(t, prosodyFedDomain, prosodyIP, hosts, ca, modules, juliet)
	certDir := t.TempDir()
	certFile, keyFile := filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem")
	writeCert(t, ca, certFile, keyFile, parleyFedDomain, "conference."+parleyFedDomain)
	s := federatedParley(t, parleyIP, append([]string{"--tls-cert", certFile, "--tls-key", keyFile, "--s2s-ca", ca.pemFile}, args(prosodyIP)...)...)
	return p, s
}

// waitS2SList waits (parleyd publishes its link table every 5 s) until
// `parleyctl s2s list` shows an authenticated link with remote both ways,
// authenticated by method.
func waitS2SList(t *testing.T, s *server, remote, method string) {
	t.Helper()
	var out string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		var err error
		if out, err = s.ctl("s2s", "list"); err != nil {
			t.Fatalf("parleyctl s2s list: %v\n%s", err, out)
		}
		both := true
		for _, dir := range []string{"in", "out"} {
			re := `(?m)^\S+\s+` + dir + `\s+` + regexp.QuoteMeta(parleyFedDomain) + `\s+\S*` + regexp.QuoteMeta(remote) + `\S*\s+authenticated\s+` + method + `\s+\d+\s+\d+\s+\d+\s+\S+$`
			both = both && regexp.MustCompile(re).MatchString(out)
		}
		if both {
			t.Logf("parleyctl s2s list:\n%s", out)
			return
		}
	}
	t.Errorf("parleyctl s2s list shows no %s link with %s both ways:\n%s", method, remote, out)
}

// waitCompliance waits until the compliance export of the lobby names
// actor in a join and a post.
func waitCompliance(t *testing.T, s *server, actor string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := s.ctl("compliance", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--room", "lobby", "--format", "json")
		var join, post bool
		for line := range strings.Lines(out) {
			if strings.Contains(line, `"actor":"`+actor+`"`) {
				join = join || strings.Contains(line, `"type":"join"`)
				post = post || strings.Contains(line, `"type":"post"`)
			}
		}
		if err == nil && join && post {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("the compliance export of the lobby has no join and post by %s (err %v):\n%s", actor, err, out)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metrics returns parleyd's /metrics text, from its admin listener on
// port.
func (s *server) metrics(port int) string {
	s.t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		s.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("metrics: %v", err)
	}
	return string(b)
}

func grepLines(text, substr string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		if strings.Contains(line, substr) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// requireProsody fails the test when Prosody or unshare is missing.
func requireProsody(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"prosody", "prosodyctl", "unshare"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found on PATH (%v)\nInstall it with: apt-get install -y prosody lua-unbound", bin, err)
		}
	}
}

// prosody is one Prosody process as a federation peer.
type prosody struct {
	*peerProcess
	ip  string // its loopback address
	c2s int
	cfg string
	log string
}

// startProsody runs Prosody for domain (with a MUC service at
// conference.DOMAIN) on ip, c2s on a free port there and s2s on 5269, with
// a self-signed certificate, dialback, and hosts as its /etc/hosts. The
// accounts are registered first. It is stopped when the test ends.
func startProsody(t *testing.T, domain, ip string, hosts map[string]string, ca *testCA, users ...account) *prosody {
	t.Helper()
	return startProsodyWith(t, domain, ip, hosts, ca, nil, users...)
}

// startProsodyWith is startProsody with more of Prosody's modules enabled
// (s2s_bidi: XEP-0288).
func startProsodyWith(t *testing.T, domain, ip string, hosts map[string]string, ca *testCA, modules []string, users ...account) *prosody {
	t.Helper()
	extra := ""
	for _, m := range modules {
		extra += fmt.Sprintf(", %q", m)
	}
	dir := t.TempDir()
	p := &prosody{ip: ip, c2s: freePortOn(t, ip), cfg: filepath.Join(dir, "prosody.cfg.lua"), log: filepath.Join(dir, "prosody.log")}
	hostsFile := filepath.Join(dir, "hosts")
	writeHosts(t, hostsFile, hosts)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, ca, certFile, keyFile, domain, "conference."+domain)
	// With a CA: certificates are checked against it, and required
	// (certificate authentication both ways, no dialback).
	secureAuth, cafile := "false", ""
	if ca != nil {
		secureAuth, cafile = "true", fmt.Sprintf(", cafile = %q", ca.pemFile)
	}
	// The configuration a Debian operator would write, minus the system
	// paths: its own pid file, data, log, addresses and hosts file.
	cfg := fmt.Sprintf(`-- generated by parley's interop tests
pidfile = %[1]q
data_path = %[2]q
run_as_root = true
modules_disabled = { "posix" }
interfaces = { %[3]q }
c2s_ports = { %[4]d }
s2s_interfaces = { %[3]q }
s2s_ports = { 5269 }
http_ports = { }
https_ports = { }
log = { debug = %[5]q }
modules_enabled = { "roster", "saslauth", "tls", "dialback", "disco", "ping", "presence", "mam"%[14]s }
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = %[12]s
authentication = "internal_hashed"
unbound = { hoststxt = %[6]q }
certificates = %[7]q
ssl = { certificate = %[8]q, key = %[9]q%[13]s }
VirtualHost %[10]q
Component %[11]q "muc"
    modules_enabled = { "muc_mam" }
`, filepath.Join(dir, "prosody.pid"), filepath.Join(dir, "data"), ip, p.c2s, p.log, hostsFile,
		dir, certFile, keyFile, domain, "conference."+domain, secureAuth, cafile, extra)
	configureProsody(t, p.cfg, cfg, filepath.Join(dir, "data"), domain, users...)

	p.peerProcess = runWithHosts(t, "prosody", hostsFile, filepath.Join(dir, "prosody.out"), nil,
		net.JoinHostPort(ip, strconv.Itoa(p.c2s)), "prosody", "-F", "--config", p.cfg)
	t.Cleanup(p.stop)
	t.Logf("prosody %s started on %s (c2s %d, s2s 5269) in %v", domain, ip, p.c2s, p.startup)
	return p
}

// configureProsody writes Prosody's configuration file and data
// directory and registers the users.
func configureProsody(t *testing.T, file, cfg, data, domain string, users ...account) {
	t.Helper()
	writeFileT(t, file, cfg)
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		out, err := exec.Command("prosodyctl", "--config", file, "register", u.name, domain, u.password).CombinedOutput()
		if err != nil {
			t.Fatalf("prosodyctl register %s: %v\n%s", u.name, err, out)
		}
	}
}

// stop ends Prosody with SIGTERM (then SIGKILL after 10 s), by its pid.
func (p *prosody) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if !p.exited(10 * time.Second) {
		p.t.Errorf("prosody did not stop within 10s of SIGTERM; killing it")
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
