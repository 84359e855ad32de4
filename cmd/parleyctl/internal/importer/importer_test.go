package importer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleychat/parley/cmd/parleyctl/internal/importer/luadata"
	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/sqlite"
)

// testdata/prosody is the data directory of a Debian Prosody 0.12 after
// interop/testdata/import_source.py's populate phase: two accounts
// (internal_hashed), their rosters, three rooms with 12 archived
// messages each.

func openParley(t *testing.T) (storage.Store, *muc.Engine) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e, err := muc.New(ctx, muc.Config{Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return store, e
}

func options(store storage.Store, e *muc.Engine) Options {
	return Options{Store: store, Engine: e, Domain: "new.test", MUCDomain: "conference.new.test", Batch: 5, Log: io.Discard}
}

// archive reads the fixture's archive of a room: ids and bodies in
// order.
func archive(t *testing.T, room string) (ids []string) {
	t.Helper()
	p, err := OpenProsody("testdata/prosody")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.History(context.Background(), "rooms.old.test", room, func(m Message) error {
		ids = append(ids, m.ID)
		return nil
	})
	if err != nil || len(ids) != 12 {
		t.Fatalf("the fixture's %s archive: %d messages, %v", room, len(ids), err)
	}
	return ids
}

// An import stopped after a batch goes on where it stopped when run
// again, and a third run changes nothing; each run records one import
// event for each room it imported messages of.
func TestResume(t *testing.T) {
	ctx := context.Background()
	store, e := openParley(t)
	stop := errors.New("stopped by the test")
	run := func(o Options) (Summary, error) {
		src, err := OpenProsody("testdata/prosody")
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		return Run(ctx, src, o)
	}
	o := options(store, e)
	o.AfterBatch = func(room string, n int) error {
		if room == "design" {
			return stop
		}
		return nil
	}
	sum, err := run(o)
	if !errors.Is(err, stop) || sum.Messages != 12+5 || sum.Accounts != 2 || sum.RosterItems != 2 || sum.Rooms != 2 {
		t.Fatalf("first run (stopped): %+v, %v", sum, err)
	}
	sum, err = run(options(store, e))
	if err != nil || sum.Messages != 7+12 || sum.MessagesSkipped != 12+5 || sum.Rooms != 1 || sum.RoomsSkipped != 2 || sum.AccountsSkipped != 2 {
		t.Fatalf("second run: %+v, %v", sum, err)
	}
	sum, err = run(options(store, e))
	if err != nil || sum.Messages != 0 || sum.MessagesSkipped != 36 || sum.Rooms != 0 || sum.RosterItems != 0 {
		t.Fatalf("third run: %+v, %v", sum, err)
	}

	for _, room := range []string{"board", "design", "town"} {
		want := archive(t, room)
		got, _, err := store.QueryHistory(ctx, storage.HistoryQuery{Room: room, Limit: 100})
		if err != nil || len(got) != len(want) {
			t.Fatalf("%s holds %d messages (%v), want %d", room, len(got), err, len(want))
		}
		for i := range got {
			if got[i].StanzaID != want[i] || got[i].Seq != int64(i+1) {
				t.Errorf("%s message %d is %s (seq %d), want %s", room, i, got[i].StanzaID, got[i].Seq, want[i])
			}
		}
	}
	evs, err := store.ReadOutbox(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	perRoom := map[string]int{}
	for _, ev := range evs {
		if ev.Type == "import" {
			perRoom[ev.Room]++
		}
	}
	if perRoom["board"] != 1 || perRoom["design"] != 2 || perRoom["town"] != 1 {
		t.Errorf("import events per room: %v, want board 1, design 2 (one a run), town 1", perRoom)
	}
}

// What the fixture holds arrives as Parley keeps it: accounts with the
// SCRAM-SHA-1 keys Prosody stored, roster items, rooms with their
// settings and affiliations mapped, messages with their original time,
// nick, real JID (found from Prosody's occupant-id) and stanza.
func TestProsodyMapping(t *testing.T) {
	ctx := context.Background()
	store, e := openParley(t)
	src, err := OpenProsody("testdata/prosody")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := Run(ctx, src, options(store, e)); err != nil {
		t.Fatal(err)
	}
	cred, err := store.ScramCredential(ctx, "alice", "SCRAM-SHA-1")
	if err != nil || cred.Iterations != 10000 || len(cred.StoredKey) != 20 {
		t.Errorf("alice's SCRAM-SHA-1 credential: %+v, %v", cred, err)
	}
	item, err := store.RosterItem(ctx, "alice", "bob@new.test")
	if err != nil || item.Subscription != "both" || item.Name != "Bob" || len(item.Groups) != 1 || item.Groups[0] != "Friends" {
		t.Errorf("alice's roster item for bob: %+v, %v", item, err)
	}
	board, err := store.Room(ctx, "board")
	if err != nil || board.Public || !board.MembersOnly || board.Title != "Board" {
		t.Errorf("board: %+v, %v", board, err)
	}
	design, _ := store.Room(ctx, "design")
	if design.Subject != "Drawings only" || design.SubjectNick != "Alice" || design.SubjectTime.IsZero() || !design.Public || design.MembersOnly {
		t.Errorf("design: %+v", design)
	}
	affs, _ := store.Affiliations(ctx, "town")
	var got []string
	for _, a := range affs {
		got = append(got, a.JID+"="+a.Affiliation+map[bool]string{true: "+presenter"}[a.Presenter])
	}
	if strings.Join(got, " ") != "alice@new.test=owner bob@new.test=member+presenter carol@new.test=admin" {
		t.Errorf("town's affiliations: %v", got)
	}
	msgs, _, err := store.QueryHistory(ctx, storage.HistoryQuery{Room: "design", Limit: 2})
	if err != nil || len(msgs) != 2 {
		t.Fatal(msgs, err)
	}
	m := msgs[1]
	if m.Nick != "Bob" || m.RealJID != "bob@new.test" || m.Body != "design message 1 from Bob" || m.Time.Unix() != 1796238520 ||
		m.StanzaID != "Cp3eU84TgK8wkrM-O0GPfpXW" || m.OccupantID == "" {
		t.Errorf("design's second message: %+v", m)
	}
	if s := string(m.Stanza); strings.Contains(s, "from=") || strings.Contains(s, "occupant-id") || !strings.Contains(s, "<body>design message 1 from Bob</body>") {
		t.Errorf("stored stanza %s", s)
	}
}

// FromLua and stored keep namespaces, xml:lang and escaping right: the
// stanza is written by the XMPP front door's writer, as it stores its own
// (a quote needs no escaping in text).
func TestStanzaFromLua(t *testing.T) {
	v, err := luadata.ReadReturn([]byte(`return { name = "message", attr = { type = "groupchat", ["xml:lang"] = "en", from = "r@m/n" },
		{ name = "body", attr = {}, "a < b & \"c\"" },
		{ name = "x", attr = { xmlns = "jabber:x:oob" }, { name = "url", attr = {}, "http://x/?a=1&b=2" } },
		{ name = "delay", attr = { xmlns = "urn:xmpp:delay", stamp = "2020" } } }`))
	if err != nil {
		t.Fatal(err)
	}
	el, err := FromLua(v.(*luadata.Table))
	if err != nil {
		t.Fatal(err)
	}
	want := `<message type="groupchat" xml:lang="en"><body>a &lt; b &amp; "c"</body><x xmlns="jabber:x:oob"><url>http://x/?a=1&amp;b=2</url></x></message>`
	if got := string(stored(el)); got != want {
		t.Errorf("stored as\n%s\nwant\n%s", got, want)
	}
	again, err := ParseXML(string(stored(el)))
	if err != nil || string(stored(again)) != want {
		t.Errorf("parsed back as %s, %v", stored(again), err)
	}
	// An archive that kept an attribute twice (encoding/xml reads it) is
	// stored well-formed, with the first, as the front door keeps it.
	twice, err := ParseXML(`<message type="groupchat" type="chat" id="1"><body>x</body></message>`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(stored(twice)), `<message type="groupchat" id="1"><body>x</body></message>`; got != want {
		t.Errorf("a repeated attribute stored as\n%s\nwant\n%s", got, want)
	}
}
