package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestDeriveDigestCredentials(t *testing.T) {
	// RFC 2617 §3.5's example user; HA1 = MD5("Mufasa:testrealm@host.com:Circle Of Life").
	got, err := DeriveDigestCredentials("Mufasa", "testrealm@host.com", "Circle Of Life")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("Mufasa:testrealm@host.com:Circle Of Life"))
	want := map[string]string{
		DigestMD5:    "939e7578ed9e3c518a452acee763bce9",
		DigestSHA256: hex.EncodeToString(sum[:]),
	}
	if len(got) != len(want) {
		t.Fatalf("got %d credentials %+v, want %d", len(got), got, len(want))
	}
	for _, c := range got {
		if c.Realm != "testrealm@host.com" || c.HA1 != want[c.Algorithm] {
			t.Errorf("%s credential %+v, want HA1 %s", c.Algorithm, c, want[c.Algorithm])
		}
	}
	if _, err := DeriveDigestCredentials("alice", "", "pw"); err == nil {
		t.Error("no realm: no error")
	}
}
