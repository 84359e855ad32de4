package sip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/parleychat/parley/internal/weborigin"
)

// SIP over WebSocket (RFC 7118) on the HTTP listener: sipgo's WS transport
// serves a net.Listener and does the WebSocket handshake itself (answering
// with the "sip" subprotocol), and cannot be mounted as an http.Handler.
// So the Handler checks the request, takes the connection from net/http
// (Hijack), and hands it to sipgo through wsListener with the request
// bytes put back in front, as if sipgo had accepted it: sipgo reads the
// same upgrade request, answers 101, and the connection is then one of its
// WS connections, reused for what the server sends to that client
// (responses, room MESSAGEs, NOTIFYs) since bindings and subscriptions
// made over a reliable transport are reached over their connection.

// wsSubprotocol is the WebSocket subprotocol of RFC 7118 §4.
const wsSubprotocol = "sip"

// wsListener is the net.Listener sipgo's WS transport accepts from: the
// connections the Handler took over.
type wsListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newWSListener() *wsListener {
	return &wsListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *wsListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is unspecified: the connections come from whatever HTTP listener
// mounts the Handler (sipgo only wants a host:port here).
func (l *wsListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4zero} }

// replayConn is a taken-over connection whose first bytes are the upgrade
// request net/http already read.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// serveWS runs sipgo's WS transport on the Handler's connections until
// Close.
func (s *Server) serveWS() {
	defer close(s.wsDone)
	if err := s.srv.ServeWS(s.ws); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Error("SIP over WebSocket stopped", "err", err)
	}
}

// WebSocketHandler is SIP over WebSocket (RFC 7118) for an HTTP server's
// mux (parleyd mounts it at /sip): a GET upgrading to WebSocket with the
// "sip" subprotocol.
func (s *Server) WebSocketHandler() http.Handler {
	return http.HandlerFunc(s.serveWebSocket)
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !headerHas(r.Header, "Connection", "upgrade") || !headerHas(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "SIP over WebSocket (RFC 7118): upgrade to WebSocket with the subprotocol sip", http.StatusUpgradeRequired)
		return
	}
	// A page of another site must not reach SIP through a visitor's
	// browser: the same origin rule as XMPP's web transports.
	if !weborigin.Allowed(r, s.cfg.WebAllowedOrigins) {
		http.Error(w, "origin not allowed (--http-allowed-origins)", http.StatusForbidden)
		return
	}
	if !headerHas(r.Header, "Sec-WebSocket-Protocol", wsSubprotocol) {
		http.Error(w, "SIP over WebSocket needs the subprotocol sip (RFC 7118 §4)", http.StatusBadRequest)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "connection cannot be taken over", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		s.log.Info("SIP over WebSocket: taking the connection over", "err", err, "remote", r.RemoteAddr)
		return
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "GET %s HTTP/1.1\r\nHost: %s\r\n", r.URL.RequestURI(), r.Host)
	r.Header.Write(&head)
	head.WriteString("\r\n")
	// Bytes the client sent after its request, already buffered.
	buffered, _ := rw.Reader.Peek(rw.Reader.Buffered())
	head.Write(buffered)
	c := &replayConn{Conn: conn, r: io.MultiReader(&head, conn)}
	select {
	case s.ws.conns <- c:
	case <-s.ws.done:
		conn.Close()
	case <-r.Context().Done():
		conn.Close()
	}
}

// headerHas reports whether a comma-separated header lists token.
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
