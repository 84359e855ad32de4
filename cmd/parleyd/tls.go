package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/cmd/internal/config"
	"github.com/parleychat/parley/internal/tlspolicy"
)

// selfSignedLifetime is how long a generated certificate is valid. It is
// regenerated on start once it has expired.
const selfSignedLifetime = 5 * 365 * 24 * time.Hour

// serverCert is the certificate parleyd serves and where it came from, for
// the start-up message.
type serverCert struct {
	cert       tls.Certificate
	certFile   string
	selfSigned bool
}

// fingerprint is the SHA-256 of the leaf certificate, as clients show it
// when asked to trust a certificate.
func (c serverCert) fingerprint() string {
	sum := sha256.Sum256(c.cert.Certificate[0])
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hex, ":")
}

// loadCertificate returns the certificate given with --tls-cert/--tls-key,
// or the self-signed one under DATA/tls, generating it on first start (and
// again when it has expired or no longer names the domain).
func loadCertificate(cfg *config.Config, log *slog.Logger) (serverCert, error) {
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return serverCert{}, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		return serverCert{cert: cert, certFile: cfg.TLSCert}, nil
	}

	dir := filepath.Join(cfg.Data, "tls")
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	names := certNames(cfg.Domain)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	switch {
	case err == nil && usable(cert.Leaf, names):
		return serverCert{cert: cert, certFile: certFile, selfSigned: true}, nil
	case err == nil:
		log.Warn("generated certificate expired or does not name the domain; generating a new one", "file", certFile, "domain", cfg.Domain)
	case !errors.Is(err, fs.ErrNotExist):
		return serverCert{}, fmt.Errorf("loading the generated certificate (delete %s to generate a new one): %w", dir, err)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return serverCert{}, fmt.Errorf("creating %s: %w", dir, err)
	}
	certPEM, keyPEM, err := generateSelfSigned(cfg.Domain, names)
	if err != nil {
		return serverCert{}, err
	}
	// The key first: a certificate without its key is never left behind.
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return serverCert{}, err
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return serverCert{}, err
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return serverCert{}, fmt.Errorf("loading the generated certificate: %w", err)
	}
	log.Info("generated a self-signed certificate", "file", certFile, "names", names)
	return serverCert{cert: cert, certFile: certFile, selfSigned: true}, nil
}

// certNames are the names a generated certificate is valid for: the domain,
// its MUC service and the loopback names a local client may use.
func certNames(domain string) []string {
	names := []string{domain}
	if net.ParseIP(domain) == nil {
		names = append(names, "conference."+domain)
	}
	for _, n := range []string{"localhost", "127.0.0.1", "::1"} {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// usable reports whether leaf is valid for a while yet and for all names.
func usable(leaf *x509.Certificate, names []string) bool {
	if leaf == nil || time.Now().Add(24*time.Hour).After(leaf.NotAfter) {
		return false
	}
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// generateSelfSigned makes an ECDSA P-256 key and a self-signed server
// certificate for names, both PEM encoded.
func generateSelfSigned(domain string, names []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating a TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("generating a serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: domain, Organization: []string{"Parley self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating a certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the TLS key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it into place, so a crash never leaves a half-written file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// certificates is the certificate every TLS listener serves (XMPP STARTTLS
// and direct TLS, SIP over TLS), replaced whole on reload: each handshake
// takes the one current then, so a renewed certificate reaches new
// connections while established ones keep theirs.
type certificates struct {
	current atomic.Pointer[serverCert]
}

func newCertificates(c serverCert) *certificates {
	cs := &certificates{}
	cs.set(c)
	return cs
}

// set makes c the certificate of the next handshakes.
func (cs *certificates) set(c serverCert) { cs.current.Store(&c) }

// get returns the current certificate.
func (cs *certificates) get() serverCert { return *cs.current.Load() }

// tlsConfig is a server TLS configuration that serves the current
// certificate.
func (cs *certificates) tlsConfig() *tls.Config {
	return tlspolicy.Server(func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return &cs.current.Load().cert, nil
	})
}
