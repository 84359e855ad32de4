package pool

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/interop"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// TestCommandTable walks the command table: every command has a name, a
// handler, a place to run and a declared retry rule; every command and its
// result cross the bus unchanged; the commands whose effect would be
// repeated (history written, a message delivered) are never sent twice.
func TestCommandTable(t *testing.T) {
	for name, h := range commands {
		in := h.info()
		if in.name != name || name == "" || strings.ToLower(name) != name {
			t.Errorf("command %q is listed as %q: want its own lower-case name", in.name, name)
		}
		if !in.served {
			t.Errorf("command %q has no handler", name)
		}
		if in.where != atHost && in.where != atHostClaiming && in.where != atNode {
			t.Errorf("command %q does not say where it runs", name)
		}
		if in.retry != retrySafe && in.retry != runsOnce {
			t.Errorf("command %q does not say whether it may be sent again", name)
		}
	}
	for _, name := range []string{"post", "set-subject", "send-private", "invite", "remove-message", "deliver-im"} {
		if h, ok := commands[name]; !ok || h.info().retry != runsOnce {
			t.Errorf("command %q may be sent again: what it did could be done twice", name)
		}
	}

	when := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	session := muc.Session{Address: "alice@example.org/desk", FrontDoor: "xmpp"}
	join := muc.JoinRequest{Room: "lobby", Nick: "alice", User: "alice@example.org", Session: session, Password: "pw",
		Presence: []byte("<show>away</show>"), History: muc.HistoryRequest{MaxStanzas: 5, MaxChars: 100, Seconds: 60, Since: when}, Create: true}
	occupant := muc.Occupant{Room: "lobby", Nick: "alice", User: "alice@example.org", OccupantID: "oid", Role: muc.RoleModerator,
		Affiliation: muc.AffOwner, Presence: []byte("<show>away</show>"), Sessions: []muc.Session{session}}
	room := storage.Room{Name: "lobby", Category: "general", Description: "all hands", Subject: "hello", MembersOnly: true, PresenceBroadcast: "moderator",
		Created: when, Updated: when, Creator: "alice@example.org"}
	covered := map[string]bool{}
	cover := func(name string) { covered[name] = true }

	cover(roundTrip(t, cmdJoin, joinCmd{Join: join}, none{}))
	cover(roundTrip(t, cmdResync, resyncCmd{Join: join}, none{}))
	cover(roundTrip(t, cmdLeave, leaveCmd{Room: "lobby", Address: session.Address, Presence: []byte("<status>bye</status>"), Status: []int{muc.StatusShutdown}}, none{}))
	cover(roundTrip(t, cmdSetPresence, setPresenceCmd{Room: "lobby", Address: session.Address, Presence: []byte("<show>dnd</show>")}, none{}))
	cover(roundTrip(t, cmdPost, postCmd{Post: muc.PostRequest{Room: "lobby", Address: session.Address, AsUser: "alice@example.org", FrontDoor: "sip",
		Kind: storage.KindCorrection, Target: "s1", Body: "hi", OriginID: "o1", Stanza: []byte("<message/>"), Reason: "typo"}},
		&storage.HistoryMessage{Room: "lobby", StanzaID: "s2", Nick: "alice", Body: "hi", Time: when}))
	cover(roundTrip(t, cmdSetSubject, setSubjectCmd{Room: "lobby", Address: session.Address, Subject: "news", Stanza: []byte("<message/>")}, none{}))
	cover(roundTrip(t, cmdSendPrivate, sendPrivateCmd{Room: "lobby", Address: session.Address, ToNick: "bob", Payload: []byte("<message/>"), Body: "psst"},
		muc.PrivateSent{FromNick: "alice", To: "bob@example.org"}))
	cover(roundTrip(t, cmdInvite, inviteCmd{Room: "lobby", Address: session.Address, Invitee: "carol@example.org"}, none{}))
	cover(roundTrip(t, cmdOccupant, occupantCmd{Room: "lobby", Address: session.Address}, &occupant))
	cover(roundTrip(t, cmdOccupants, occupantsCmd{Room: "lobby", Shown: true}, []muc.Occupant{occupant, {Room: "lobby", Nick: "bob", Role: muc.RoleVisitor}}))
	cover(roundTrip(t, cmdWatch, watchCmd{Room: "lobby", User: "dave@example.org", Address: "watch:node1:7"}, []muc.Occupant{occupant}))
	cover(roundTrip(t, cmdUnwatch, unwatchCmd{Room: "lobby", Address: "watch:node1:7"}, none{}))
	cover(roundTrip(t, cmdSetRole, setRoleCmd{Room: "lobby", ActorAddress: session.Address, Nick: "bob", Role: muc.RoleVisitor, Reason: "quiet"}, none{}))
	cover(roundTrip(t, cmdSetAffiliation, setAffiliationCmd{Room: "lobby", Actor: "alice@example.org", JID: "bob@example.org", Affiliation: muc.AffOutcast, Reason: "spam"}, none{}))
	cover(roundTrip(t, cmdSetPresenter, setPresenterCmd{Room: "lobby", Actor: "alice@example.org", JID: "bob@example.org", Presenter: true}, none{}))
	cover(roundTrip(t, cmdConfigure, configureCmd{Room: "lobby", Actor: "alice@example.org", Config: room}, room))
	cover(roundTrip(t, cmdDestroy, destroyCmd{Room: "lobby", Actor: "alice@example.org", Reason: "done", Venue: "plaza@conference.example.org"}, none{}))
	cover(roundTrip(t, cmdRemoveMessage, removeMessageCmd{Room: "lobby", Actor: "alice@example.org", StanzaID: "s1", Replacement: "removed"}, none{}))
	cover(roundTrip(t, cmdSyncRoom, syncRoomCmd{Room: "lobby"}, []muc.Occupant{occupant}))
	cover(roundTrip(t, cmdDeliverIM, deliverIMCmd{Message: imMessage{From: "alice@example.org/desk", To: "bob@example.org", Type: "chat", ID: "m1",
		Thread: "t1", Subject: "s", Body: "hi", Error: &interop.Error{Condition: "item-not-found", Text: "gone"}}}, true))
	cover(roundTrip(t, cmdPresences, presencesCmd{Bares: []string{"alice@example.org", "bob@example.org"}, To: session.Address}, [][]byte{[]byte("<presence/>")}))
	cover(roundTrip(t, cmdDialbackPending, dialbackPendingCmd{ID: "k3lq0", Local: "example.org", Remote: "remote.example"}, true))
	cover(roundTrip(t, cmdDeliverIQ, deliverIQCmd{To: "bob@example.org/phone", Stanza: []byte(`<iq type="get" id="p1"><ping xmlns="urn:xmpp:ping"/></iq>`)}, true))

	for name := range commands {
		if !covered[name] {
			t.Errorf("command %q has no round-trip check here", name)
		}
	}
}

