package xmpp

import (
	"bufio"
	"io"
	"net"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
)

// outItem is one entry of a session's outbound queue: bytes to write and,
// optionally, a function to run once those bytes (and everything queued
// before them) have been written to the socket. Offline messages are
// deleted from storage only from such a callback.
type outItem struct {
	data       []byte
	afterWrite func()
}

// session is a bound resource: an authenticated stream with a full JID. Its
// outbound queue is owned by one writer goroutine; everyone else only
// enqueues, never blocks: a session whose queue is full is a slow consumer
// and is disconnected (STYLE.md, after nats-server).
type session struct {
	jid  jid.JID
	bare string // bare JID string, the router's key
	srv  *Server

	out       chan outItem
	mu        sync.Mutex // guards closed and the presence state below
	closed    bool
	writeDone chan struct{}
	// kill is called (once) when the session must be torn down from the
	// outside: slow consumer, shutdown, stream error. It closes the
	// socket, which ends the reader goroutine.
	kill func(*StreamError)

	// Presence state (RFC 6121 §4), guarded by mu.
	available       bool
	priority        int
	presence        *Element // last available presence broadcast, with from
	rosterRequested bool     // an "interested resource" (RFC 6121 §2.1.6)
	directed        map[string]bool
}

func newSession(srv *Server, queue int) *session {
	return &session{
		srv:       srv,
		out:       make(chan outItem, queue),
		writeDone: make(chan struct{}),
		directed:  make(map[string]bool),
	}
}

// send queues data for the client. It never blocks: when the queue is full
// the session is cut off as a slow consumer and send reports false.
func (s *session) send(data []byte) bool { return s.sendItem(outItem{data: data}) }

func (s *session) sendElement(e *Element) bool { return s.send(e.Bytes()) }

func (s *session) sendItem(it outItem) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	select {
	case s.out <- it:
		s.mu.Unlock()
		return true
	default:
	}
	s.mu.Unlock()
	s.srv.metrics.slowConsumers.Inc()
	s.kill(&StreamError{Condition: "policy-violation", Text: "outbound queue full: the client reads too slowly"})
	return false
}

// closeQueue ends the outbound queue; the writer then writes closing (if
// any), flushes and returns.
func (s *session) closeQueue(closing []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if closing != nil {
		select {
		case s.out <- outItem{data: closing}:
		default:
			// The queue is full: the client will not read the
			// closing tag anyway.
		}
	}
	s.closed = true
	close(s.out)
}

// writeLoop is the session's one writer: it coalesces queued items into
// one buffered write per wake-up and flushes when the queue runs dry.
func (s *session) writeLoop(w io.Writer, conn net.Conn, timeout time.Duration) {
	defer close(s.writeDone)
	bw := bufio.NewWriterSize(w, 4096)
	var pending []func()
	flush := func() bool {
		_ = conn.SetWriteDeadline(time.Now().Add(timeout))
		if err := bw.Flush(); err != nil {
			return false
		}
		for _, f := range pending {
			f()
		}
		pending = pending[:0]
		return true
	}
	failed := false
	for it := range s.out {
		if failed {
			continue // drain so enqueuers never block
		}
		_ = conn.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := bw.Write(it.data); err != nil {
			failed = true
			continue
		}
		s.srv.metrics.stanzasOut.Inc()
		if it.afterWrite != nil {
			pending = append(pending, it.afterWrite)
		}
		if len(s.out) == 0 && !flush() {
			failed = true
		}
	}
	if !failed {
		flush()
	}
}
