package sip

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

// testCA issues certificates for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Parley test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue makes a certificate with the DNS names and URIs given, for a
// server (it is what a SIP server presents as a TLS client too).
func (ca *testCA) issue(t *testing.T, dns []string, uris ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "peer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: dns,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, u := range uris {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serveTLS serves ts over SIP over TLS on loopback with a certificate for
// its domain from ca and returns the address.
func serveTLS(t *testing.T, ts *testServer, ca *testCA) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ts.srv.ServeTLS(ln, &tls.Config{Certificates: []tls.Certificate{ca.issue(t, []string{testDomain})}})
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// tlsMessage sends a MESSAGE from sip:from to a room over a new TLS
// connection to addr, presenting cert (none if nil), and returns the
// final response's status code.
func tlsMessage(t *testing.T, addr string, roots *x509.CertPool, cert *tls.Certificate, from, room, body string) int {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: testDomain}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	to := "sip:" + room + "@conference." + testDomain
	fmt.Fprintf(c, "MESSAGE %s SIP/2.0\r\nVia: SIP/2.0/TLS %s;branch=z9hG4bK%d;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:%s>;tag=t1\r\nTo: <%s>\r\nCall-ID: %d@peer\r\nCSeq: 1 MESSAGE\r\n"+
		"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s",
		to, c.LocalAddr(), time.Now().UnixNano(), from, to, time.Now().UnixNano(), len(body), body)
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("MESSAGE from %s: no final response: %v", from, err)
		}
		var code int
		if _, err := fmt.Sscanf(line, "SIP/2.0 %d", &code); err == nil && code >= 200 {
			return code
		}
	}
}

// A server of another domain is trusted on SIP over TLS by a certificate
// naming its domain (RFC 5922 §7.1: a DNS name, or a sip: URI), verified
// against Config.PeerRoots, when the domain is in Config.TrustedPeerNames
// and is the domain of the MESSAGE's From: its user's post is taken.
// A certificate that does not verify, one for a domain not listed, one
// speaking for another listed domain's user, and no certificate are all
// refused (403), and nothing is posted.
func TestTrustedPeerByTLSIdentity(t *testing.T) {
	ca := newTestCA(t)
	ts, engine := newRoomServerWith(t, Config{TrustedPeerNames: []string{"sipfed.test", "other.test"}, PeerRoots: ca.pool()})
	addr := serveTLS(t, ts, ca)
	dns := ca.issue(t, []string{"sipfed.test"})
	uri := ca.issue(t, nil, "sip:other.test")
	unlisted := ca.issue(t, []string{"stranger.test"})
	selfSigned := newTestCA(t).issue(t, []string{"sipfed.test"})
	for _, c := range []struct {
		name string
		cert *tls.Certificate
		from string
		want int
	}{
		{"certificate with the From's domain as a DNS name", &dns, "carol@sipfed.test", 200},
		{"certificate with the From's domain as a sip: URI", &uri, "dave@other.test", 200},
		{"certificate from another CA", &selfSigned, "mallory@sipfed.test", 403},
		{"certificate for a domain not listed", &unlisted, "mallory@stranger.test", 403},
		{"certificate for another listed domain", &dns, "mallory@other.test", 403},
		{"no certificate", nil, "mallory@sipfed.test", 403},
	} {
		body := "post by " + c.from
		if got := tlsMessage(t, addr, ca.pool(), c.cert, c.from, "lobby", body); got != c.want {
			t.Errorf("%s: MESSAGE from %s answered %d, want %d", c.name, c.from, got, c.want)
		}
	}
	msgs, _, err := engine.History(context.Background(), "carol@sipfed.test", "test", storage.HistoryQuery{Room: "lobby", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Body)
	}
	if strings.Join(got, "|") != "post by carol@sipfed.test|post by dave@other.test" {
		t.Errorf("the lobby's history: %q, want the two trusted posts only", got)
	}
}
