package xmpp

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Federation measured (go test ./protocol/xmpp -run '^$' -bench S2S):
// stanzas per second over one link, from a session on one server to a
// session on the other, and the heap an idle authenticated inbound link
// holds (its peers run in another process, so that only the server's side
// is counted).

// BenchmarkS2SMessages sends b.N messages from alice@a.test to bob@b.test
// over one outbound link (set up before the timer starts) and waits for
// the last: chat messages, which both servers archive (each in its own
// SQLite transaction: the measure is then the archives'), and headline
// messages, which nobody archives (the measure is the link's). alice's
// client rates (--stanza-rate and the rest) and b.test's
// --s2s-stanza-rate are lifted: the measure is not the limits'.
func BenchmarkS2SMessages(b *testing.B) {
	unlimited := func(c *S2SConfig) { c.StanzaRate, c.StanzaBurst = 1e9, 1<<30 }
	fast := func(c *Config) {
		c.StanzaRate, c.StanzaBurst, c.UserStanzaRate, c.UserStanzaBurst = 1e9, 1<<30, 1e9, 1<<30
		c.IPStanzaRate, c.IPStanzaBurst = 1e9, 1<<30
	}
	fs := startFederation(b, map[string]fedOptions{"a.test": {server: fast}, "b.test": {configure: unlimited}})
	a, bs := fs["a.test"], fs["b.test"]
	a.addUser(b, "alice", "secret")
	bs.addUser(b, "bob", "secret")
	alice := a.online(b, "alice", "secret", "r")
	bob := bs.online(b, "bob", "secret", "r")
	alice.send(`<message to='bob@b.test' type='chat'><body>warm-up</body></message>`)
	bob.expect("warm-up", isMessageWithBody("warm-up"))
	for _, typ := range []string{"chat", "headline"} {
		b.Run(typ, func(b *testing.B) { s2sMessages(b, alice, bob, typ) })
	}
}

func s2sMessages(b *testing.B, alice, bob *testClient, typ string) {
	// At most window messages in flight, so that bob's session queue
	// (1024) never fills: the measure is the link's sustained rate.
	const window = 256
	received := make(chan struct{}, b.N)
	b.ResetTimer()
	start := time.Now()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range b.N {
			if i >= window {
				<-received
			}
			alice.send(`<message to='bob@b.test' type='%s'><body>m%d</body></message>`, typ, i)
		}
	}()
	for got := 0; got < b.N; {
		el, err := bob.nextOrErr(30 * time.Second)
		if err != nil {
			b.Fatalf("waiting for message %d of %d: %v", got, b.N, err)
		}
		if el.Name.Local == "message" {
			got++
			received <- struct{}{}
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "stanzas/s")
	<-sent
}

// Environment of the peer process BenchmarkS2SInboundLinkMemory starts
// (this test binary again; TestMain runs the peers instead of the tests).
const (
	envPeerAddr = "PARLEY_S2S_PEER_ADDR"
	envPeerCA   = "PARLEY_S2S_PEER_CA" // a directory with ca.pem and ca-key.pem
	envPeerN    = "PARLEY_S2S_PEER_N"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(envPeerAddr); addr != "" {
		if err := runPeers(addr); err != nil {
			fmt.Fprintln(os.Stderr, "peers:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkS2SInboundLinkMemory opens b.N inbound links, each from its own
// domain authenticated by certificate (SASL EXTERNAL), from a peer process,
// and reports the heap they hold once idle.
func BenchmarkS2SInboundLinkMemory(b *testing.B) {
	ca := newTestCA(b)
	dir := b.TempDir()
	kder, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		b.Fatal(err)
	}
	writePEM(b, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.cert.Raw)
	writePEM(b, filepath.Join(dir, "ca-key.pem"), "EC PRIVATE KEY", kder)
	a := startFederation(b, map[string]fedOptions{"a.test": {trust: ca}})["a.test"]

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envPeerAddr+"="+a.s2sAddr, envPeerCA+"="+dir, envPeerN+"="+strconv.Itoa(b.N))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		b.Fatalf("peer process: %q, %v", line, err)
	}
	waitFor(b, "every link authenticated", func() bool {
		n := 0
		for _, l := range a.srv.S2SLinks() {
			if l.State == "authenticated" {
				n++
			}
		}
		return n == b.N
	})
	b.StopTimer()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-bytes/link")
	b.ReportMetric(float64(runtime.NumGoroutine())/float64(b.N), "goroutines/link")
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// runPeers is the peer process: it opens the links, says "ready" and
// keeps them until its stdin closes.
func runPeers(addr string) error {
	dir := os.Getenv(envPeerCA)
	n, err := strconv.Atoi(os.Getenv(envPeerN))
	if err != nil {
		return err
	}
	caPEM, err1 := os.ReadFile(filepath.Join(dir, "ca.pem"))
	keyPEM, err2 := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	caBlock, _ := pem.Decode(caPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	caCert, err1 := x509.ParseCertificate(caBlock.Bytes)
	caKey, err2 := x509.ParseECPrivateKey(keyBlock.Bytes)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	ca := &testCA{cert: caCert, key: caKey}
	conns := make([]net.Conn, 0, n)
	for i := range n {
		from := fmt.Sprintf("peer%d.test", i)
		cert, err := newCert(ca, from)
		if err != nil {
			return err
		}
		c, err := openPeerLink(addr, from, cert)
		if err != nil {
			return fmt.Errorf("link %d: %w", i, err)
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// openPeerLink opens one link as rawPeer does and authenticates it with
// SASL EXTERNAL, without a testing.TB.
func openPeerLink(addr, from string, cert tls.Certificate) (net.Conn, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := newS2SConn(raw, DefaultMaxStanzaSize, 5*time.Second)
	k := linkKey{local: from, remote: "a.test"}
	f := &federation{}
	step := func(err error) error {
		if err != nil {
			raw.Close()
		}
		return err
	}
	feats, err := f.openStream(c, k)
	if err == nil && !feats.starttls {
		err = errors.New("no STARTTLS")
	}
	if err == nil {
		err = c.writeElement(NewElement(nsTLS, "starttls"))
	}
	if err == nil {
		_, err = c.next()
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = c.startTLS(ctx, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}}, false)
		cancel()
	}
	if err == nil {
		_, err = f.openStream(c, k)
	}
	if err == nil {
		out := &s2sOut{f: f, key: k}
		var ok bool
		if ok, err = out.external(c); err == nil && !ok {
			err = errors.New("EXTERNAL refused")
		}
	}
	return c.raw, step(err)
}
