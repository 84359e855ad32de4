package realip

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHandler(t *testing.T) {
	proxies, err := ParseProxies("127.0.0.1, 10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer string
		xff        []string
		wantRemote string
		wantPeer   string
	}{
		{"direct client, no header", "192.0.2.7:4000", nil, "192.0.2.7:4000", "192.0.2.7:4000"},
		{"direct client forging the header", "192.0.2.7:4000", []string{"198.51.100.1"}, "192.0.2.7:4000", "192.0.2.7:4000"},
		{"through the proxy", "127.0.0.1:5555", []string{"198.51.100.1"}, "198.51.100.1:0", "127.0.0.1:5555"},
		{"client's forged entry left of the proxy's", "127.0.0.1:5555", []string{"203.0.113.9, 198.51.100.1"}, "198.51.100.1:0", "127.0.0.1:5555"},
		{"two trusted proxies", "127.0.0.1:5555", []string{"198.51.100.1", "10.1.2.3"}, "198.51.100.1:0", "127.0.0.1:5555"},
		{"IPv6 client", "127.0.0.1:5555", []string{"2001:db8::1"}, "[2001:db8::1]:0", "127.0.0.1:5555"},
		{"proxy without the header", "127.0.0.1:5555", nil, "127.0.0.1:5555", "127.0.0.1:5555"},
		{"garbage from the proxy", "127.0.0.1:5555", []string{"unknown"}, "127.0.0.1:5555", "127.0.0.1:5555"},
	}
	for _, tt := range tests {
		var gotRemote, gotPeer string
		h := proxies.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gotRemote, gotPeer = r.RemoteAddr, Peer(r)
		}))
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.peer
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if gotRemote != tt.wantRemote || gotPeer != tt.wantPeer {
			t.Errorf("%s: RemoteAddr %q, Peer %q; want %q, %q", tt.name, gotRemote, gotPeer, tt.wantRemote, tt.wantPeer)
		}
	}
}

func TestParseProxies(t *testing.T) {
	if _, err := ParseProxies("127.0.0.1, nginx"); err == nil {
		t.Error(`"nginx" accepted as a proxy address`)
	}
	if p, err := ParseProxies(""); err != nil || len(p) != 0 {
		t.Errorf("empty list: %v, %v", p, err)
	}
}
