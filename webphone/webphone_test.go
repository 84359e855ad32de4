package webphone

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The page with its settings, its own script and style, SIP.js's modules
// and licence, and a CSP that allows nothing inline and nothing from
// elsewhere; without SIP.js built in, /phone says how to build it (503).
func TestHandler(t *testing.T) {
	h := Handler(Config{Domain: "chat.example.org", RoomDomain: "conference.chat.example.org", WebSocketPath: "/sip"})
	get := func(path string) (*http.Response, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Result().Body)
		return rec.Result(), string(b)
	}
	resp, body := get("/phone")
	if Version() == "" {
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "make webphone") {
			t.Errorf("without SIP.js: %d %s", resp.StatusCode, body)
		}
	} else {
		if resp.StatusCode != http.StatusOK {
			t.Errorf("/phone: %d %s", resp.StatusCode, body)
		}
		for _, want := range []string{`data-domain="chat.example.org"`, `data-room-domain="conference.chat.example.org"`,
			`data-websocket="/sip"`, `data-sipjs="` + Version() + `"`, `<script type="module" src="/phone/phone.js">`} {
			if !strings.Contains(body, want) {
				t.Errorf("/phone lacks %s:\n%s", want, body)
			}
		}
		r, js := get("/phone/lib/sip.js")
		if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") ||
			!strings.Contains(js, "Registerer") || !strings.Contains(js, "export{") {
			t.Errorf("lib/sip.js: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
		}
		if r, lic := get("/phone/lib/LICENSE"); r.StatusCode != http.StatusOK || !strings.Contains(lic, "MIT License") {
			t.Errorf("the licence is not served with SIP.js: %d", r.StatusCode)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q allows inline or eval'd code", csp)
	}
	for path, ctype := range map[string]string{"/phone/phone.js": "text/javascript", "/phone/phone.css": "text/css"} {
		r, b := get(path)
		if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), ctype) || len(b) == 0 {
			t.Errorf("%s: %d %s", path, r.StatusCode, r.Header.Get("Content-Type"))
		}
	}
	if r, _ := get("/phone/"); r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/phone" {
		t.Errorf("/phone/: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	for _, path := range []string{"/phone/phone.html", "/phone/elsewhere", "/phone/lib/nothing.js"} {
		if r, _ := get(path); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, r.StatusCode)
		}
	}
}

// Settings are HTML-escaped into the page's attributes.
func TestSettingsEscaped(t *testing.T) {
	var b strings.Builder
	err := pageTemplate.Execute(&b, map[string]string{"Domain": `a"><script>x</script>`, "RoomDomain": "conference.a", "WebSocketPath": "/sip", "Version": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>x") || !strings.Contains(b.String(), `data-domain="a&#34;&gt;&lt;script&gt;x&lt;/script&gt;"`) {
		t.Errorf("the domain is not escaped:\n%s", b.String())
	}
}
