package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/parleychat/parley/storage"
)

// pingStore is a storage.Store whose Ping returns err; nothing else of it
// is used by the HTTP endpoints.
type pingStore struct {
	storage.Store
	err error
}

func (s pingStore) Ping(context.Context) error { return s.err }

func TestHealthz(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		err  error
		code int
	}{{nil, http.StatusOK}, {errors.New("database is gone"), http.StatusServiceUnavailable}} {
		srv := newHTTPServer(pingStore{err: tt.err}, log, nil, nil, nil, nil, nil, nil, nil)
		rec := httptest.NewRecorder()
		srv.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != tt.code {
			t.Errorf("ping error %v: /healthz status %d, want %d", tt.err, rec.Code, tt.code)
		}
	}
}