// roundTrip checks that c and its result r cross the bus as they were
// sent, through the encoding call and handle use, and returns the
// command's name.
func roundTrip[C command, R any](t *testing.T, s *spec[C, R], c C, r R) string {
	t.Helper()
	if commands[s.name] != handler(s) {
		t.Errorf("command %q is not the table's", s.name)
	}
	if zero := reflect.ValueOf(c); slices.ContainsFunc(reflect.VisibleFields(zero.Type()), func(f reflect.StructField) bool {
		return f.IsExported() && zero.FieldByIndex(f.Index).IsZero()
	}) {
		t.Errorf("%s: the sample command leaves a field empty: fill every field, so that each is checked", s.name)
	}
	data, err := s.encode(c)
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	got, err := s.decode(data)
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("%s: sent %+v, received %+v", s.name, c, got)
	}
	res, err := decodeReply[R](encodeReply(r, nil))
	if err != nil {
		t.Fatalf("%s reply: %v", s.name, err)
	}
	if !reflect.DeepEqual(res, r) {
		t.Errorf("%s: replied %+v, received %+v", s.name, r, res)
	}
	return s.name
}

// TestReplyErrors: a command's error crosses the bus as the sender must
// act on it: a muc refusal keeps its code and reason (the front door maps
// it to the wire), "not the host" keeps the holder and a fenced post is
// "not the host" (the sender looks for the host again), anything else
// keeps its text.
func TestReplyErrors(t *testing.T) {
	_, err := decodeReply[none](encodeReply(none{}, &muc.Error{Code: muc.CodeForbidden, Reason: "only owners configure a room"}))
	if muc.CodeOf(err) != muc.CodeForbidden || !strings.Contains(err.Error(), "only owners configure a room") {
		t.Errorf("refusal: got %v", err)
	}
	_, err = decodeReply[none](encodeReply(none{}, &errNotHost{holder: "node2"}))
	var nh *errNotHost
	if !errors.As(err, &nh) || nh.holder != "node2" || !retryable(err) {
		t.Errorf("not the host: got %v", err)
	}
	_, err = decodeReply[none](encodeReply(none{}, storage.ErrFenced))
	if !errors.As(err, &nh) || !retryable(err) {
		t.Errorf("fenced: got %v", err)
	}
	_, err = decodeReply[none](encodeReply(none{}, errors.New("disk full")))
	if err == nil || err.Error() != "disk full" || retryable(err) {
		t.Errorf("other error: got %v", err)
	}
	msg, err := decodeReply[*storage.HistoryMessage](encodeReply[*storage.HistoryMessage](nil, nil))
	if msg != nil || err != nil {
		t.Errorf("no message, no error: got %v, %v", msg, err)
	}
	if _, err := decodeReply[none]([]byte("{")); !errors.Is(err, errBadReply) {
		t.Errorf("garbled reply: got %v", err)
	}
}

// TestPoolUnknownAndGarbledCommands: a node answers a command it does not
// know (from a node of another version, or with no command header) and
// one it cannot decode with an error that names it, and goes on serving.
func TestPoolUnknownAndGarbledCommands(t *testing.T) {
	nodes := startNodes(t, testDSN(t), RoleActive, RoleActive)
	p, other := nodes[0].p, nodes[1].name
	ask := func(name string, data []byte) error {
		t.Helper()
		b, err := p.send(t.Context(), other, name, data)
		if err != nil {
			t.Fatalf("sending %q: %v", name, err)
		}
		_, err = decodeReply[none](b)
		return err
	}
	if err := ask("no-such-command", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), `unknown command "no-such-command"`) {
		t.Errorf("unknown command: got %v", err)
	}
	if err := ask("", []byte(`{"method":"Destroy","room":"lobby","actor":"x"}`)); err == nil || !strings.Contains(err.Error(), `unknown command ""`) {
		t.Errorf("no command header: got %v", err)
	}
	if err := ask(cmdPost.name, []byte(`{"post":`)); err == nil || !strings.Contains(err.Error(), "bad post command") {
		t.Errorf("garbled post: got %v", err)
	}
	if _, err := cmdPresences.call(t.Context(), p, other, presencesCmd{Bares: []string{"alice@example.org"}, To: "bob@example.org/desk"}); err != nil {
		t.Errorf("a good command after them: %v", err)
	}
}
