package xmpp

import (
	"context"
	"fmt"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// fanoutRoom is a room of n XMPP sessions joined through the real room
// engine, their sinks the real ones; the sessions have no socket yet
// (their writer not started), so what they are sent stays queued, and
// reset empties the queues as a drain would, keeping their arrays.
type fanoutRoom struct {
	ts       *testServer
	sessions []*session
	sender   string
}

func newFanoutRoom(tb testing.TB, n int) *fanoutRoom {
	tb.Helper()
	ts := startServer(tb, func(c *Config) {
		c.SendQueueLength = 1 << 20
		c.SendQueueBytes = 1 << 40
	})
	ctx := context.Background()
	engine := ts.srv.cfg.Rooms
	if _, err := engine.CreateRoom(ctx, muc.CreateRoomRequest{
		Room: storage.Room{Name: "fanout"}, Creator: muc.ActorAdmin, Privacy: muc.Open}); err != nil {
		tb.Fatal(err)
	}
	f := &fanoutRoom{ts: ts}
	for i := range n {
		s := newSession(ts.srv, 1<<20)
		s.jid = jid.MustParse(fmt.Sprintf("user%d@localhost/res", i))
		s.bare = s.jid.Bare().String()
		sink := ts.srv.muc.sinkFor(s)
		if err := engine.Join(ctx, muc.JoinRequest{Room: "fanout", Nick: fmt.Sprint("user", i), User: s.bare,
			Session: muc.Session{Address: s.jid.String(), FrontDoor: frontDoorXMPP, Sink: sink}}); err != nil {
			tb.Fatal(err)
		}
		f.sessions = append(f.sessions, s)
	}
	f.sender = f.sessions[0].jid.String()
	f.reset()
	return f
}

func (f *fanoutRoom) reset() {
	for _, s := range f.sessions {
		s.mu.Lock()
		clear(s.queue)
		s.queue = s.queue[:0]
		s.queued = 0
		s.mu.Unlock()
	}
}

func (f *fanoutRoom) post(tb testing.TB) {
	_, err := f.ts.srv.cfg.Rooms.Post(context.Background(), muc.PostRequest{
		Room: "fanout", Address: f.sender, FrontDoor: frontDoorXMPP, Body: "hello, room",
		Stanza: []byte(`<message type="groupchat" id="m1"><body>hello, room</body></message>`)})
	if err != nil {
		tb.Fatal(err)
	}
}

// allocsPerPost is the heap allocations of one post to the room:
// committing it, and rendering and queueing it for every occupant.
func (f *fanoutRoom) allocsPerPost(tb testing.TB) float64 {
	// Warm up: every queue has its array, the render cache its entry.
	f.post(tb)
	f.reset()
	return testing.AllocsPerRun(50, func() {
		f.post(tb)
		f.reset()
	})
}

// A post to a room allocates the same whether it has 10 or 1,000
// occupants: it is serialised once, and each recipient gets the shared
// bytes behind its own cached address (no per-recipient rendering, buffer
// or queue allocation). The difference allowed is far below one
// allocation per recipient.
func TestFanoutAllocatesPerPostNotPerRecipient(t *testing.T) {
	small := newFanoutRoom(t, 10).allocsPerPost(t)
	large := newFanoutRoom(t, 1000).allocsPerPost(t)
	t.Logf("allocations per post: %.0f with 10 occupants, %.0f with 1,000", small, large)
	if large-small > 20 {
		t.Errorf("a post to 1,000 occupants allocates %.0f times, to 10 %.0f: %.2f per extra recipient, want O(1) per post",
			large, small, (large-small)/990)
	}
	// Each occupant got the post, whole.
	f := newFanoutRoom(t, 3)
	f.post(t)
	for _, s := range f.sessions {
		s.mu.Lock()
		if len(s.queue) != 1 {
			t.Fatalf("%s has %d stanzas queued, want the post", s.jid, len(s.queue))
		}
		got := string(s.queue[0].head) + string(s.queue[0].data)
		s.mu.Unlock()
		el := parseStored([]byte(got))
		if el == nil || el.AttrValue("to") != s.jid.String() || el.Child(nsClient, "body").Text() != "hello, room" {
			t.Errorf("%s got %q", s.jid, got)
		}
	}
}

// BenchmarkFanout is one post to a room of N occupants: commit, render,
// queue for each (the sockets' writes are not part of it).
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("occupants=%d", n), func(b *testing.B) {
			f := newFanoutRoom(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				f.post(b)
				f.reset()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/recipient")
		})
	}
}
