package xmpp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"
)

// outItem is one entry of a session's outbound queue: bytes to write and,
// optionally, a function to run once those bytes (and everything queued
// before them) have been written to the socket. Offline messages are
// deleted from storage only from such a callback.
type outItem struct {
	// head, if set, is written just before data: the session's own
	// `<message to="JID"` in front of a room post rendered once for
	// every recipient (post). data may be shared between sessions and is
	// never modified.
	head       []byte
	data       []byte
	post       bool
	afterWrite func()
	// nonza marks stream-level bytes (keepalives, XEP-0198 <r/>, <a/>,
	// <enabled/>) that stream management does not count.
	nonza bool
	// onQueue, if set, runs under the session's lock just before the
	// item is queued: what it changes takes effect exactly between the
	// stanzas before and after (sm.go: counting starts after <enabled/>).
	onQueue func()
}

// session is a bound resource: an authenticated stream with a full JID. Its
// outbound queue never blocks an enqueuer (STYLE.md, after nats-server).
// The queue is a slice that grows with what is pending, and the goroutine
// that drains it to the socket runs only while there is something to write,
// so an idle session holds neither queue memory nor a writer stack.
//
// A queue over its bound (Config.SendQueueLength stanzas) is not by itself
// a reason to cut the session off: a burst from a sender can fill the queue
// of a client that reads perfectly well. What is judged is the reader: a
// session is a slow consumer when, with its queue over the bound, its
// socket took less than Config.SlowConsumerRate bytes per second over
// Config.SlowConsumerTime, or when what it has pending passes
// Config.SendQueueBytes (the memory bound).
type session struct {
	jid  jid.JID
	bare string // bare JID string, the router's key
	srv  *Server

	mu    sync.Mutex // guards the queue and writer state, and the presence state below
	queue []outItem
	// spare is the small array of the last queue drained, kept for the
	// next stanzas so that a session receiving one stanza at a time
	// does not allocate a queue for each.
	spare []outItem
	// postHead is `<message to="JID"`, this session's part of every
	// room post it is sent (sendPost), made on the first.
	postHead []byte
	limit    int   // the queue's bound, in stanzas
	queued   int64 // bytes in the queue and in the batch being written
	// overSince is when the queue last went over its bound (zero while
	// it is not); overWritten is written at that moment. Together they
	// measure how fast the client drains while it is behind.
	overSince   time.Time
	overWritten int64
	closed      bool
	closing     []byte // written after the queue when closed
	// The socket the drain writes to, set by startWriter once the bind
	// result is on the wire; until then stanzas only queue.
	out       progressWriter
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
	presence        *Element        // last available presence broadcast, with from
	rosterRequested bool            // an "interested resource" (RFC 6121 §2.1.6)
	directed        map[string]bool // made on the first directed presence
	carbons         bool            // XEP-0280 enabled (carbons.go)
	// blocklistRequested: the session fetched the blocklist and gets
	// pushes (XEP-0191 §3.2, blocking.go).
	blocklistRequested bool

	// capsVer is the entity capabilities verification string of the
	// session's presence (XEP-0115) and caps what it is known to mean,
	// shared with every session naming the same string (caps.go).
	capsVer string
	caps    *capsEntry

	// muc is the session's sink for room events, once it used a room.
	muc *mucSink

	// csi is the client's state (XEP-0352, csi.go), guarded by mu.
	csi csiState
	// sm is stream management (XEP-0198, sm.go), guarded by mu.
	sm smState
}

// size is the bytes the item writes.
func (it *outItem) size() int { return len(it.head) + len(it.data) }

// bytes is the item as written (a copy when it has a head).
func (it *outItem) bytes() []byte {
	if it.head == nil {
		return it.data
	}
	return append(append(make([]byte, 0, it.size()), it.head...), it.data...)
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
	}
}

// send queues data for the client. It never blocks: when the client is a
// slow consumer (see session) it is cut off instead and send reports false.
func (s *session) send(data []byte) bool { return s.sendItem(outItem{data: data}) }

func (s *session) sendElement(e *Element) bool { return s.send(e.Bytes()) }

