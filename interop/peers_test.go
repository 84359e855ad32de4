package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What the federation tests (prosody_test.go, ejabberd_test.go) need to
// run another XMPP server as a peer: a loopback address of its own, a
// hosts file naming the others, its process in a private mount namespace
// where that file is its /etc/hosts (the machine's is never touched), and
// self-signed certificates.

// loopbackIP picks an address in 127.0.0.0/8 (all of it reaches the
// loopback interface on Linux) whose port 5269 is free: servers that find
// each other by name use the default server-to-server port, so each gets
// an address of its own.
func loopbackIP(t *testing.T) string {
	t.Helper()
	for range 50 {
		ip := fmt.Sprintf("127.%d.%d.%d", 64+rand.IntN(180), rand.IntN(256), 1+rand.IntN(254))
		ln, err := net.Listen("tcp", ip+":5269")
		if err == nil {
			ln.Close()
			return ip
		}
	}
	t.Fatal("no free loopback address with port 5269")
	return ""
}

// federatedParley starts parleyd as parley.test on ip:5269 with more
// flags (its routes to the peer), with alice (slixmpp_test.go's account), the open room lobby (subject
// Welcome) and the open room staff in a category that is not federated.
func federatedParley(t *testing.T, ip string, args ...string) *server {
	t.Helper()
	s := newServer(t, "")
	s.domain = parleyFedDomain
	s.args = append([]string{"--xmpp-s2s", ip + ":5269"}, args...)
	s.start()
	s.addUser(alice.name, alice.password)
	s.mustCtl("room", "create", "lobby", "--privacy", "open", "--subject", "Welcome")
	s.mustCtl("category", "add", "internal", "--federated=false")
	s.mustCtl("room", "create", "staff", "--privacy", "open", "--category", "internal")
	return s
}

// freePortOn returns a TCP port free on ip now.
func freePortOn(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeHosts writes a hosts file: localhost, then each name at its
// address.
func writeHosts(t *testing.T, path string, hosts map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n")
	for name, addr := range hosts {
		fmt.Fprintf(&b, "%s %s\n", addr, name)
	}
	writeFileT(t, path, b.String())
}

// peerProcess is a peer server's process.
type peerProcess struct {
	t       *testing.T
	cmd     *exec.Cmd
	done    chan struct{} // closed when it has exited
	startup time.Duration // until addr took connections
}

// runWithHosts starts argv with hostsFile as its /etc/hosts (unshare -m
// and a bind mount; exec keeps the pid), its output in outFile and env
// added to ours, and waits until addr takes TCP connections. The caller
// stops it.
func runWithHosts(t *testing.T, name, hostsFile, outFile string, env []string, addr string, argv ...string) *peerProcess {
	t.Helper()
	p := &peerProcess{t: t, done: make(chan struct{})}
	p.cmd = exec.Command("unshare", append([]string{"-m", "sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, hostsFile}, argv...)...)
	p.cmd.Env = append(os.Environ(), env...)
	out, err := os.Create(outFile)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.cmd.Wait()
		out.Close()
		close(p.done)
	}()
	began := time.Now()
	for {
		if p.exited(0) {
			b, _ := os.ReadFile(outFile)
			t.Fatalf("%s exited during start-up (%v):\n%s", name, p.cmd.ProcessState, b)
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Since(began) > startLimit {
			t.Fatalf("%s did not listen on %s within %v", name, addr, startLimit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.startup = time.Since(began).Round(time.Millisecond)
	return p
}

// exited reports whether the process has exited, waiting up to d.
func (p *peerProcess) exited(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

func writeFileT(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// testCA is a certificate authority made for one test: both servers get
// certificates it signs and trust it (certificate authentication).
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	pemFile string
}

// newTestCA makes a CA and writes its certificate as PEM into dir.
func newTestCA(t *testing.T, dir string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Parley federation test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pemFile: filepath.Join(dir, "ca.pem")}
	writeFileT(t, ca.pemFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	return ca
}

// writeSelfSigned writes a self-signed certificate for names and its key
// as PEM files.
func writeSelfSigned(t *testing.T, certFile, keyFile string, names ...string) {
	t.Helper()
	writeCert(t, nil, certFile, keyFile, names...)
}

// writeCert writes a certificate for names, signed by ca (nil:
// self-signed), for servers and clients (an s2s link's initiating server
// is the TLS client), and its key, as PEM files.
func writeCert(t *testing.T, ca *testCA, certFile, keyFile string, names ...string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	parent, signer := tmpl, any(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFileT(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFileT(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
}
