package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parleychat/parley/storage"
)

// healthTimeout bounds the storage ping behind /healthz.
const healthTimeout = 2 * time.Second

// newHTTPServer serves the node's operational endpoints:
//
//	/healthz  200 "ok" while the content database answers, else 503
//	/metrics  Prometheus metrics from reg
//	/upload/  HTTP File Upload (XEP-0363) PUT, GET and HEAD, when upload
//	          is not nil
//	/sip      SIP over WebSocket (RFC 7118), when sipWS is not nil
func newHTTPServer(store storage.Store, reg *prometheus.Registry, log *slog.Logger, upload, sipWS http.Handler) *http.Server {
	mux := http.NewServeMux()
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
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
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
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:      reg, // counts its own errors
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
