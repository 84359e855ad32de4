package sip

import (
	"log/slog"

	"github.com/emiago/sipgo/sip"
)

// sipgo v1.7.3 logs with log/slog. A Server hands its logger to sipgo's
// transport and transaction layers, server and client; the few places of
// sipgo's sip package that take no logger (connection reference counts,
// lazy header parsing, unhandled messages) use that package's default,
// which only the process should set.

// SetLibraryLogger makes log the logger of the places in sipgo that take
// none. It is process-wide and not synchronised: call it once at start,
// before any Server exists (parleyd's main does).
func SetLibraryLogger(log *slog.Logger) {
	sip.SetDefaultLogger(log.With("protocol", "sip", "component", "sipgo"))
}
