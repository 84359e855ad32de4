package xmpp

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"slices"
	"strings"

	mx509 "mellium.im/xmpp/x509"
)

// How one server proves its domain to another (RFC 6120 §13.7.1.4,
// XEP-0178, XEP-0220, XEP-0344): a certificate that verifies for the
// domain (SASL EXTERNAL, or dialback answered at once), or Server
// Dialback, which asks the domain's authoritative server, found in DNS,
// to confirm a key only it can make.

// dialbackKey is the XEP-0185 §3 key for a stream: HMAC-SHA256 keyed with
// SHA-256 of the secret, over "{Receiving Server} {Originating Server}
// {Stream ID}", in lower-case hex. Any node holding the secret (kept in the
// database, storage.Secrets) makes and checks the same keys.
func dialbackKey(secretHash []byte, receiving, originating, streamID string) string {
	m := hmac.New(sha256.New, secretHash)
	m.Write([]byte(receiving + " " + originating + " " + streamID))
	return hex.EncodeToString(m.Sum(nil))
}

// dialbackSecretHash is the HMAC key of dialbackKey (XEP-0185 §3:
// "SHA256(Secret)").
func dialbackSecretHash(secret []byte) []byte {
	h := sha256.Sum256(secret)
	return h[:]
}

// certVerifies reports whether a peer's certificate chain verifies against
// roots (nil: the system's) and names domain, as RFC 6125 and RFC 6120
// §13.7.1.4 match it: a DNS-ID (SAN dNSName, wildcards in the left-most
// label), or an XmppAddr (id-on-xmppAddr) or SRV-ID (_xmpp-server.domain)
// read with mellium.im/xmpp/x509. A CN is not an identity (RFC 6125
// §6.4.4: only without any SAN, which Go no longer honours either).
func certVerifies(chain []*x509.Certificate, roots *x509.CertPool, domain string) bool {
	if len(chain) == 0 || domain == "" {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := chain[0].Verify(opts); err != nil {
		return false
	}
	if chain[0].VerifyHostname(domain) == nil {
		return true
	}
	c, err := mx509.FromCertificate(chain[0])
	if err != nil {
		return false
	}
	return slices.ContainsFunc(c.XMPPAddresses, func(a string) bool { return strings.EqualFold(a, domain) }) ||
		slices.ContainsFunc(c.SRVNames, func(s string) bool { return strings.EqualFold(s, "_xmpp-server."+domain) })
}
