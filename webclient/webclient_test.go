package webclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The page, its settings script and its CSP; without the client built in,
// / says how to build it (503).
func TestHandler(t *testing.T) {
	h := Handler(Config{Domain: "chat.example.org", MUCDomain: "conference.chat.example.org", WebSocketPath: "/xmpp-websocket", BOSHPath: "/http-bind"})
	get := func(path string) (*http.Response, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Result().Body)
		return rec.Result(), string(b)
	}
	resp, body := get("/")
	if Version() == "" {
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "make webclient") {
			t.Errorf("without the client: %d %s", resp.StatusCode, body)
		}
	} else {
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `src="/converse/converse.min.js"`) {
			t.Errorf("/: %d %s", resp.StatusCode, body)
		}
		if r, _ := get("/converse/converse.min.js"); r.StatusCode != http.StatusOK {
			t.Errorf("converse.min.js: %d", r.StatusCode)
		}
		if r, lic := get("/converse/LICENSE"); r.StatusCode != http.StatusOK || !strings.Contains(lic, "Mozilla Public License") {
			t.Errorf("the licence is not served with the client: %d", r.StatusCode)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	_, js := get("/parley-client.js")
	for _, want := range []string{`"domain":"chat.example.org"`, `"muc":"conference.chat.example.org"`, `"websocket":"/xmpp-websocket"`, `"bosh":"/http-bind"`, "converse.initialize"} {
		if !strings.Contains(js, want) {
			t.Errorf("parley-client.js lacks %s:\n%s", want, js)
		}
	}
	if r, _ := get("/elsewhere"); r.StatusCode != http.StatusNotFound {
		t.Errorf("/elsewhere: %d", r.StatusCode)
	}
}
