package sip

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// FuzzDigest feeds arbitrary Authorization and Proxy-Authorization header
// values (RFC 3261 §22.4, RFC 7616 credentials) to the digest check every
// request passes: it may not panic, and it never lets in a request that
// does not answer with the password. NONCE in an input is replaced by a
// nonce the authenticator issued, so that inputs reach the checks past
// the nonce.
func FuzzDigest(f *testing.F) {
	f.Add(`Digest username="alice", realm="example.test", nonce="NONCE", uri="sip:example.test", response="00000000000000000000000000000000", qop=auth, nc=00000001, cnonce="x", algorithm=MD5`, false)
	f.Add(`Digest username="alice", realm="example.test", nonce="NONCE", uri="sip:example.test", response="00", qop=auth, nc=ffffffff, cnonce="", algorithm=SHA-256, userhash=true`, true)
	f.Add(`Digest username=, realm, nonce="`, false)
	f.Add(`Basic YWxpY2U6d29uZGVybGFuZA==`, true)
	a := &accounts{}
	a.add(f, "alice", "wonderland")
	authn, err := newAuthenticator(testDomain, []string{"MD5", "SHA-256"}, a, time.Minute, time.Now)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value string, proxy bool) {
		value = strings.ReplaceAll(value, "NONCE", authn.newNonce())
		req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: testDomain})
		name := "Authorization"
		if proxy {
			name = "Proxy-Authorization"
		}
		req.AppendHeader(sip.NewHeader(name, value))
		if v := authn.verify(context.Background(), req, "alice", proxy); v.outcome == authOK {
			t.Fatalf("%s: %q let alice in", name, value)
		}
	})
}
