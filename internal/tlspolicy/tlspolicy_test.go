package tlspolicy

import (
	"crypto/tls"
	"strings"
	"testing"
)

// Every TLS 1.2 suite of the policy is ephemeral ECDH with an AEAD cipher
// and none is one Go calls insecure; Apply raises MinVersion to TLS 1.2 and
// keeps a higher one.
func TestPolicy(t *testing.T) {
	insecure := map[uint16]bool{}
	for _, cs := range tls.InsecureCipherSuites() {
		insecure[cs.ID] = true
	}
	for _, id := range CipherSuites() {
		name := tls.CipherSuiteName(id)
		aead := strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305")
		if !strings.HasPrefix(name, "TLS_ECDHE_") || !aead || insecure[id] {
			t.Errorf("%s is not ECDHE with an AEAD cipher", name)
		}
	}
	if got := Apply(&tls.Config{MinVersion: tls.VersionTLS10}).MinVersion; got != tls.VersionTLS12 {
		t.Errorf("Apply left MinVersion %s", tls.VersionName(got))
	}
	if got := Apply(&tls.Config{MinVersion: tls.VersionTLS13}).MinVersion; got != tls.VersionTLS13 {
		t.Errorf("Apply lowered MinVersion to %s", tls.VersionName(got))
	}
	if c := Server(nil); c.MinVersion != tls.VersionTLS12 || len(c.CipherSuites) != len(CipherSuites()) {
		t.Errorf("Server: %+v", c)
	}
}