// sendPost queues a room post rendered once for every recipient: rest is
// the message after `<message to="…"` (muc_render.go), shared and never
// modified; the session writes its own address in front of it.
func (s *session) sendPost(rest []byte) bool { return s.sendItem(outItem{data: rest, post: true}) }

// sendNonza queues stream-level bytes that are not a stanza.
func (s *session) sendNonza(data []byte) bool { return s.sendItem(outItem{data: data, nonza: true}) }

func (s *session) sendItem(it outItem) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if s.sm.detached {
		// No socket to judge: stream management bounds what waits.
		s.enqueueLocked(it)
		s.mu.Unlock()
		return true
	}
	if it.post && it.head == nil {
		if s.postHead == nil {
			var b bytes.Buffer
			b.WriteString(`<message to="`)
			escapeAttr(&b, s.jid.String())
			b.WriteByte('"')
			s.postHead = b.Bytes()
		}
		it.head = s.postHead
	}
	if why := s.tooSlowLocked(it.size()); why != "" {
		kill := s.kill
		s.mu.Unlock()
		s.srv.metrics.slowConsumers.Inc()
		kill(&StreamError{Condition: "policy-violation", Text: "the client reads too slowly: " + why})
		return false
	}
	// A room post with a body is never a state update (csi.go holdKey).
	if it.afterWrite == nil && it.onQueue == nil && !it.nonza && !it.post {
		if held, flush := s.holdLocked(it.data); held {
			for _, f := range flush {
				s.enqueueLocked(f)
			}
			start := len(flush) > 0 && s.startDrainLocked()
			s.mu.Unlock()
			if start {
				go s.drain()
			}
			return true
		}
	}
	s.enqueueLocked(it)
	start := s.startDrainLocked()
	s.mu.Unlock()
	if start {
		go s.drain()
	}
	return true
}

// enqueueLocked puts it on the queue, counted by stream management
// (sm.go) when that is enabled. A detached session (waiting for its
// client to resume) keeps the stanza only among the unacknowledged ones,
// which are what a resumption writes.
func (s *session) enqueueLocked(it outItem) {
	if it.onQueue != nil {
		it.onQueue()
		it.onQueue = nil
	}
	s.smCountLocked(it)
	if s.sm.detached {
		return
	}
	if s.queue == nil && s.spare != nil {
		s.queue, s.spare = s.spare, nil
	}
	s.queue = append(s.queue, it)
	s.queued += int64(it.size())
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
		s.enqueueLocked(outItem{data: b})
	}
	start := s.startDrainLocked()
	s.mu.Unlock()
	if start {
		go s.drain()
	}
}

