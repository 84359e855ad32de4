package storagetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

// eventSeq makes event ids unique within a test binary.
var eventSeq atomic.Int64

// event returns a new compliance event of type typ about room.
func event(typ, room string) storage.OutboxEvent {
	n := eventSeq.Add(1)
	return storage.OutboxEvent{
		EventID: fmt.Sprintf("ev-%d", n),
		Type:    typ,
		Room:    room,
		Actor:   "admin@example.org",
		Payload: fmt.Appendf(nil, `{"n":%d,"text":"✓ 🦊"}`, n),
	}
}

// at returns a fixed instant, minutes after a base time, for history rows.
func at(minutes int) time.Time {
	return time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC).Add(time.Duration(minutes) * time.Minute)
}

// putCategory stores a category that allows everyone and keeps history.
func (e *env) putCategory(name string) storage.Category {
	e.t.Helper()
	c := storage.Category{Name: name, AllowedMembers: []string{"*"}, ChatHistory: true, Invitations: true}
	if err := e.store.PutCategory(e.ctx, c, event("category.put", "")); err != nil {
		e.t.Fatalf("PutCategory(%s): %v", name, err)
	}
	return c
}

// createRoom creates an open room in category (which must exist).
func (e *env) createRoom(name, category string, affs ...storage.Affiliation) storage.Room {
	e.t.Helper()
	r := storage.Room{Name: name, Category: category, Title: name, Public: true,
		WhoIs: "moderators", ChangeSubject: "moderators", AllowPM: "anyone", Creator: "owner@example.org"}
	if err := e.store.CreateRoom(e.ctx, r, affs, event("room.create", name)); err != nil {
		e.t.Fatalf("CreateRoom(%s): %v", name, err)
	}
	return r
}

// lobby makes the category "general" and in it the rooms given.
func (e *env) lobby(rooms ...string) {
	e.t.Helper()
	e.putCategory("general")
	for _, r := range rooms {
		e.createRoom(r, "general")
	}
}

// msg returns a post to room by nick (whose bare JID is nick@example.org).
func msg(room, nick, body string) *storage.HistoryMessage {
	n := eventSeq.Add(1)
	return &storage.HistoryMessage{
		Room:       room,
		StanzaID:   fmt.Sprintf("sid-%d", n),
		OriginID:   fmt.Sprintf("oid-%d", n),
		OccupantID: "occ-" + nick,
		Nick:       nick,
		RealJID:    nick + "@example.org",
		FrontDoor:  "xmpp",
		Kind:       storage.KindPost,
		Body:       body,
		Stanza:     fmt.Appendf(nil, `<message type="groupchat"><body>%s</body></message>`, body),
	}
}

// append commits one batch of messages, each with its post event.
func (e *env) append(msgs ...*storage.HistoryMessage) []storage.PostWrite {
	e.t.Helper()
	posts := make([]storage.PostWrite, len(msgs))
	for i, m := range msgs {
		posts[i] = storage.PostWrite{History: m, Event: event("post", m.Room)}
	}
	out, err := e.store.AppendHistory(e.ctx, posts)
	if err != nil {
		e.t.Fatalf("AppendHistory(%d posts): %v", len(posts), err)
	}
	return out
}

// post appends one message and returns it as written.
func (e *env) post(room, nick, body string) storage.HistoryMessage {
	e.t.Helper()
	return *e.append(msg(room, nick, body))[0].History
}

// query runs q and fails the test on an error.
func (e *env) query(q storage.HistoryQuery) ([]storage.HistoryMessage, bool) {
	e.t.Helper()
	msgs, complete, err := e.store.QueryHistory(e.ctx, q)
	if err != nil {
		e.t.Fatalf("QueryHistory(%+v): %v", q, err)
	}
	return msgs, complete
}

// search returns the bodies that a full-text search of room finds.
func (e *env) search(room, text string) []string {
	e.t.Helper()
	msgs, _ := e.query(storage.HistoryQuery{Room: room, FullText: text, Limit: 1000})
	return bodies(msgs)
}

// outbox returns every event in the outbox.
func (e *env) outbox() []storage.OutboxEvent {
	e.t.Helper()
	evs, err := e.store.ReadOutbox(e.ctx, 0, 100000)
	if err != nil {
		e.t.Fatalf("ReadOutbox: %v", err)
	}
	return evs
}

