// Package auth turns a user's password into the secrets each front door
// needs to verify it later, so that no password is ever stored: SCRAM
// StoredKey/ServerKey pairs for XMPP SASL (RFC 5802 §3, RFC 7677), and SIP
// digest HA1 values (RFC 3261 §22.4, RFC 8760).
package auth

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"

	"github.com/xdg-go/scram"
	"golang.org/x/text/secure/precis"

	"github.com/parleychat/parley/internal/identity"
	"github.com/parleychat/parley/storage"
)

// Mechanism names of the SCRAM families Parley stores credentials for.
const (
	ScramSHA1   = "SCRAM-SHA-1"
	ScramSHA256 = "SCRAM-SHA-256"
)

// DefaultIterations is the PBKDF2 iteration count for new credentials. RFC
// 7677 §4 asks for at least 4096; OWASP's current advice for SHA-256 is far
// higher, but every login costs this much CPU on the server.
const DefaultIterations = 10000

// MaxPasswordLength bounds passwords, in bytes after PRECIS preparation.
const MaxPasswordLength = 1024

// ErrBadUsername and ErrBadPassword are returned for input that cannot be
// used as an account name or password.
var (
	ErrBadUsername = errors.New("auth: invalid username")
	ErrBadPassword = errors.New("auth: invalid password")
)

// NormalizeUsername prepares a username as an XMPP localpart (RFC 7622
// §3.3: PRECIS UsernameCaseMapped) and rejects characters that a localpart
// may not hold.
func NormalizeUsername(name string) (string, error) {
	out, err := identity.Localpart(name)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadUsername, err)
	}
	return out, nil
}

// PreparePassword applies PRECIS OpaqueString (RFC 8265 §4.2), which is what
// SCRAM's SASLprep has become for XMPP.
func PreparePassword(password string) (string, error) {
	out, err := precis.OpaqueString.String(password)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadPassword, err)
	}
	if len(out) > MaxPasswordLength {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadPassword, MaxPasswordLength)
	}
	return out, nil
}

// DeriveCredentials computes a fresh salt and the SCRAM-SHA-1 and
// SCRAM-SHA-256 StoredKey/ServerKey pairs for password.
func DeriveCredentials(username, password string) ([]storage.ScramCredential, error) {
	prepared, err := PreparePassword(password)
	if err != nil {
		return nil, err
	}
	var out []storage.ScramCredential
	for _, m := range []struct {
		name string
		hash scram.HashGeneratorFcn
	}{{ScramSHA1, scram.SHA1}, {ScramSHA256, scram.SHA256}} {
		salt := make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("auth: reading random salt: %w", err)
		}
		// The password was prepared above; scram's own SASLprep on an
		// already prepared string is a no-op for everything PRECIS accepts.
		client, err := m.hash.NewClientUnprepped(username, prepared, "")
		if err != nil {
			return nil, fmt.Errorf("auth: %s: %w", m.name, err)
		}
		sc, err := client.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: DefaultIterations})
		if err != nil {
			return nil, fmt.Errorf("auth: %s: deriving keys: %w", m.name, err)
		}
		out = append(out, storage.ScramCredential{
			Mechanism:  m.name,
			Salt:       salt,
			Iterations: DefaultIterations,
			StoredKey:  sc.StoredKey,
			ServerKey:  sc.ServerKey,
		})
	}
	return out, nil
}

// Digest algorithm names (RFC 8760 §2) Parley stores SIP credentials for.
const (
	DigestMD5    = "MD5"
	DigestSHA256 = "SHA-256"
)

// DigestAlgorithms are the digest algorithms DeriveDigestCredentials
// computes, in the order a challenge offers them: the preferred first
// (RFC 8760 §2.4).
var DigestAlgorithms = [...]string{DigestSHA256, DigestMD5}

// DigestHash returns the hash function of a digest algorithm name, or nil
// for a name Parley does not support.
func DigestHash(algorithm string) func() hash.Hash {
	switch algorithm {
	case DigestMD5:
		return md5.New
	case DigestSHA256:
		return sha256.New
	}
	return nil
}

