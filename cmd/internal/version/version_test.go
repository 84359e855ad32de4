package version

import (
	"runtime"
	"testing"
)

func TestNumberAndString(t *testing.T) {
	if got := Number(); got != dev {
		t.Errorf("Number() in a test binary = %q, want %q", got, dev)
	}
	release, revision = "1.2.3", "0123456789ab"
	defer func() { release, revision = "", "" }()
	if got := Number(); got != "1.2.3" {
		t.Errorf("Number() with the release set = %q, want 1.2.3", got)
	}
	if s := String("parleyd"); s != "parleyd 1.2.3 (revision 0123456789ab, "+runtime.Version()+")" {
		t.Errorf("String = %q", s)
	}
	for _, v := range []string{"v0.0.0-20261202134500-0123456789ab", "v1.2.4-0.20261202134500-0123456789ab+dirty"} {
		if !pseudo.MatchString(v) {
			t.Errorf("%s is a pseudo-version", v)
		}
	}
	if pseudo.MatchString("v1.2.3") {
		t.Error("v1.2.3 is a release")
	}
}
