package muc

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log destination safe for the engine's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAccessLog: a committed join and administrative changes each write
// one info line naming who did what to which room, and none holds the
// text of a post.
func TestAccessLog(t *testing.T) {
	f := newFixture(t)
	var logs lockedBuffer
	e, err := New(context.Background(), Config{Store: f.store, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Secret: []byte("test")})
	if err != nil {
		t.Fatal(err)
	}
	f.e = e
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	f.mustJoin("lobby", "alice@localhost", "alice")
	if err := f.post("lobby", "alice@localhost", "alice", "the body nobody may log"); err != nil {
		t.Fatal(err)
	}
	if err := e.SetAffiliation(context.Background(), "lobby", ActorAdmin, "bob@localhost", AffOutcast, "spam"); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{
		`level=INFO msg="admin action" component=muc action=room.create room=lobby actor=` + ActorAdmin,
		`level=INFO msg="room join" component=muc room=lobby user=alice@localhost front_door=test event_id=`,
		`level=INFO msg="admin action" component=muc action=ban room=lobby actor=` + ActorAdmin,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "the body nobody may log") {
		t.Errorf("the log holds a post's body:\n%s", out)
	}
}
