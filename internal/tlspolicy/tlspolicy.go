// Package tlspolicy is Parley's one TLS policy: every listener (XMPP c2s
// STARTTLS and direct TLS, XMPP s2s, SIP over TLS, HTTPS) and every client
// connection Parley makes (federation, LDAP) uses a configuration from
// here.
//
// TLS 1.2 is the least version (RFC 8996 deprecates 1.0 and 1.1; RFC 7525
// §3.1.1), and in TLS 1.2 only ephemeral ECDH key exchange with an AEAD
// cipher (RFC 7525 §4.2, and RFC 9325 §4.2, which supersedes it): forward
// secrecy and no CBC, RSA key transport or 3DES. TLS 1.3's suites are
// all AEAD and ephemeral; Go does not let them be configured.
package tlspolicy

import "crypto/tls"

// MinVersion is the least TLS version Parley speaks.
const MinVersion = tls.VersionTLS12

// CipherSuites are the TLS 1.2 suites Parley accepts and offers: ECDHE
// with AES-GCM or ChaCha20-Poly1305, in Go's order of preference.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CipherSuites returns the TLS 1.2 suites of the policy (a copy).
func CipherSuites() []uint16 { return append([]uint16(nil), cipherSuites...) }

// Server is a server configuration that serves the certificate getCert
// returns (so a reloaded certificate takes effect at the next handshake).
func Server(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return Apply(&tls.Config{GetCertificate: getCert})
}

// Client is a client configuration for serverName.
func Client(serverName string) *tls.Config {
	return Apply(&tls.Config{ServerName: serverName})
}

// Apply makes cfg follow the policy: at least TLS 1.2 (a higher MinVersion
// stays) and, for TLS 1.2, only the policy's suites. It returns cfg, or a
// new configuration for a nil one.
func Apply(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.MinVersion < MinVersion {
		cfg.MinVersion = MinVersion
	}
	cfg.CipherSuites = CipherSuites()
	return cfg
}
