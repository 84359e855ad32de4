package sip

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
)

// authOutcome is what verify decided about a request's credentials.
type authOutcome int

const (
	authOK        authOutcome = iota
	authChallenge             // none, for another realm, stale or replayed: challenge (again)
	authForbidden             // a wrong response or an unknown user: 403
	authMalformed             // unusable credentials: 400
	authError                 // the store failed: 500
)

type verdict struct {
	outcome authOutcome
	stale   bool   // with authChallenge: the nonce expired (RFC 7616 §3.3)
	reason  string // for the log
	err     error  // with authError
}

// nonceLen is the decoded size of a nonce: an 8-byte issue time in Unix
// nanoseconds, 8 random bytes and the first 16 bytes of HMAC-SHA-256 over
// both under the server's key.
const nonceLen = 8 + 8 + 16

// authenticator issues digest challenges and verifies credentials (RFC
// 8760, RFC 7616 §3.3-3.4 as SIP uses them, RFC 3261 §22.4). Nonces carry
// their issue time and a MAC, so any number of challenges cost no memory;
// only nonces that authenticated a request are remembered, with the
// highest nonce-count seen, until they expire: a repeated or lower count is
// a replay (RFC 7616 §3.4.5).
type authenticator struct {
	realm      string
	algorithms []string // offered, in this order
	accounts   Accounts
	lifetime   time.Duration
	now        func() time.Time
	key        [32]byte

	mu     sync.Mutex
	counts map[string]nonceUse
}

type nonceUse struct {
	nc      int
	expires time.Time
}

func newAuthenticator(realm string, algorithms []string, accounts Accounts, lifetime time.Duration, now func() time.Time) (*authenticator, error) {
	a := &authenticator{realm: realm, algorithms: algorithms, accounts: accounts, lifetime: lifetime, now: now, counts: make(map[string]nonceUse)}
	if _, err := rand.Read(a.key[:]); err != nil {
		return nil, fmt.Errorf("sip: nonce key: %w", err)
	}
	return a, nil
}

func (a *authenticator) mac(b []byte) []byte {
	m := hmac.New(sha256.New, a.key[:])
	m.Write(b)
	return m.Sum(nil)[:16]
}

func (a *authenticator) newNonce() string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(a.now().UnixNano()))
	rand.Read(b[8:16]) // never fails (crypto/rand)
	copy(b[16:], a.mac(b[:16]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkNonce reports whether nonce is one of ours and, if so, when it
// expires.
func (a *authenticator) checkNonce(nonce string) (expires time.Time, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceLen || !hmac.Equal(b[16:], a.mac(b[:16])) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))).Add(a.lifetime), true
}