// DigestHex returns the lowercase hex of H(parts joined with ":"), the
// digest's H(data) and KD (RFC 7616 §3.4.1).
func DigestHex(newHash func() hash.Hash, parts ...string) string {
	h := newHash()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DeriveDigestCredentials computes the SIP digest HA1 = H(username ":"
// realm ":" password) (RFC 7616 §3.4.2, RFC 3261 §22.4) for every algorithm
// in DigestAlgorithms. realm is the SIP domain; the password is prepared as
// for SCRAM, which leaves every ASCII password as it is.
func DeriveDigestCredentials(username, realm, password string) ([]storage.DigestCredential, error) {
	prepared, err := PreparePassword(password)
	if err != nil {
		return nil, err
	}
	if realm == "" {
		return nil, errors.New("auth: digest credentials need a realm")
	}
	out := make([]storage.DigestCredential, 0, len(DigestAlgorithms))
	for _, alg := range DigestAlgorithms {
		out = append(out, storage.DigestCredential{
			Realm:     realm,
			Algorithm: alg,
			HA1:       DigestHex(DigestHash(alg), username, realm, prepared),
		})
	}
	return out, nil
}

// ErrNotAuthorized is a Verifier's answer to a wrong password or an unknown
// user; ErrUnavailable says the password could not be checked now (the
// directory is down), which the front door reports as a temporary failure.
var (
	ErrNotAuthorized = errors.New("auth: not authorized")
	ErrUnavailable   = errors.New("auth: password check unavailable")
)

// Verifier checks a user's password where Parley has no SCRAM verifiers of
// its own (an external directory: package ldapauth). A front door given a
// Verifier offers only mechanisms that carry the password (SASL PLAIN over
// TLS) and asks the Verifier instead of its stored credentials.
type Verifier interface {
	// Verify checks password for username (already normalised with
	// NormalizeUsername, the password with PreparePassword). It returns
	// nil, an error wrapping ErrNotAuthorized, or one wrapping
	// ErrUnavailable.
	Verify(ctx context.Context, username, password string) error
}

// CredentialReader reads a stored SCRAM credential (storage.Accounts has
// it).
type CredentialReader interface {
	ScramCredential(ctx context.Context, username, mechanism string) (storage.ScramCredential, error)
}

// StoredVerifier is the Verifier of --auth internal: it checks a password
// against the stored SCRAM credentials (VerifyStored). The web admin
// console logs in through it.
type StoredVerifier struct{ Accounts CredentialReader }

// Verify implements Verifier.
func (v StoredVerifier) Verify(ctx context.Context, username, password string) error {
	_, err := VerifyStored(ctx, v.Accounts, username, password)
	return err
}

// VerifyStored checks password (prepared) for username against its
// stored SCRAM-SHA-256 credential, or its SCRAM-SHA-1 one when it has
// only that (an account imported from another server): it derives the
// StoredKey with the stored salt and iteration count and compares (RFC
// 5802 §3). It returns the mechanism whose credential matched, or an
// error wrapping ErrNotAuthorized or ErrUnavailable.
func VerifyStored(ctx context.Context, accounts CredentialReader, username, password string) (string, error) {
	for _, m := range []struct {
		name string
		hash scram.HashGeneratorFcn
	}{{ScramSHA256, scram.SHA256}, {ScramSHA1, scram.SHA1}} {
		cred, err := accounts.ScramCredential(ctx, username, m.name)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("%w: reading the credential: %v", ErrUnavailable, err)
		}
		client, err := m.hash.NewClientUnprepped(username, password, "")
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrNotAuthorized, err)
		}
		derived := client.GetStoredCredentials(scram.KeyFactors{Salt: string(cred.Salt), Iters: cred.Iterations})
		if subtle.ConstantTimeCompare(derived.StoredKey, cred.StoredKey) != 1 {
			return "", fmt.Errorf("%w: wrong password for %q", ErrNotAuthorized, username)
		}
		return m.name, nil
	}
	return "", fmt.Errorf("%w: no credential for %q", ErrNotAuthorized, username)
}
