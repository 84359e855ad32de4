package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parleychat/parley/internal/realip"
	"github.com/parleychat/parley/storage"
)

// healthTimeout bounds the storage ping behind /healthz and /readyz.
const healthTimeout = 2 * time.Second

// newHTTPServer serves the node's public HTTP endpoints:
//
//	/healthz  200 "ok" while the content database answers, else 503
//	/upload/  HTTP File Upload (XEP-0363) PUT, GET and HEAD, when upload
//	          is not nil
//	/sip      SIP over WebSocket (RFC 7118), when sipWS is not nil
//	/xmpp-websocket  XMPP over WebSocket (RFC 7395), when web is not nil
//	/http-bind       XMPP over BOSH (XEP-0124, XEP-0206), when web is not nil
//	/.well-known/host-meta[.json]  where they are (XEP-0156)
//	pages     each page's patterns (webPages: the web client at /, the
//	          phone page at /phone)
//	/admin, /admin/api/  the web admin console and its API (package
//	                 admin), when console is not nil
//
// /metrics is on the admin server only (newAdminServer).
func newHTTPServer(store storage.Store, log *slog.Logger, upload, sipWS http.Handler, web xmppWeb, pages []webPage, limits *httpLimits, console http.Handler, proxies realip.Proxies) *http.Server {
	mux := http.NewServeMux()
	if console != nil {
		mux.Handle("/admin", console)
		mux.Handle("/admin/", console)
	}
	for _, p := range pages {
		for _, pattern := range p.patterns {
			mux.Handle(pattern, p.handler)
		}
	}
	if web != nil {
		// The WebSocket handler takes the connection over; BOSH
		// extends each response's write deadline to the wait it holds
		// the request.
		mux.Handle("GET /xmpp-websocket", web.WebSocketHandler())
		mux.Handle("/http-bind", web.BOSHHandler())
		hostMeta := web.HostMetaHandler("/xmpp-websocket", "/http-bind")
		mux.Handle("GET /.well-known/host-meta", hostMeta)
		mux.Handle("GET /.well-known/host-meta.json", hostMeta)
	}
	if sipWS != nil {
		// The handler takes the connection over: the deadlines below
		// end with the WebSocket handshake.
		mux.Handle("GET /sip", sipWS)
	}
	if upload != nil {
		// The upload handler extends the read and write deadlines
		// below for each transfer, by its size.
		mux.Handle("/upload/", upload)
	}
	mux.Handle("GET /healthz", healthz(store, log))
	return newServer(proxies.Handler(securityHeaders(limits.wrap(mux))), log, limits.timeoutsOrDefault())
}

// securityHeaders sets the headers every public response carries: no
// content sniffing, no framing, no referrer to other sites, and a
// Content-Security-Policy that allows nothing, which the handlers that
// serve pages or files replace with their own (the web client's, an
// uploaded file's sandbox).
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}

// webPage is a page the web listeners serve: its handler and the mux
// patterns it answers (its page, scripts and files).
type webPage struct {
	patterns []string
	handler  http.Handler
}

// xmppWeb is what the XMPP front door serves over HTTP for web clients.
type xmppWeb interface {
	WebSocketHandler() http.Handler
	BOSHHandler() http.Handler
	HostMetaHandler(wsPath, boshPath string) http.Handler
}

// newAdminServer serves the operators' endpoints (--admin-http):
//
//	/metrics       Prometheus metrics from reg
//	/healthz       as on the public server: 200 while the database answers
//	/readyz        200 "ready" while the node serves (ready) and the
//	               database answers, else 503: before the listeners are
//	               open and once it is stopping
//	/debug/pprof/  the Go runtime's profiles (net/http/pprof)
func newAdminServer(store storage.Store, reg *prometheus.Registry, log *slog.Logger, ready *atomic.Bool) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:      reg, // counts its own errors
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.Handle("GET /healthz", healthz(store, log))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not serving\n"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("storage unavailable\n"))
			return
		}
		w.Write([]byte("ready"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := newServer(mux, log, operatorTimeouts())
	srv.WriteTimeout = 0 // a CPU profile or a trace streams for as long as asked
	return srv
}

// healthz answers 200 "ok" while the content database answers, else 503.
func healthz(store storage.Store, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := store.Ping(ctx); err != nil {
			log.Warn("health check: storage does not answer", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("storage unavailable\n"))
			return
		}
		w.Write([]byte("ok"))
	}
}

// newServer is an http.Server for h with parleyd's timeouts.
func newServer(h http.Handler, log *slog.Logger, t httpTimeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.Header,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// httpTimeouts bound slow clients on an HTTP listener (--http-header-timeout,
// --http-read-timeout, --http-write-timeout, --http-idle-timeout).
type httpTimeouts struct{ Header, Read, Write, Idle time.Duration }

// operatorTimeouts are the operators' listener's (--admin-http): metrics
// and health checks, from the monitoring system.
func operatorTimeouts() httpTimeouts {
	return httpTimeouts{Header: 10 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: 2 * time.Minute}
}
