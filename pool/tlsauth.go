package pool

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/parleychat/parley/internal/tlspolicy"
)

// MinSecretLength is the shortest pool secret accepted.
const MinSecretLength = 16

// deriveKey derives purpose-specific key material from the pool secret.
func deriveKey(secret, purpose string, n int) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(secret), []byte("parley pool"), purpose, n)
}

// routeCredentials are the user and password every node presents on its
// routes, derived from the pool secret.
func routeCredentials(secret string) (user, password string, err error) {
	b, err := deriveKey(secret, "route password", 24)
	if err != nil {
		return "", "", err
	}
	return "parley-pool", base64.RawURLEncoding.EncodeToString(b), nil
}

// secretTLS builds the mutual-TLS configuration of a node's routes from
// the pool secret: a CA whose Ed25519 key is derived from the secret (so
// every node computes the same CA and only holders of the secret can sign
// for it) and a fresh node certificate signed by it. Peers are verified
// against that CA; host names are not checked (nodes are named by the CA).
func secretTLS(secret, node string) (*tls.Config, error) {
	seed, err := deriveKey(secret, "ca key", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	caKey := ed25519.NewKeyFromSeed(seed)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Parley pool CA"},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("pool CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	_, nodeKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	nodeTmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: node},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	nodeDER, err := x509.CreateCertificate(rand.Reader, nodeTmpl, ca, nodeKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("pool node certificate: %w", err)
	}
	cert := tls.Certificate{Certificate: [][]byte{nodeDER, caDER}, PrivateKey: nodeKey}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return mutualTLS(cert, roots), nil
}

// fileTLS builds the routes' mutual-TLS configuration from operator-given
// node certificate, key and CA files.
func fileTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("pool certificate: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("pool CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("pool CA %s: no PEM certificate in it", caFile)
	}
	return mutualTLS(cert, roots), nil
}

// mutualTLS requires and verifies a certificate from roots on both ends of
// every route. Chains are verified by hand because route addresses are
// not names the certificates carry.
func mutualTLS(cert tls.Certificate, roots *x509.CertPool) *tls.Config {
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("pool: peer sent no certificate")
		}
		leaf, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return fmt.Errorf("pool: peer certificate: %w", err)
		}
		inter := x509.NewCertPool()
		for _, r := range raw[1:] {
			if c, err := x509.ParseCertificate(r); err == nil {
				inter.AddCert(c)
			}
		}
		_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			return fmt.Errorf("pool: peer certificate is not from the pool's CA: %w", err)
		}
		return nil
	}
	// TLS 1.3 only between nodes: stricter than the policy allows.
	return tlspolicy.Apply(&tls.Config{
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert,
		InsecureSkipVerify:    true, // verified by VerifyPeerCertificate, without host names
		VerifyPeerCertificate: verify,
		MinVersion:            tls.VersionTLS13,
	})
}
