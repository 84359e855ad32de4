package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// The console: one page, its script and its style sheet, embedded. It
// speaks only to the API, from this origin; its Content-Security-Policy
// allows nothing else (no inline script or style, no other origin).
//
//go:embed console
var consoleFiles embed.FS

// ConsoleCSP is the console's Content-Security-Policy.
const ConsoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

func registerConsole(mux *http.ServeMux) {
	files, _ := fs.Sub(consoleFiles, "console")
	static := http.FileServerFS(files)
	serve := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", ConsoleCSP)
			w.Header().Set("Cache-Control", "no-cache")
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + name
			if name == "index.html" {
				r2.URL.Path = "/"
			}
			static.ServeHTTP(w, r2)
		}
	}
	mux.HandleFunc("GET "+ConsolePath, serve("index.html"))
	mux.HandleFunc("GET "+ConsolePath+"/{$}", serve("index.html"))
	mux.HandleFunc("GET "+ConsolePath+"/console.js", serve("console.js"))
	mux.HandleFunc("GET "+ConsolePath+"/console.css", serve("console.css"))
}
