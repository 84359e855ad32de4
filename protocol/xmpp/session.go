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
// outbound queue never blocks an enqueuer: a session whose queue is full is
// a slow consumer and is disconnected (STYLE.md, after nats-server). The
// queue is a slice that grows with what is pending, and the goroutine that
// drains it to the socket runs only while there is something to write, so
// an idle session holds neither queue memory nor a writer stack.
type session struct {
	jid  jid.JID
	bare string // bare JID string, the router's key
	srv  *Server

	mu      sync.Mutex // guards the queue and writer state, and the presence state below
	queue   []outItem
	limit   int
	closed  bool
	closing []byte // written after the queue when closed
	// The socket the drain writes to, set by startWriter once the bind
	// result is on the wire; until then stanzas only queue.
	w         io.Writer
	conn      net.Conn
	timeout   time.Duration
	ready     bool
	writing   bool // a drain goroutine is running
	failed    bool // a write failed: the rest is discarded
	writeDone chan struct{}
	doneOnce  sync.Once
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

// A session is the origin (mux.go) of the stanzas its client sends.
func (s *session) fullJID() jid.JID     { return s.jid }
func (s *session) bareJID() string      { return s.bare }
func (s *session) session() *session    { return s }
func (s *session) remoteDomain() string { return "" }

func newSession(srv *Server, queue int) *session {
	return &session{
		srv:       srv,
		limit:     queue,
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
	start := s.startDrainLocked()
	s.mu.Unlock()
	if start {
		go s.drain()
	}
	return true
}

// sendBatch queues several stanzas at once, past the queue limit if need
// be: for bounded bursts the server itself produces (a room's join
// snapshot), which a client cannot be blamed for. It never blocks.
func (s *session) sendBatch(batch [][]byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	for _, b := range batch {
		s.queue = append(s.queue, outItem{data: b})
	}
	start := s.startDrainLocked()
	s.mu.Unlock()
	if start {
		go s.drain()
	}
}

// startDrainLocked reports whether the caller must start a drain: the
// writer is ready and none is running.
func (s *session) startDrainLocked() bool {
	if !s.ready || s.writing {
		return false
	}
	s.writing = true
	return true
}

// startWriter lets queued and future stanzas flow to the socket.
func (s *session) startWriter(w io.Writer, conn net.Conn, timeout time.Duration) {
	s.mu.Lock()
	s.w, s.conn, s.timeout, s.ready = w, conn, timeout, true
	start := (len(s.queue) > 0 || s.closed) && s.startDrainLocked()
	s.mu.Unlock()
	if start {
		go s.drain()
	}
}

// closeQueue ends the outbound queue; what is queued is written, then
// closing (if any), and writeDone is closed.
func (s *session) closeQueue(closing []byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.closing = closing
	start := s.startDrainLocked()
	if !s.ready {
		// The writer never started: nothing can be written.
		s.finishWriting()
	}
	s.mu.Unlock()
	if start {
		go s.drain()
	}
}

// finishWriting marks the end of all writing (closes writeDone, once).
func (s *session) finishWriting() { s.doneOnce.Do(func() { close(s.writeDone) }) }

// writeBuffers are the writers' buffers, borrowed only while writing so
// that idle sessions hold none.
var writeBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

// drain writes the queue to the socket until it is empty, then ends; after
// the queue is closed it writes the closing bytes and closes writeDone. At
// most one drain runs per session (the writing flag).
func (s *session) drain() {
	for {
		s.mu.Lock()
		batch, closed, closing, failed := s.queue, s.closed, s.closing, s.failed
		s.queue = nil
		if len(batch) == 0 && !closed {
			s.writing = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if !failed && !s.writeBatch(s.w, s.conn, s.timeout, batch, closing, closed) {
			s.mu.Lock()
			s.failed = true
			s.mu.Unlock()
		}
		if closed {
			s.finishWriting()
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