// challenges returns the WWW-Authenticate (or Proxy-Authenticate) values
// for a request from userAgent: one per algorithm in the configured order,
// sharing one fresh nonce (RFC 8760 §2.4) — or MD5 alone for a client
// that cannot be offered anything else (md5OnlyAgent).
func (a *authenticator) challenges(stale bool, userAgent string) []string {
	nonce := a.newNonce()
	algorithms := a.algorithms
	if md5OnlyAgent(userAgent) && slices.Contains(algorithms, auth.DigestMD5) {
		algorithms = []string{auth.DigestMD5}
	}
	out := make([]string, 0, len(algorithms))
	for _, alg := range algorithms {
		c := digest.Challenge{Realm: a.realm, Nonce: nonce, Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
		out = append(out, c.String())
	}
	return out
}

// verify checks the request's Authorization (Proxy-Authorization with
// proxy) for user, whose HA1 the store holds.
func (a *authenticator) verify(ctx context.Context, req *sip.Request, user string, proxy bool) verdict {
	name := "Authorization"
	if proxy {
		name = "Proxy-Authorization"
	}
	// A client that answers several of our challenges (Linphone's
	// belle-sip 5.1 sends an Authorization for each one it supports,
	// src/provider.c) is checked on its strongest answer.
	var cred *digest.Credentials
	for _, h := range req.GetHeaders(name) {
		c, err := digest.ParseCredentials(h.Value())
		if err != nil {
			return verdict{outcome: authMalformed, reason: "unparseable " + name}
		}
		if strings.EqualFold(c.Realm, a.realm) && (cred == nil || strength(c.Algorithm) > strength(cred.Algorithm)) {
			cred = c
		}
	}
	if cred == nil {
		return verdict{outcome: authChallenge}
	}
	alg := cred.Algorithm
	if alg == "" {
		alg = auth.DigestMD5 // RFC 7616 §3.3: absent means MD5
	}
	newHash := auth.DigestHash(alg)
	switch {
	case newHash == nil || !slices.Contains(a.algorithms, alg):
		return verdict{outcome: authChallenge, reason: "algorithm " + alg}
	case cred.QOP != "auth":
		return verdict{outcome: authChallenge, reason: "qop " + cred.QOP}
	case cred.Cnonce == "" || cred.Nc <= 0 || cred.Response == "" || cred.URI == "":
		return verdict{outcome: authMalformed, reason: "incomplete credentials"}
	case cred.Userhash:
		return verdict{outcome: authChallenge, reason: "userhash"}
	}
	expires, ours := a.checkNonce(cred.Nonce)
	if !ours {
		return verdict{outcome: authChallenge, reason: "unknown nonce"}
	}
	var uri sip.Uri
	if err := sip.ParseUri(cred.URI, &uri); err != nil || !sameURI(uri, req.Recipient) {
		return verdict{outcome: authMalformed, reason: "digest uri is not the request-URI"}
	}
	if cred.Username != user {
		return verdict{outcome: authForbidden, reason: fmt.Sprintf("credentials of %q for %q", cred.Username, user)}
	}
	stored, err := a.accounts.DigestCredential(ctx, user, a.realm, alg)
	if errors.Is(err, storage.ErrNotFound) {
		// Unknown user, or no digest credential for this realm: the same
		// answer as a wrong password, so names cannot be probed.
		return verdict{outcome: authForbidden, reason: "no " + alg + " credential"}
	} else if err != nil {
		return verdict{outcome: authError, err: err}
	}
	nc := fmt.Sprintf("%08x", cred.Nc)
	ha2 := auth.DigestHex(newHash, string(req.Method), cred.URI)
	want := auth.DigestHex(newHash, stored.HA1, cred.Nonce, nc, cred.Cnonce, cred.QOP, ha2)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(cred.Response))) != 1 {
		return verdict{outcome: authForbidden, reason: "wrong response"}
	}
	now := a.now()
	if now.After(expires) {
		return verdict{outcome: authChallenge, stale: true, reason: "nonce expired"}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, seen := a.counts[cred.Nonce]; seen && cred.Nc <= u.nc {
		return verdict{outcome: authChallenge, reason: fmt.Sprintf("nonce-count %d replayed (last %d)", cred.Nc, u.nc)}
	}
	a.counts[cred.Nonce] = nonceUse{nc: cred.Nc, expires: expires}
	return verdict{outcome: authOK}
}

// strength orders the digest algorithms of answers: SHA-256 above MD5
// (which an absent algorithm means), anything else below both.
func strength(algorithm string) int {
	switch algorithm {
	case auth.DigestSHA256:
		return 2
	case auth.DigestMD5, "":
		return 1
	}
	return 0
}

// md5OnlyAgent reports whether userAgent names a client that gives up
// authenticating when any challenge offers an algorithm other than MD5,
// whatever the order. Such a client is offered MD5 alone.
//
//   - baresip before 3.12 (Debian 12 has 1.0.0), whose libre (re,
//     src/sip/auth.c, auth_handler) fails the whole request with ENOSYS
//     ("Function not implemented") at the first challenge that is not MD5;
//     re 3.12 added SHA-256. Its User-Agent is "baresip vMAJOR.MINOR.PATCH
//     (ARCH/OS)".
//   - SIP.js, in browsers (Parley's phone page is one), every release to
//     0.21.2: its parser keeps only the last WWW-Authenticate or
//     Proxy-Authenticate of a response (lib/core/messages/parser.js sets
//     the header, replacing the one before) and its digest refuses any
//     algorithm but MD5 (lib/core/messages/digest-authentication.js), so
//     MD5 then SHA-256 fails. Its User-Agent starts "SIP.js/VERSION".
func md5OnlyAgent(userAgent string) bool {
	if strings.HasPrefix(userAgent, "SIP.js/") {
		return true
	}
	v, ok := strings.CutPrefix(userAgent, "baresip v")
	if !ok {
		return false
	}
	v, _, _ = strings.Cut(v, " ")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major < 3 || major == 3 && minor < 12
}

// prune forgets the counts of expired nonces, which checkNonce refuses
// anyway.
func (a *authenticator) prune(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for n, u := range a.counts {
		if now.After(u.expires) {
			delete(a.counts, n)
		}
	}
}

// sameURI compares the parts of two SIP URIs that name a resource.
func sameURI(a, b sip.Uri) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && a.User == b.User &&
		strings.EqualFold(a.Host, b.Host) && a.Port == b.Port
}
