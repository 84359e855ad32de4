package weborigin

import (
	"net/http/httptest"
	"testing"
)

func TestAllowed(t *testing.T) {
	tests := []struct {
		name    string
		origin  string
		allowed []string
		want    bool
	}{
		{"no Origin: not a web page", "", nil, true},
		{"page of the same host and port", "https://chat.example:5281", nil, true},
		{"same host, other port", "https://chat.example:8443", nil, false},
		{"other site", "https://evil.example", nil, false},
		{"listed", "https://app.example", []string{"https://app.example/"}, true},
		{"listed, case differs", "https://APP.example", []string{"https://app.example"}, true},
		{"wildcard", "https://evil.example", []string{"*"}, true},
		{"opaque origin", "null", []string{"https://app.example"}, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "https://chat.example:5281/sip", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if got := Allowed(r, tt.allowed); got != tt.want {
			t.Errorf("%s: Allowed(Origin %q, %q) = %v, want %v", tt.name, tt.origin, tt.allowed, got, tt.want)
		}
	}
}
