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
// and is disconnected (STYLE.md, after nats-server). The queue is a slice
// that grows with what is pending and is dropped when drained, so an idle
// session holds no queue memory.
type session struct {
	jid  jid.JID
	bare string // bare JID string, the router's key
	srv  *Server

	mu        sync.Mutex // guards the queue, closed and the presence state below
	queue     []outItem
	limit     int
	closed    bool
	closing   []byte        // written after the queue when closed
	wake      chan struct{} // capacity 1: the writer has work
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

	// muc is the session's sink for room events, once it used a room.
	muc *mucSink
}

func newSession(srv *Server, queue int) *session {
	return &session{
		srv:       srv,
		limit:     queue,
		wake:      make(chan struct{}, 1),
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
	if len(s.queue) >= s.limit {
		s.mu.Unlock()
		s.srv.metrics.slowConsumers.Inc()
		s.kill(&StreamError{Condition: "policy-violation", Text: "outbound queue full: the client reads too slowly"})
		return false
	}
	s.queue = append(s.queue, it)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // the writer is already due to wake
	}
	return true
}

// closeQueue ends the outbound queue; the writer then writes what is queued
// and closing (if any), flushes and returns.
func (s *session) closeQueue(closing []byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.closing = closing
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// writeBuffers are the writers' buffers, borrowed only while writing so
// that idle sessions hold none.
var writeBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

// writeLoop is the session's one writer: it takes everything queued at each
// wake-up, writes it through one buffer and flushes once.
func (s *session) writeLoop(w io.Writer, conn net.Conn, timeout time.Duration) {
	defer close(s.writeDone)
	failed := false
	for range s.wake {
		s.mu.Lock()
		batch, closed, closing := s.queue, s.closed, s.closing
		s.queue = nil
		s.mu.Unlock()
		if !failed && (len(batch) > 0 || closed) {
			failed = !s.writeBatch(w, conn, timeout, batch, closing, closed)
		}
		if closed {
			return
		}
	}
}

// writeBatch writes one batch and runs its after-write callbacks once the
// bytes are out. It reports whether the socket took everything.
func (s *session) writeBatch(w io.Writer, conn net.Conn, timeout time.Duration, batch []outItem, closing []byte, closed bool) bool {
	bw := writeBuffers.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		writeBuffers.Put(bw)
	}()
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	for _, it := range batch {
		if _, err := bw.Write(it.data); err != nil {
			return false
		}
		s.srv.metrics.stanzasOut.Inc()
	}
	if closed && closing != nil {
		if _, err := bw.Write(closing); err != nil {
			return false
		}
	}
	if err := bw.Flush(); err != nil {
		return false
	}
	for _, it := range batch {
		if it.afterWrite != nil {
			it.afterWrite()
		}
	}
	return true
}
