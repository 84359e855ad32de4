package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The public HTTP listeners pace each client address (issue 18, item 3):
// past its burst a request gets 429 with Retry-After (RFC 6585 §4),
// counted; another address is served.
func TestHTTPRequestRate(t *testing.T) {
	rates := newHTTPRates(0.001, 3, prometheus.NewRegistry())
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
