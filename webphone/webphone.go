// Package webphone serves Parley's SIP phone page at /phone: SIP.js
// (https://sipjs.com, MIT), fetched from npm at a pinned version by
// `make webphone` and embedded at build time, with a small page of ours
// that registers over SIP over WebSocket (RFC 7118) to the server's /sip
// endpoint with the user's password (digest), joins rooms with /join,
// posts and shows the MESSAGEs it receives: the SIP front door from a
// browser. It speaks no SIP itself.
//
// SIP.js's npm package holds ES modules (lib/, 190 files); `make
// webphone` bundles them into one, dist/sipjs/sip.js, with esbuild (a Go
// tool pinned in go.mod), which phone.js imports: a page load is four
// requests, not 130, well inside the HTTP rate limit's burst.
//
// A binary built without SIP.js (plain `go build` with no `make webphone`
// first) serves a page at /phone that says so and how to add it.
package webphone

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed all:dist
var dist embed.FS

//go:embed static
var static embed.FS

// Config is what the page is configured with.
type Config struct {
	// Domain is the SIP domain users register to (the XMPP domain);
	// RoomDomain the room service's (sip:ROOM@RoomDomain).
	Domain, RoomDomain string
	// WebSocketPath is the SIP over WebSocket endpoint on the page's own
	// origin.
	WebSocketPath string
}

// Version is the bundled SIP.js version, or "" when the binary was built
// without it.
func Version() string {
	b, err := dist.ReadFile("dist/sipjs/VERSION")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// contentSecurityPolicy lets the page load only its own scripts and
// styles, none inline, and connect only to its own origin (wss: to /sip).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page at /phone, its script and style under /phone/
// and SIP.js (the bundle and its licence) under /phone/lib/.
func Handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	version := Version()
	lib, _ := fs.Sub(dist, "dist/sipjs")
	sipjs := http.StripPrefix("/phone/lib/", http.FileServerFS(lib))
	mux.Handle("GET /phone/lib/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The files change only with the binary.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		sipjs.ServeHTTP(w, r)
	}))
	own, _ := fs.Sub(static, "static")
	files := http.StripPrefix("/phone/", http.FileServerFS(own))
	for _, name := range []string{"phone.js", "phone.css"} {
		mux.Handle("GET /phone/"+name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			files.ServeHTTP(w, r)
		}))
	}
	var page bytes.Buffer
	status := http.StatusOK
	if version == "" {
		page.WriteString(notBuiltPage)
		status = http.StatusServiceUnavailable
	} else if err := pageTemplate.Execute(&page, map[string]string{
		"Domain": cfg.Domain, "RoomDomain": cfg.RoomDomain, "WebSocketPath": cfg.WebSocketPath, "Version": version,
	}); err != nil {
		panic(err) // the template is ours and its data strings
	}
	mux.HandleFunc("GET /phone", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(status)
		_, _ = w.Write(page.Bytes())
	})
	mux.Handle("GET /phone/{$}", http.RedirectHandler("/phone", http.StatusMovedPermanently))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		mux.ServeHTTP(w, r)
	})
}

// pageTemplate is the phone page; the settings are data attributes of
// <body> (no inline script: the CSP allows none), read by phone.js.
var pageTemplate = template.Must(template.ParseFS(static, "static/phone.html"))

const notBuiltPage = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Parley phone</title></head>
<body>
<h1>Parley phone</h1>
<p>This parleyd was built without its SIP phone page. Build it with
<code>make webphone build</code> (needs npm), or use any SIP client.</p>
</body>
</html>
`
