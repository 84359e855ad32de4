package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The public HTTP listeners pace each client address (issue 18, item 3):
// past its burst a request gets 429 with Retry-After (RFC 6585 §4),
// counted; another address is served.
func TestHTTPRequestRate(t *testing.T) {
	rates := newHTTPLimits(0.001, 3, operatorTimeouts(), prometheus.NewRegistry())
	h := rates.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	get := func(addr string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/healthz", nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 3 {
		if w := get("192.0.2.1:40000"); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	if w := get("192.0.2.1:40001"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("fourth request from the address: %d %v, want 429 with Retry-After", w.Code, w.Header())
	}
	if w := get("192.0.2.2:40000"); w.Code != 200 {
		t.Errorf("another address: %d", w.Code)
	}
	if n := testutil.ToFloat64(rates.refused); n != 1 {
		t.Errorf("refusals counted: %v", n)
	}
}

// --http-header-timeout holds a slowloris client to the configured time on
// the public listener (the 10 s default would keep it past the 5 s this
// test waits), and the configured limits are in the metrics.
func TestHTTPTimeoutsConfigurable(t *testing.T) {
	d := start(t, "--data", filepath.Join(t.TempDir(), "data"), "--xmpp-c2s", "127.0.0.1:0", "--xmpp-tls", "", "--https", "",
		"--http", "127.0.0.1:0", "--admin-http", "127.0.0.1:0", "--sip", "", "--sip-tls", "", "--xmpp-s2s", "",
		"--http-header-timeout", "300ms", "--http-idle-timeout", "45s")
	public := d.addr(t, "HTTP (/healthz, upload, /sip)")
	conn, err := net.Dial("tcp", public)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Errorf("a client that never finished its headers was not cut off by --http-header-timeout 300ms: %v", err)
	}

	res, err := http.Get("http://" + d.addr(t, "admin HTTP (/metrics, /healthz, /readyz, /debug/pprof/)") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`parley_http_limit{limit="header_timeout"} 0.3`, `parley_http_limit{limit="idle_timeout"} 45`, `parley_http_limit{limit="request_rate"} 20`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