// outboxTypes returns the types of the events in the outbox, in order.
func (e *env) outboxTypes() []string {
	e.t.Helper()
	var types []string
	for _, ev := range e.outbox() {
		types = append(types, ev.Type)
	}
	return types
}

func bodies(msgs []storage.HistoryMessage) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.Body)
	}
	return out
}

func seqs(msgs []storage.HistoryMessage) []int64 {
	out := []int64{}
	for _, m := range msgs {
		out = append(out, m.Seq)
	}
	return out
}

// seqRange returns from, from+1, …, to.
func seqRange(from, to int64) []int64 {
	out := []int64{}
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func wantSeqs(t *testing.T, what string, msgs []storage.HistoryMessage, complete bool, want []int64, wantComplete bool) {
	t.Helper()
	if got := seqs(msgs); !slices.Equal(got, want) || complete != wantComplete {
		t.Errorf("%s: seqs %v complete %v, want %v complete %v", what, got, complete, want, wantComplete)
	}
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func sameCategory(a, b storage.Category) bool {
	return a.Name == b.Name && a.Description == b.Description &&
		sameList(a.AllowedMembers, b.AllowedMembers) && sameList(a.DeniedMembers, b.DeniedMembers) &&
		sameList(a.Creators, b.Creators) && a.FileUpload == b.FileUpload &&
		a.Invitations == b.Invitations && a.ChatHistory == b.ChatHistory && a.LocalOnly == b.LocalOnly
}

// sameList compares lists; empty ones come back nil.
func sameList(a, b []string) bool {
	return slices.Equal(a, b) && (a == nil) == (len(b) == 0)
}

// sameRoom compares everything but the times, which callers check.
func sameRoom(a, b storage.Room) bool {
	a.SubjectTime, a.Created, a.Updated = time.Time{}, time.Time{}, time.Time{}
	b.SubjectTime, b.Created, b.Updated = time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func wantRoom(t *testing.T, what string, got, want storage.Room) {
	t.Helper()
	if !sameRoom(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{{"SubjectTime", got.SubjectTime, want.SubjectTime}, {"Created", got.Created, want.Created}, {"Updated", got.Updated, want.Updated}} {
		w := c.want.Truncate(time.Microsecond)
		if !c.got.Equal(w) || (!c.got.IsZero() && c.got.Location() != time.UTC) || c.got.IsZero() != w.IsZero() {
			t.Errorf("%s: %s = %v, want %v in UTC", what, c.name, c.got, w)
		}
	}
}

// sameMessage compares two history messages; their times must be equal to
// the microsecond.
func sameMessage(a, b storage.HistoryMessage) bool {
	return a.Room == b.Room && a.Seq == b.Seq && a.StanzaID == b.StanzaID && a.OriginID == b.OriginID &&
		a.OccupantID == b.OccupantID && a.Nick == b.Nick && a.RealJID == b.RealJID &&
		a.FrontDoor == b.FrontDoor && a.Kind == b.Kind && a.Target == b.Target && a.Body == b.Body &&
		bytes.Equal(a.Stanza, b.Stanza) && a.Time.Equal(b.Time.Truncate(time.Microsecond)) &&
		a.Tombstone == b.Tombstone
}

func wantMessage(t *testing.T, what string, got, want storage.HistoryMessage) {
	t.Helper()
	if !sameMessage(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, formatMessage(got), formatMessage(want))
	}
	if got.Time.Location() != time.UTC {
		t.Errorf("%s: Time %v not in UTC", what, got.Time)
	}
}

func formatMessage(m storage.HistoryMessage) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{%s #%d id=%s origin=%s occ=%s nick=%q jid=%s door=%s kind=%s target=%s body=%q stanza=%q time=%v tomb=%v}",
		m.Room, m.Seq, m.StanzaID, m.OriginID, m.OccupantID, m.Nick, m.RealJID, m.FrontDoor, m.Kind, m.Target,
		m.Body, m.Stanza, m.Time, m.Tombstone)
	return b.String()
}

func sameEvent(a, b storage.OutboxEvent) bool {
	return a.EventID == b.EventID && a.Type == b.Type && a.Room == b.Room && a.Actor == b.Actor &&
		bytes.Equal(a.Payload, b.Payload)
}
