// Package webclient serves Parley's bundled web client: Converse.js
// (https://conversejs.org, MPL-2.0), fetched from npm at a pinned version by
// `make webclient` and embedded at build time, configured for this server
// (its domain, MUC service and WebSocket or BOSH endpoint). No CDN and no
// network at run time: every file the page loads comes from the binary.
//
// A binary built without the client (plain `go build` with no
// `make webclient` first) serves a page at / that says so and how to add
// it.
package webclient

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// Config is what the page is configured with.
type Config struct {
	// Domain is the XMPP domain users log in to; MUCDomain the room
	// service ("" for none).
	Domain, MUCDomain string
	// WebSocketPath and BOSHPath are the endpoints on the page's own
	// origin (RFC 7395, XEP-0206).
	WebSocketPath, BOSHPath string
}

// Version is the bundled Converse.js version, or "" when the binary was
// built without it.
func Version() string {
	b, err := dist.ReadFile("dist/converse/VERSION")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// contentSecurityPolicy lets the page load only its own files and talk
// only to its own origin (the WebSocket and BOSH endpoints, uploads);
// Converse sets styles inline and compiles its crypto to WebAssembly.
const contentSecurityPolicy = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; " +
	"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the client: the page at /, its configuration at
// /parley-client.js and Converse.js's files under /converse/.
func Handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	files, _ := fs.Sub(dist, "dist/converse")
	static := http.StripPrefix("/converse/", http.FileServerFS(files))
	built := Version() != ""
	mux.Handle("GET /converse/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The files change only with the binary.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		static.ServeHTTP(w, r)
	}))
	settings, _ := json.Marshal(map[string]any{
		"domain":    cfg.Domain,
		"muc":       cfg.MUCDomain,
		"websocket": cfg.WebSocketPath,
		"bosh":      cfg.BOSHPath,
	})
	script := []byte(strings.Replace(clientScript, "SETTINGS", string(settings), 1))
	mux.HandleFunc("GET /parley-client.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(script)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		if !built {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(notBuiltPage))
			return
		}
		_, _ = w.Write([]byte(page))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		mux.ServeHTTP(w, r)
	})
}

const page = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parley</title>
<link rel="icon" href="/converse/images/favicon.ico">
<link rel="stylesheet" href="/converse/converse.min.css">
<script type="module" src="/converse/converse.min.js"></script>
<script type="module" src="/parley-client.js"></script>
</head>
<body class="converse-fullscreen">
<noscript>Parley's web client needs JavaScript.</noscript>
</body>
</html>
`

const notBuiltPage = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Parley</title></head>
<body>
<h1>Parley</h1>
<p>This parleyd was built without its web client. Build it with
<code>make webclient build</code> (needs npm), or use any XMPP client.</p>
</body>
</html>
`

// clientScript starts Converse.js for this server. ?transport=bosh (or a
// browser without WebSocket) uses BOSH instead of WebSocket.
const clientScript = `"use strict";
(function () {
  var s = SETTINGS;
  var bosh = new URLSearchParams(location.search).get("transport") === "bosh" || !window.WebSocket;
  var settings = {
    assets_path: "/converse/",
    view_mode: "fullscreen",
    authentication: "login",
    auto_reconnect: true,
    allow_registration: false,
    discover_connection_methods: false,
    default_domain: s.domain,
    locked_domain: s.domain,
    muc_domain: s.muc,
    muc_nickname_from_jid: true,
    muc_show_logs_before_join: true,
    show_client_info: false,
    play_sounds: false,
    omemo_default: false,
    message_archiving: "always",
    i18n: "en"
  };
  if (bosh) {
    settings.bosh_service_url = location.origin + s.bosh;
  } else {
    settings.websocket_url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + s.websocket;
  }
  converse.initialize(settings);
})();
`