// tooSlowLocked judges the session as another n bytes are queued for it:
// it returns why the client is a slow consumer, or "" to queue them.
// What is pending may never pass SendQueueBytes. Past the queue's bound in
// stanzas, the first stanza starts a measuring window; once a window is
// SlowConsumerTime long, the client must have drained at least
// SlowConsumerRate bytes a second in it, and a new window starts. The
// window ends when the drain empties the queue.
func (s *session) tooSlowLocked(n int) string {
	cfg := &s.srv.cfg
	if s.queued+int64(n) > cfg.SendQueueBytes {
		return fmt.Sprintf("more than %d bytes waiting for it", cfg.SendQueueBytes)
	}
	if len(s.queue) < s.limit {
		return ""
	}
	now, written := time.Now(), s.out.written.Load()
	if s.overSince.IsZero() {
		s.overSince, s.overWritten = now, written
		return ""
	}
	elapsed := now.Sub(s.overSince)
	if elapsed < cfg.SlowConsumerTime {
		return ""
	}
	drained := written - s.overWritten
	if want := int64(elapsed.Seconds() * float64(cfg.SlowConsumerRate)); drained < max(want, 1) {
		return fmt.Sprintf("%d bytes read in %s with %d stanzas waiting", drained, elapsed.Round(time.Millisecond), len(s.queue))
	}
	s.overSince, s.overWritten = now, written
	return ""
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
	s.out.w, s.out.conn, s.out.timeout, s.ready = w, conn, timeout, true
	s.out.deadlineSet = time.Time{} // a new socket has no deadline yet
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
// maxSpareQueue is the largest queue array a session keeps between
// drains: a few items (~80 bytes each), so an idle session stays small.
const maxSpareQueue = 4

var writeBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

// drain writes the queue to the socket until it is empty, then ends; after
// the queue is closed it writes the closing bytes and closes writeDone. At
// most one drain runs per session (the writing flag).
func (s *session) drain() {
	for {
		s.mu.Lock()
		batch, closed, closing, failed, kill := s.queue, s.closed, s.closing, s.failed, s.kill
		s.queue = nil
		s.overSince = time.Time{} // the queue is empty again: under its bound
		if len(batch) == 0 && !closed {
			s.writing = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		var err error
		if !failed {
			err = s.writeBatch(batch, closing, closed)
		}
		s.mu.Lock()
		for _, it := range batch {
			s.queued -= int64(it.size())
		}
		if err != nil {
			s.failed = true
		}
		if cap(batch) <= maxSpareQueue && s.spare == nil {
			clear(batch)
			s.spare = batch[:0]
		}
		s.mu.Unlock()
		if err != nil && !closed {
			// The socket took nothing for a whole write timeout, or is
			// broken: the stream is dead; end it rather than let the
			// queue pile up behind it.
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.srv.metrics.slowConsumers.Inc()
			}
			kill(nil) // the connection this batch was for (sm.go: another may have resumed)
		}
		if closed {
			s.finishWriting()
			return
		}
	}
}

// writeBatch writes one batch and runs its after-write callbacks once the
// bytes are out. It fails if the socket did not take everything.
func (s *session) writeBatch(batch []outItem, closing []byte, closed bool) error {
	bw := writeBuffers.Get().(*bufio.Writer)
	bw.Reset(&s.out)
	defer func() {
		bw.Reset(nil)
		writeBuffers.Put(bw)
	}()
	for _, it := range batch {
		if _, err := bw.Write(it.head); err != nil {
			return err
		}
		if _, err := bw.Write(it.data); err != nil {
			return err
		}
		s.srv.metrics.stanzasOut.Inc()
	}
	if closed && closing != nil {
		if _, err := bw.Write(closing); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	for _, it := range batch {
		if it.afterWrite != nil {
			it.afterWrite()
		}
	}
	return nil
}

// progressWriter writes one buffered chunk at a time to the socket, each
// with its own deadline, and counts what the socket took: a client that
// reads slowly but steadily is not cut off by one deadline over a large
// batch, and the slow-consumer rule sees the progress as it happens.
type progressWriter struct {
	w       io.Writer
	conn    net.Conn
	timeout time.Duration
	// written counts the bytes the socket has taken, as each chunk is
	// written (not only at the end of a batch); read by tooSlowLocked.
	written atomic.Int64
	// deadlineSet is when the socket's write deadline was last moved (to
	// then plus timeout); used only by the writer goroutine.
	deadlineSet time.Time
}

// maxWriteChunk is the most progressWriter hands the socket at once (a
// TLS record's worth): a large stanza goes out in pieces, each of which
// must make it within the write timeout.
const maxWriteChunk = 16 << 10

func (p *progressWriter) Write(b []byte) (int, error) {
	total := 0
	for len(b) > 0 {
		chunk := b[:min(len(b), maxWriteChunk)]
		// Moving the deadline costs a timer update in the runtime (a
		// tenth of the CPU of a fan-out to thousands of sessions): a
		// deadline moved less than a tenth of the timeout ago is kept,
		// so each chunk still has at least nine tenths of it.
		if now := time.Now(); now.Sub(p.deadlineSet) > p.timeout/10 {
			_ = p.conn.SetWriteDeadline(now.Add(p.timeout))
			p.deadlineSet = now
		}
		n, err := p.w.Write(chunk)
		p.written.Add(int64(n))
		total += n
		if err != nil {
			return total, err
		}
		b = b[n:]
	}
	return total, nil
}
