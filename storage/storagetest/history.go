package storagetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

var historyTests = []test{
	{"AppendAssignsSeqs", func(t *testing.T, e *env) {
		e.lobby("lobby")
		before := time.Now()
		in := []*storage.HistoryMessage{msg("lobby", "alice", "one"), msg("lobby", "bob", "two 🎉"), msg("lobby", "alice", "three")}
		in[1].Stanza = nil
		in[2].Time = time.Date(2025, 5, 6, 7, 8, 9, 123456789, time.FixedZone("Z", 7200))
		in[2].Kind, in[2].Target = storage.KindCorrection, in[0].StanzaID
		var out []storage.PostWrite
		for _, m := range in {
			out = append(out, e.append(m)...)
		}
		after := time.Now()
		for i, p := range out {
			h := p.History
			if h == nil || h.Seq != int64(i+1) {
				t.Fatalf("post %d written as %+v, want seq %d", i, h, i+1)
			}
			if in[i].Seq != 0 {
				t.Errorf("AppendHistory changed its argument: seq %d", in[i].Seq)
			}
			if p.Event.ID == 0 || (i > 0 && p.Event.ID <= out[i-1].Event.ID) {
				t.Errorf("event IDs %d after %d, want increasing", p.Event.ID, out[max(i-1, 0)].Event.ID)
			}
			got, err := e.store.HistoryByStanzaID(e.ctx, "lobby", in[i].StanzaID)
			if err != nil {
				t.Fatalf("HistoryByStanzaID: %v", err)
			}
			wantMessage(t, fmt.Sprintf("message %d", i), got, *h)
		}
		wantTime(t, "Time of a message given none", out[0].History.Time, before, after)
		wantTime(t, "Time of its event", out[0].Event.Time, before, after)
		if want := in[2].Time.Truncate(time.Microsecond); !out[2].History.Time.Equal(want) {
			t.Errorf("given Time written as %v, want %v", out[2].History.Time, want)
		}
		if got, _ := e.store.HistoryByStanzaID(e.ctx, "lobby", in[1].StanzaID); len(got.Stanza) != 0 {
			t.Errorf("nil stanza came back as %q", got.Stanza)
		}
		_, err := e.store.HistoryByStanzaID(e.ctx, "lobby", "sid-nothing")
		wantErrorIs(t, "HistoryByStanzaID(unknown)", err, storage.ErrNotFound)
	}},

	{"ImportKeepsTimesAndIDs", func(t *testing.T, e *env) {
		e.lobby("lobby", "other")
		e.post("lobby", "carol", "said here first")
		before, _ := e.store.ReadOutbox(e.ctx, 0, 1000)
		in := []storage.HistoryMessage{*msg("lobby", "alice", "imported zebrafish"), *msg("lobby", "bob", "second")}
		in[0].StanzaID, in[0].Time = "wJwJOR36FM3yCDIW9UTSRtR-", at(1)
		in[1].Time = at(2).Add(123456789 * time.Nanosecond)
		ev := event("import", "lobby")
		out, err := e.store.ImportHistory(e.ctx, in, &ev)
		if err != nil {
			t.Fatalf("ImportHistory: %v", err)
		}
		for i, h := range out {
			if h.Seq != int64(i+2) {
				t.Errorf("imported message %d has seq %d, want %d (after the room's own)", i, h.Seq, i+2)
			}
			got, err := e.store.HistoryByStanzaID(e.ctx, "lobby", in[i].StanzaID)
			if err != nil {
				t.Fatalf("HistoryByStanzaID(%s): %v", in[i].StanzaID, err)
			}
			wantMessage(t, fmt.Sprintf("imported message %d", i), got, h)
			if want := in[i].Time.UTC().Truncate(time.Microsecond); !got.Time.Equal(want) {
				t.Errorf("imported message %d has time %v, want %v", i, got.Time, want)
			}
		}
		found, _, err := e.store.QueryHistory(e.ctx, storage.HistoryQuery{Room: "lobby", FullText: "zebrafish", Limit: 10})
		if err != nil || len(found) != 1 || found[0].StanzaID != in[0].StanzaID {
			t.Errorf("full-text search right after the import found %v (%v), want the imported message", found, err)
		}
		after, _ := e.store.ReadOutbox(e.ctx, 0, 1000)
		if len(after) != len(before)+1 || after[len(after)-1].Type != "import" {
			t.Errorf("the outbox went from %d to %d events, want one more (the import)", len(before), len(after))
		}
		// Again: the ids are taken, nothing is written; an unknown room
		// and a message without its time are refused.
		fresh := *msg("lobby", "dave", "new")
		fresh.Time = at(3)
		_, err = e.store.ImportHistory(e.ctx, []storage.HistoryMessage{fresh, in[1]}, nil)
		wantErrorIs(t, "ImportHistory(an id already there)", err, storage.ErrExists)
		if n, _ := e.store.CountHistory(e.ctx, storage.HistoryQuery{Room: "lobby"}); n != 3 {
			t.Errorf("the lobby holds %d messages after a refused import, want 3", n)
		}
		gone := *msg("nowhere", "dave", "x")
		gone.Time = at(3)
		_, err = e.store.ImportHistory(e.ctx, []storage.HistoryMessage{gone}, nil)
		wantErrorIs(t, "ImportHistory(unknown room)", err, storage.ErrNotFound)
		if _, err := e.store.ImportHistory(e.ctx, []storage.HistoryMessage{*msg("other", "dave", "no time")}, nil); err == nil {
			t.Error("ImportHistory took a message without its time")
		}
	}},

	{"GroupCommitAcrossRooms", func(t *testing.T, e *env) {
		e.lobby("a", "b", "quiet")
		e.post("b", "bob", "before")
		noHistory := storage.PostWrite{Event: event("post", "quiet")}
		posts := []storage.PostWrite{
			{History: msg("a", "alice", "a1"), Event: event("post", "a")},
			{History: msg("b", "bob", "b2"), Event: event("post", "b")},
			noHistory,
			{History: msg("a", "alice", "a2"), Event: event("post", "a")},
			{History: msg("b", "carol", "b3"), Event: event("post", "b")},
			{History: msg("a", "alice", "a3"), Event: event("post", "a")},
		}
		out, err := e.store.AppendHistory(e.ctx, posts)
		if err != nil {
			t.Fatalf("AppendHistory: %v", err)
		}
		want := map[string]int64{"a1": 1, "b2": 2, "a2": 2, "b3": 3, "a3": 3}
		for i, p := range out {
			if p.History == nil {
				if i != 2 {
					t.Errorf("post %d has no history", i)
				}
				continue
			}
			if p.History.Seq != want[p.History.Body] {
				t.Errorf("%s got seq %d, want %d", p.History.Body, p.History.Seq, want[p.History.Body])
			}
			if i > 0 && p.Event.ID <= out[i-1].Event.ID {
				t.Errorf("event of post %d has ID %d after %d", i, p.Event.ID, out[i-1].Event.ID)
			}
		}
		if out[2].History != nil || out[2].Event.ID == 0 {
			t.Errorf("post without history written as %+v", out[2])
		}
		msgs, _ := e.query(storage.HistoryQuery{Room: "a", Limit: 10})
		wantStrings(t, "room a", bodies(msgs), []string{"a1", "a2", "a3"})
		msgs, _ = e.query(storage.HistoryQuery{Room: "quiet", Limit: 10})
		wantStrings(t, "room quiet", bodies(msgs), []string{})
		evs := e.outbox()
		evs = evs[len(evs)-len(posts):]
		for i := range posts {
			if !sameEvent(evs[i], posts[i].Event) || evs[i].ID != out[i].Event.ID {
				t.Errorf("outbox event %d = %+v, want %+v with ID %d", i, evs[i], posts[i].Event, out[i].Event.ID)
			}
		}
		if m := e.post("a", "alice", "a4"); m.Seq != 4 {
			t.Errorf("next post to a has seq %d, want 4", m.Seq)
		}
	}},

	{"UnknownRoomWritesNothing", func(t *testing.T, e *env) {
		e.lobby("a")
		_, err := e.store.AppendHistory(e.ctx, []storage.PostWrite{
			{History: msg("a", "alice", "a1"), Event: event("post", "a")},
			{Event: event("post", "quiet")},
			{History: msg("nothing", "alice", "lost"), Event: event("post", "nothing")},
		})
		wantErrorIs(t, "AppendHistory to an unknown room", err, storage.ErrNotFound)
		if msgs, _ := e.query(storage.HistoryQuery{Room: "a", Limit: 10}); len(msgs) != 0 {
			t.Errorf("room a has %v after the failed batch", bodies(msgs))
		}
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put", "room.create"})
		if m := e.post("a", "alice", "a1"); m.Seq != 1 {
			t.Errorf("first post after the failed batch has seq %d, want 1", m.Seq)
		}
	}},

	{"DuplicateIDsGiveErrExists", func(t *testing.T, e *env) {
		e.lobby("a", "b")
		first := e.post("a", "alice", "first")
		dup := msg("a", "bob", "dup")
		dup.StanzaID = first.StanzaID
		_, err := e.store.AppendHistory(e.ctx, []storage.PostWrite{
			{History: msg("b", "bob", "b1"), Event: event("post", "b")},
			{History: dup, Event: event("post", "a")},
		})
		wantErrorIs(t, "AppendHistory with a stanza-id used before", err, storage.ErrExists)

		ev := event("post", "a")
		_, err = e.store.AppendHistory(e.ctx, []storage.PostWrite{
			{History: msg("a", "bob", "x"), Event: ev},
			{History: msg("b", "bob", "y"), Event: ev},
		})
		wantErrorIs(t, "AppendHistory with an event id twice", err, storage.ErrExists)
		if msgs, _ := e.query(storage.HistoryQuery{Room: "b", Limit: 10}); len(msgs) != 0 {
			t.Errorf("room b has %v after failed batches", bodies(msgs))
		}
		// The same stanza-id in another room is fine.
		other := msg("b", "bob", "same id, other room")
		other.StanzaID = first.StanzaID
		e.append(other)
		if n := len(e.outbox()); n != 5 {
			t.Errorf("outbox has %d events, want 5", n)
		}
	}},

	{"RejectsInvalidInput", func(t *testing.T, e *env) {
		e.lobby("a")
		for _, c := range []struct {
			name   string
			change func(m *storage.HistoryMessage, ev *storage.OutboxEvent)
		}{
			{"no stanza-id", func(m *storage.HistoryMessage, _ *storage.OutboxEvent) { m.StanzaID = "" }},
			{"long stanza-id", func(m *storage.HistoryMessage, _ *storage.OutboxEvent) {
				m.StanzaID = longString('i', storage.MaxIDLength+1)
			}},
			{"unknown kind", func(m *storage.HistoryMessage, _ *storage.OutboxEvent) { m.Kind = "shout" }},
			{"long nick", func(m *storage.HistoryMessage, _ *storage.OutboxEvent) {
				m.Nick = longString('n', storage.MaxNickLength+1)
			}},
			{"bad UTF-8 body", func(m *storage.HistoryMessage, _ *storage.OutboxEvent) { m.Body = "bad\xff" }},
			{"no room", func(m *storage.HistoryMessage, _ *storage.OutboxEvent) { m.Room = "" }},
			{"no event id", func(_ *storage.HistoryMessage, ev *storage.OutboxEvent) { ev.EventID = "" }},
			{"no event type", func(_ *storage.HistoryMessage, ev *storage.OutboxEvent) { ev.Type = "" }},
		} {
			m, ev := msg("a", "alice", "x"), event("post", "a")
			c.change(m, &ev)
			_, err := e.store.AppendHistory(e.ctx, []storage.PostWrite{{History: msg("a", "bob", "ok"), Event: event("post", "a")}, {History: m, Event: ev}})
			wantInvalid(t, "AppendHistory with "+c.name, err)
		}
		for _, q := range []storage.HistoryQuery{{Room: "a"}, {Room: "a", Limit: -1}, {Room: "a", Limit: 5, AfterSeq: -1}} {
			_, _, err := e.store.QueryHistory(e.ctx, q)
			wantInvalid(t, fmt.Sprintf("QueryHistory(%+v)", q), err)
		}
		if out, err := e.store.AppendHistory(e.ctx, nil); err != nil || len(out) != 0 {
			t.Errorf("AppendHistory(nil) = %v, %v", out, err)
		}
		if msgs, _ := e.query(storage.HistoryQuery{Room: "a", Limit: 10}); len(msgs) != 0 {
			t.Errorf("history after invalid appends: %v", bodies(msgs))
		}
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put", "room.create"})
	}},

	{"ConcurrentAppendsKeepSeqsDense", func(t *testing.T, e *env) {
		rooms := []string{"r1", "r2", "r3"}
		e.lobby(rooms...)
		const writers, batches = 6, 8
		var wg sync.WaitGroup
		errs := make(chan error, writers*batches)
		for w := range writers {
			wg.Go(func() {
				for b := range batches {
					// Each batch touches the rooms in a different order.
					var posts []storage.PostWrite
					for i := range 4 {
						room := rooms[(w+b+i)%len(rooms)]
						posts = append(posts, storage.PostWrite{History: msg(room, fmt.Sprintf("w%d", w), "x"), Event: event("post", room)})
					}
					if _, err := e.store.AppendHistory(e.ctx, posts); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent AppendHistory: %v", err)
		}
		total := 0
		for _, r := range rooms {
			msgs, complete := e.query(storage.HistoryQuery{Room: r, Limit: 1000})
			wantSeqs(t, r, msgs, complete, seqRange(1, int64(len(msgs))), true)
			total += len(msgs)
		}
		if total != writers*batches*4 {
			t.Errorf("%d messages stored, want %d", total, writers*batches*4)
		}
	}},

	{"QueryFilters", func(t *testing.T, e *env) {
		e.lobby("lobby", "other")
		// Seq n is posted at minute n by alice (odd) or bob (even); bob
		// posts as "Bobby" from seq 10 on.
		var batch []*storage.HistoryMessage
		for i := 1; i <= 20; i++ {
			nick := "alice"
			if i%2 == 0 {
				nick = "bob"
			}
			m := msg("lobby", nick, fmt.Sprint(i))
			if nick == "bob" && i >= 10 {
				m.Nick = "Bobby"
			}
			m.Time = at(i)
			batch = append(batch, m)
		}
		e.append(batch...)
		e.post("other", "alice", "elsewhere")

		q := func(q storage.HistoryQuery) ([]storage.HistoryMessage, bool) {
			q.Room = "lobby"
			if q.Limit == 0 {
				q.Limit = 100
			}
			return e.query(q)
		}
		msgs, complete := q(storage.HistoryQuery{Start: at(5), End: at(8)})
		wantSeqs(t, "Start 5 End 8 (inclusive)", msgs, complete, seqRange(5, 8), true)
		msgs, complete = q(storage.HistoryQuery{Start: at(18)})
		wantSeqs(t, "Start 18", msgs, complete, seqRange(18, 20), true)
		msgs, complete = q(storage.HistoryQuery{End: at(2).Add(-time.Microsecond)})
		wantSeqs(t, "End just before 2", msgs, complete, []int64{1}, true)
		msgs, complete = q(storage.HistoryQuery{AfterSeq: 17})
		wantSeqs(t, "AfterSeq 17", msgs, complete, seqRange(18, 20), true)
		msgs, complete = q(storage.HistoryQuery{BeforeSeq: 3})
		wantSeqs(t, "BeforeSeq 3", msgs, complete, []int64{1, 2}, true)
		msgs, complete = q(storage.HistoryQuery{AfterSeq: 5, BeforeSeq: 6})
		wantSeqs(t, "AfterSeq 5 BeforeSeq 6", msgs, complete, []int64{}, true)
		msgs, complete = q(storage.HistoryQuery{With: "bob"})
		wantSeqs(t, "With nick bob", msgs, complete, []int64{2, 4, 6, 8}, true)
		msgs, complete = q(storage.HistoryQuery{With: "bob@example.org"})
		wantSeqs(t, "With JID bob@example.org", msgs, complete, []int64{2, 4, 6, 8, 10, 12, 14, 16, 18, 20}, true)
		msgs, complete = q(storage.HistoryQuery{With: "Bob"})
		wantSeqs(t, "With Bob (case matters)", msgs, complete, []int64{}, true)
		msgs, complete = q(storage.HistoryQuery{With: "bob@example.org", Start: at(4), End: at(16), AfterSeq: 4, BeforeSeq: 16, Limit: 3})
		wantSeqs(t, "all filters", msgs, complete, []int64{6, 8, 10}, false)
		msgs, complete = q(storage.HistoryQuery{With: "bob@example.org", Start: at(4), End: at(16), AfterSeq: 4, BeforeSeq: 16, Limit: 3, Last: true})
		wantSeqs(t, "all filters, last", msgs, complete, []int64{10, 12, 14}, false)
		msgs, complete = q(storage.HistoryQuery{With: "alice", Limit: 2, Last: true, FullText: "19"})
		wantSeqs(t, "With and FullText", msgs, complete, []int64{19}, true)

		for _, c := range []struct {
			q    storage.HistoryQuery
			want int
		}{
			{storage.HistoryQuery{}, 20},
			{storage.HistoryQuery{With: "alice", Limit: 1}, 10},
			{storage.HistoryQuery{AfterSeq: 5, Start: at(8), Last: true}, 13},
			{storage.HistoryQuery{FullText: "1"}, 11}, // 1 and 10 to 19
			{storage.HistoryQuery{FullText: "!!"}, 0},
		} {
			c.q.Room = "lobby"
			if n, err := e.store.CountHistory(e.ctx, c.q); err != nil || n != c.want {
				t.Errorf("CountHistory(%+v) = %d, %v; want %d", c.q, n, err, c.want)
			}
		}
		msgs, complete = e.query(storage.HistoryQuery{Room: "nothing", Limit: 5, Last: true})
		wantSeqs(t, "unknown room", msgs, complete, []int64{}, true)
	}},

	{"PagingForward", func(t *testing.T, e *env) {
		e.lobby("lobby")
		var batch []*storage.HistoryMessage
		for i := range 25 {
			batch = append(batch, msg("lobby", "alice", fmt.Sprint(i+1)))
		}
		e.append(batch...)
		page := func(after int64) ([]storage.HistoryMessage, bool) {
			return e.query(storage.HistoryQuery{Room: "lobby", AfterSeq: after, Limit: 10})
		}
		msgs, complete := page(0)
		wantSeqs(t, "page 1", msgs, complete, seqRange(1, 10), false)
		msgs, complete = page(10)
		wantSeqs(t, "page 2", msgs, complete, seqRange(11, 20), false)
		msgs, complete = page(20)
		wantSeqs(t, "page 3", msgs, complete, seqRange(21, 25), true)
		msgs, complete = page(25)
		wantSeqs(t, "after the end", msgs, complete, []int64{}, true)
		// A page that ends exactly at the last message is complete.
		msgs, complete = e.query(storage.HistoryQuery{Room: "lobby", AfterSeq: 15, Limit: 10})
		wantSeqs(t, "exact last page", msgs, complete, seqRange(16, 25), true)
		msgs, complete = e.query(storage.HistoryQuery{Room: "lobby", Limit: 25})
		wantSeqs(t, "all at once", msgs, complete, seqRange(1, 25), true)
	}},

	{"PagingBackward", func(t *testing.T, e *env) {
		e.lobby("lobby")
		var batch []*storage.HistoryMessage
		for i := range 25 {
			batch = append(batch, msg("lobby", "alice", fmt.Sprint(i+1)))
		}
		e.append(batch...)
		page := func(before int64) ([]storage.HistoryMessage, bool) {
			return e.query(storage.HistoryQuery{Room: "lobby", BeforeSeq: before, Limit: 10, Last: true})
		}
		msgs, complete := page(0)
		wantSeqs(t, "last page", msgs, complete, seqRange(16, 25), false)
		msgs, complete = page(16)
		wantSeqs(t, "page before", msgs, complete, seqRange(6, 15), false)
		msgs, complete = page(6)
		wantSeqs(t, "first page", msgs, complete, seqRange(1, 5), true)
		msgs, complete = page(1)
		wantSeqs(t, "before the start", msgs, complete, []int64{}, true)
		msgs, complete = page(11)
		wantSeqs(t, "exact first page", msgs, complete, seqRange(1, 10), true)
	}},

	{"FullText", func(t *testing.T, e *env) {
		e.lobby("lobby", "other")
		posts := []string{
			"Deploying the new Café build tonight", // 1
			"ПРИВЕТ всем, как дела?",               // 2
			"the fox 🦊 jumped over the bear 🐻",     // 3
			"Who broke the build? 🤔",               // 4
			"meeting at 10:30 in room Ω",           // 5
			"naïve résumé review",                  // 6
			"thumbs up 👍🏽 from me",                 // 7
			"snake_case and e-mail addresses",      // 8
			"no match here",                        // 9
			"Straße und Ärger",                     // 10
			"go to the wiki",                       // 11
			"I'm a fox🦊 too",                       // 12
			"The DEPLOYMENT went fine",             // 13
			"日本語のテキスト",                             // 14
		}
		for _, p := range posts {
			e.post("lobby", "alice", p)
		}
		e.post("other", "bob", "Deploying other things and a fox 🦊")
		for _, c := range []struct {
			search string
			want   []int
		}{
			{"deploy", []int{1, 13}},        // a word and the start of one, any case
			{"DEPLOYING", []int{1}},         // whole word
			{"cafe", []int{1}},              // accents ignored
			{"CAFÉ BUILD", []int{1}},        // every word required
			{"café fox", nil},               // …all of them
			{"привет", []int{2}},            // Cyrillic, case folded
			{"дела", []int{2}},              //
			{"🦊", []int{3, 12}},             // emoji, also glued to a word
			{"🐻 fox", []int{3}},             //
			{"👍", []int{7}},                 // skin tone ignored
			{"🐶", nil},                      //
			{"who", []int{4}},               // not a stopword here
			{"the", []int{1, 3, 4, 11, 13}}, // nor this
			{"build?", []int{1, 4}},         // punctuation ignored
			{"naive resume", []int{6}},      // diacritics both ways
			{"RÉSUMÉ", []int{6}},            //
			{"snake_case", []int{8}},        // underscores
			{"mail", []int{8}},              // hyphenated words are words
			{"ärger", []int{10}},            //
			{"wiki", []int{11}},             //
			{"日本語", []int{14}},              // the start of a run of CJK
			{"  ?!  ", nil},                 // nothing searchable: nothing found
			{"10", []int{5}},                // digits
			{"go", []int{11}},               // short words
		} {
			var want []string
			for _, i := range c.want {
				want = append(want, posts[i-1])
			}
			if want == nil {
				want = []string{}
			}
			wantStrings(t, fmt.Sprintf("search %q", c.search), e.search("lobby", c.search), want)
		}
		// Words shorter than MySQL's innodb_ft_min_token_size match there
		// anywhere in a word, so only part of the answer is the same.
		if got := e.search("lobby", "I'm"); !slices.Contains(got, posts[11]) {
			t.Errorf("search \"I'm\" = %q, want it to contain %q", got, posts[11])
		}
		// Combined with paging: newest first, one at a time.
		msgs, complete := e.query(storage.HistoryQuery{Room: "lobby", FullText: "the", Limit: 2, Last: true})
		wantSeqs(t, "the, last 2", msgs, complete, []int64{11, 13}, false)
		msgs, complete = e.query(storage.HistoryQuery{Room: "lobby", FullText: "the", Limit: 2, Last: true, BeforeSeq: 11})
		wantSeqs(t, "the, 2 before 11", msgs, complete, []int64{3, 4}, false)
		msgs, complete = e.query(storage.HistoryQuery{Room: "lobby", FullText: "the", Limit: 2, Last: true, BeforeSeq: 3})
		wantSeqs(t, "the, 2 before 3", msgs, complete, []int64{1}, true)
		msgs, complete = e.query(storage.HistoryQuery{Room: "lobby", FullText: "the", Limit: 3, AfterSeq: 3})
		wantSeqs(t, "the, 3 after 3", msgs, complete, []int64{4, 11, 13}, true)
	}},

	{"FullTextFindsOtherLanguages", func(t *testing.T, e *env) {
		// A message's bodies in other languages (AltBodies) are
		// searchable like its first (issue 18, Low: text in a second
		// <body xml:lang/> was delivered but never found).
		e.lobby("lobby")
		m := msg("lobby", "alice", "the meeting moved to thursday")
		m.AltBodies = "la réunion est déplacée à jeudi 🦊\ndie Besprechung ist verschoben"
		e.append(m)
		e.post("lobby", "bob", "nothing to see")
		for _, word := range []string{"thursday", "réunion", "jeudi", "Besprechung", "verschoben", "🦊"} {
			wantStrings(t, "search "+word, e.search("lobby", word), []string{"the meeting moved to thursday"})
		}
	}},

	{"FullTextTakesAnyInput", func(t *testing.T, e *env) {
		// Search strings come from the network: the engines' query syntax
		// (FTS5 expressions, InnoDB boolean mode) must never leak through.
		e.lobby("lobby")
		long := longString('w', 100) // longer than InnoDB's longest token
		e.post("lobby", "alice", "a plain post with "+long+" and zoe\u0308 x² 𝔘𝔫𝔦")
		for _, search := range []string{
			`"quoted" +plus -minus (paren) ~tilde @at <less >more`,
			`wild*card "unterminated`, `AND OR NOT NEAR`, `NEAR(a b)`, `col:umn`, `^caret`,
			"zoe\u0308", "x²", "𝔘𝔫𝔦", "ﷺ", "\x00nul", "100%_done!", "bad\xffutf8",
			long, "*", `"`, "'", "-", "+", "🏳️‍🌈", "👨‍👩‍👧‍👦",
		} {
			if _, _, err := e.store.QueryHistory(e.ctx, storage.HistoryQuery{Room: "lobby", FullText: search, Limit: 10}); err != nil {
				t.Errorf("search %q: %v", search, err)
			}
			if _, err := e.store.CountHistory(e.ctx, storage.HistoryQuery{Room: "lobby", FullText: search}); err != nil {
				t.Errorf("count %q: %v", search, err)
			}
		}
		wantStrings(t, "search for a word longer than any token", e.search("lobby", long), e.search("lobby", "plain"))
		wantStrings(t, "search for NEAR and AND", e.search("lobby", "AND NEAR"), []string{})
	}},

	{"FullTextFindsAWordPostedLongAgo", func(t *testing.T, e *env) {
		e.lobby("lobby")
		var batch []*storage.HistoryMessage
		for i := range 1200 {
			body := fmt.Sprintf("routine message number %d about lunch", i)
			if i == 100 {
				body = "remember the quetzalcoatl invoice"
			}
			batch = append(batch, msg("lobby", "alice", body))
		}
		e.append(batch...)
		msgs, complete := e.query(storage.HistoryQuery{Room: "lobby", FullText: "Quetzalcoatl", Limit: 20, Last: true})
		wantSeqs(t, "needle", msgs, complete, []int64{101}, true)
		if n, err := e.store.CountHistory(e.ctx, storage.HistoryQuery{Room: "lobby", FullText: "lunch"}); err != nil || n != 1199 {
			t.Errorf("CountHistory(lunch) = %d, %v; want 1199", n, err)
		}
	}},

	{"TombstoneDropsTheOldBody", func(t *testing.T, e *env) {
		e.lobby("lobby")
		keep := e.post("lobby", "alice", "public plans")
		gone := e.post("lobby", "alice", "secret plans 🤫 for zanzibar")
		retraction := msg("lobby", "alice", "")
		retraction.Kind, retraction.Target = storage.KindRetraction, gone.StanzaID
		e.append(retraction)
		stanza := []byte(`<message><retracted xmlns="urn:xmpp:message-retract:1"/></message>`)
		if err := e.store.Tombstone(e.ctx, "lobby", gone.StanzaID, "This message was retracted.", stanza, event("tombstone", "lobby")); err != nil {
			t.Fatalf("Tombstone: %v", err)
		}
		got, err := e.store.HistoryByStanzaID(e.ctx, "lobby", gone.StanzaID)
		if err != nil {
			t.Fatalf("HistoryByStanzaID: %v", err)
		}
		want := gone
		want.Body, want.Stanza, want.Tombstone = "This message was retracted.", stanza, true
		wantMessage(t, "tombstone", got, want)
		for _, s := range []string{"secret", "zanzibar", "🤫", "retracted"} {
			wantStrings(t, "search "+s+" after the tombstone", e.search("lobby", s), []string{})
		}
		wantStrings(t, "search plans", e.search("lobby", "plans"), []string{keep.Body})
		msgs, _ := e.query(storage.HistoryQuery{Room: "lobby", Limit: 10})
		wantSeqs(t, "history keeps the tombstone in place", msgs, true, []int64{1, 2, 3}, true)

		// Again (moderation after retraction): still one row, same place.
		if err := e.store.Tombstone(e.ctx, "lobby", gone.StanzaID, "This message was retracted.", stanza, event("tombstone", "lobby")); err != nil {
			t.Fatalf("Tombstone again: %v", err)
		}
		err = e.store.Tombstone(e.ctx, "lobby", "sid-nothing", "x", nil, event("tombstone", "lobby"))
		wantErrorIs(t, "Tombstone(unknown)", err, storage.ErrNotFound)
		err = e.store.Tombstone(e.ctx, "nothing", gone.StanzaID, "x", nil, event("tombstone", "nothing"))
		wantErrorIs(t, "Tombstone in an unknown room", err, storage.ErrNotFound)
		types := e.outboxTypes()
		wantStrings(t, "outbox", types[2:], []string{"post", "post", "post", "tombstone", "tombstone"})
	}},

	{"PostWriteTombstonesItsTarget", func(t *testing.T, e *env) {
		e.lobby("lobby")
		keep := e.post("lobby", "alice", "public plans")
		gone := e.post("lobby", "alice", "secret plans 🤫 for zanzibar")
		retraction := msg("lobby", "alice", "")
		retraction.Kind, retraction.Target = storage.KindRetraction, gone.StanzaID
		stanza := []byte(`<message><retracted xmlns="urn:xmpp:message-retract:1"/></message>`)
		tomb := &storage.TombstoneWrite{StanzaID: gone.StanzaID, Body: "This message was retracted.", Stanza: stanza}
		ev := event("retraction", "lobby")
		out, err := e.store.AppendHistory(e.ctx, []storage.PostWrite{{History: retraction, Event: ev, Tombstone: tomb}})
		if err != nil {
			t.Fatalf("AppendHistory of a retraction: %v", err)
		}
		if out[0].History == nil || out[0].History.Seq != 3 || out[0].Event.ID == 0 {
			t.Errorf("retraction written as %+v", out[0])
		}
		if tomb.StanzaID != gone.StanzaID || tomb.Body != "This message was retracted." {
			t.Errorf("AppendHistory changed its argument's tombstone: %+v", tomb)
		}
		got, err := e.store.HistoryByStanzaID(e.ctx, "lobby", gone.StanzaID)
		if err != nil {
			t.Fatalf("HistoryByStanzaID(target): %v", err)
		}
		want := gone
		want.Body, want.Stanza, want.Tombstone = "This message was retracted.", stanza, true
		wantMessage(t, "tombstoned target", got, want)
		got, err = e.store.HistoryByStanzaID(e.ctx, "lobby", retraction.StanzaID)
		if err != nil {
			t.Fatalf("HistoryByStanzaID(retraction): %v", err)
		}
		wantMessage(t, "retraction", got, *out[0].History)
		for _, w := range []string{"secret", "zanzibar", "🤫", "retracted"} {
			wantStrings(t, "search "+w+" after the retraction", e.search("lobby", w), []string{})
		}
		wantStrings(t, "search plans", e.search("lobby", "plans"), []string{keep.Body})
		msgs, _ := e.query(storage.HistoryQuery{Room: "lobby", Limit: 10})
		wantSeqs(t, "history keeps the tombstone in place", msgs, true, []int64{1, 2, 3}, true)
		evs := e.outbox()
		if n := len(evs); n != 5 || !sameEvent(evs[4], ev) || evs[4].ID != out[0].Event.ID {
			t.Errorf("outbox %+v, want the two posts' events and then exactly %+v", evs[2:], ev)
		}

		// Without a history row (the category keeps none) the tombstone
		// applies in the event's room; and a target may be a message of
		// the same batch.
		fresh := msg("lobby", "bob", "fresh mistake about xylophones")
		out, err = e.store.AppendHistory(e.ctx, []storage.PostWrite{
			{Event: event("moderation", "lobby"), Tombstone: &storage.TombstoneWrite{StanzaID: keep.StanzaID, Body: "Removed."}},
			{History: fresh, Event: event("post", "lobby")},
			{Event: event("moderation", "lobby"), Tombstone: &storage.TombstoneWrite{StanzaID: fresh.StanzaID, Body: "Removed."}},
		})
		if err != nil {
			t.Fatalf("AppendHistory of moderations without history: %v", err)
		}
		for _, m := range []storage.HistoryMessage{keep, *out[1].History} {
			got, err := e.store.HistoryByStanzaID(e.ctx, "lobby", m.StanzaID)
			if err != nil || !got.Tombstone || got.Body != "Removed." || len(got.Stanza) != 0 || got.Seq != m.Seq {
				t.Errorf("moderated %s: %+v, %v; want a tombstone at seq %d", m.StanzaID, got, err, m.Seq)
			}
		}
		wantStrings(t, "search plans after the moderation", e.search("lobby", "plans"), []string{})
		wantStrings(t, "search xylophones", e.search("lobby", "xylophones"), []string{})
		msgs, _ = e.query(storage.HistoryQuery{Room: "lobby", Limit: 10})
		wantSeqs(t, "history after the moderations", msgs, true, []int64{1, 2, 3, 4}, true)
		wantStrings(t, "outbox", e.outboxTypes()[2:], []string{"post", "post", "retraction", "moderation", "post", "moderation"})
	}},

	{"MissingTombstoneTargetWritesNothing", func(t *testing.T, e *env) {
		e.lobby("a", "b")
		m := e.post("a", "alice", "still here")
		other := e.post("b", "bob", "elsewhere")
		start := e.outboxTypes()
		for what, target := range map[string]string{
			"an unknown message":          "sid-nothing",
			"a message of another room":   other.StanzaID,
			"an unknown message, no room": "",
		} {
			retraction := msg("a", "alice", "")
			retraction.Kind, retraction.Target = storage.KindRetraction, target
			posts := []storage.PostWrite{
				{History: msg("a", "bob", "innocent bystander"), Event: event("post", "a")},
				{Event: event("moderation", "a"), Tombstone: &storage.TombstoneWrite{StanzaID: m.StanzaID, Body: "Removed."}},
				{History: retraction, Event: event("retraction", "a"), Tombstone: &storage.TombstoneWrite{StanzaID: target, Body: "Retracted."}},
			}
			_, err := e.store.AppendHistory(e.ctx, posts)
			if target == "" {
				wantInvalid(t, "AppendHistory tombstoning "+what, err)
			} else {
				wantErrorIs(t, "AppendHistory tombstoning "+what, err, storage.ErrNotFound)
			}
			msgs, _ := e.query(storage.HistoryQuery{Room: "a", Limit: 10})
			if len(msgs) != 1 || msgs[0].Tombstone || msgs[0].Body != "still here" {
				t.Errorf("after tombstoning %s, room a has %+v; want only the untouched first post", what, msgs)
			}
			wantStrings(t, "search after tombstoning "+what, e.search("a", "still"), []string{"still here"})
			if got, err := e.store.HistoryByStanzaID(e.ctx, "b", other.StanzaID); err != nil || got.Tombstone {
				t.Errorf("message of room b after tombstoning %s: %+v, %v", what, got, err)
			}
			wantStrings(t, "outbox after tombstoning "+what, e.outboxTypes(), start)
		}
		if next := e.post("a", "alice", "next"); next.Seq != 2 {
			t.Errorf("first post after the failed batches has seq %d, want 2", next.Seq)
		}
	}},

	{"SurvivesReopen", func(t *testing.T, e *env) {
		e.putCategory("general")
		room := fullRoom()
		if err := e.store.CreateRoom(e.ctx, room, []storage.Affiliation{{JID: "alice@example.org", Affiliation: "owner", Reason: "founder"}}, event("room.create", room.Name)); err != nil {
			t.Fatalf("CreateRoom: %v", err)
		}
		first := e.post(room.Name, "alice", "persistent 🏛 history")
		e.reopen()
		got, err := e.store.Room(e.ctx, room.Name)
		if err != nil {
			t.Fatalf("Room after reopen: %v", err)
		}
		wantRoom(t, "Room after reopen", got, room)
		if affs, _ := e.store.Affiliations(e.ctx, room.Name); len(affs) != 1 || affs[0].Reason != "founder" {
			t.Errorf("Affiliations after reopen = %+v", affs)
		}
		m, err := e.store.HistoryByStanzaID(e.ctx, room.Name, first.StanzaID)
		if err != nil {
			t.Fatalf("HistoryByStanzaID after reopen: %v", err)
		}
		wantMessage(t, "message after reopen", m, first)
		wantStrings(t, "search after reopen", e.search(room.Name, "🏛 persistent"), []string{first.Body})
		if next := e.post(room.Name, "bob", "second"); next.Seq != 2 {
			t.Errorf("seq after reopen = %d, want 2", next.Seq)
		}
	}},

	{"CanceledContext", func(t *testing.T, e *env) {
		e.lobby("lobby")
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		_, err := e.store.AppendHistory(ctx, []storage.PostWrite{{History: msg("lobby", "alice", "x"), Event: event("post", "lobby")}})
		wantErrorIs(t, "AppendHistory with a canceled context", err, context.Canceled)
		_, _, err = e.store.QueryHistory(ctx, storage.HistoryQuery{Room: "lobby", Limit: 5})
		wantErrorIs(t, "QueryHistory with a canceled context", err, context.Canceled)
		err = e.store.CreateRoom(ctx, storage.Room{Name: "new", Category: "general"}, nil, event("room.create", "new"))
		wantErrorIs(t, "CreateRoom with a canceled context", err, context.Canceled)
		wantStrings(t, "outbox", e.outboxTypes(), []string{"category.put", "room.create"})
		if msgs, _ := e.query(storage.HistoryQuery{Room: "lobby", Limit: 5}); len(msgs) != 0 {
			t.Errorf("history after a canceled append: %v", bodies(msgs))
		}
	}},
}

var outboxTests = []test{
	{"AppendReadDelete", func(t *testing.T, e *env) {
		before := time.Now()
		evs := []storage.OutboxEvent{event("join", "lobby"), event("leave", "lobby"), event("search", "lobby")}
		evs[1].Payload = nil
		evs[2].Time = time.Date(2025, 1, 2, 3, 4, 5, 6789, time.FixedZone("W", -3600))
		if err := e.store.AppendOutbox(e.ctx, evs...); err != nil {
			t.Fatalf("AppendOutbox: %v", err)
		}
		if err := e.store.AppendOutbox(e.ctx); err != nil {
			t.Fatalf("AppendOutbox(): %v", err)
		}
		after := time.Now()
		got := e.outbox()
		if len(got) != 3 {
			t.Fatalf("ReadOutbox = %+v, want 3 events", got)
		}
		for i := range got {
			if !sameEvent(got[i], evs[i]) || (i > 0 && got[i].ID <= got[i-1].ID) {
				t.Errorf("event %d = %+v, want %+v with a greater ID than the one before", i, got[i], evs[i])
			}
		}
		wantTime(t, "Time", got[0].Time, before, after)
		if want := evs[2].Time.Truncate(time.Microsecond); !got[2].Time.Equal(want) || got[2].Time.Location() != time.UTC {
			t.Errorf("given Time came back as %v, want %v in UTC", got[2].Time, want)
		}
		page, err := e.store.ReadOutbox(e.ctx, got[0].ID, 1)
		if err != nil || len(page) != 1 || page[0].ID != got[1].ID {
			t.Errorf("ReadOutbox(after first, 1) = %+v, %v; want the second", page, err)
		}
		if err := e.store.DeleteOutbox(e.ctx, got[0].ID, got[2].ID, got[2].ID+1000); err != nil {
			t.Fatalf("DeleteOutbox: %v", err)
		}
		if rest := e.outbox(); len(rest) != 1 || rest[0].ID != got[1].ID {
			t.Errorf("after DeleteOutbox: %+v, want the second event only", rest)
		}
		if err := e.store.DeleteOutbox(e.ctx, got[1].ID); err != nil {
			t.Fatalf("DeleteOutbox: %v", err)
		}
		if err := e.store.DeleteOutbox(e.ctx); err != nil {
			t.Fatalf("DeleteOutbox(): %v", err)
		}
		// IDs are never reused, not even after a restart with an empty
		// outbox.
		e.reopen()
		if err := e.store.AppendOutbox(e.ctx, event("join", "lobby")); err != nil {
			t.Fatalf("AppendOutbox: %v", err)
		}
		if again := e.outbox(); len(again) != 1 || again[0].ID <= got[2].ID {
			t.Errorf("event after emptying and reopening = %+v, want an ID above %d", again, got[2].ID)
		}
	}},

	{"DuplicateEventIDGivesErrExists", func(t *testing.T, e *env) {
		ev := event("join", "lobby")
		if err := e.store.AppendOutbox(e.ctx, ev); err != nil {
			t.Fatalf("AppendOutbox: %v", err)
		}
		err := e.store.AppendOutbox(e.ctx, event("leave", "lobby"), ev)
		wantErrorIs(t, "AppendOutbox with an event id used before", err, storage.ErrExists)
		wantStrings(t, "outbox", e.outboxTypes(), []string{"join"})
	}},

	{"RejectsInvalidInput", func(t *testing.T, e *env) {
		bad := event("join", "lobby")
		bad.Payload = []byte("not json")
		for what, ev := range map[string]storage.OutboxEvent{
			"payload that is not JSON": bad,
			"no event id":              {Type: "join"},
			"no type":                  {EventID: "x"},
			"long event id":            {EventID: longString('e', storage.MaxIDLength+1), Type: "join"},
		} {
			wantInvalid(t, "AppendOutbox with "+what, e.store.AppendOutbox(e.ctx, event("ok", ""), ev))
		}
		_, err := e.store.ReadOutbox(e.ctx, 0, 0)
		wantInvalid(t, "ReadOutbox with limit 0", err)
		if evs := e.outbox(); len(evs) != 0 {
			t.Errorf("outbox after invalid appends: %+v", evs)
		}
	}},

	{"EventsOnlyWithTheirChange", func(t *testing.T, e *env) {
		// Every successful mutation writes exactly its event; every failed
		// one writes none (DESIGN §6).
		e.putCategory("general")
		e.createRoom("lobby", "general")
		m := e.post("lobby", "alice", "hello")
		start := len(e.outbox())
		failures := map[string]error{
			"CreateRoom in an unknown category": e.store.CreateRoom(e.ctx, storage.Room{Name: "x", Category: "nothing"}, nil, event("fail", "x")),
			"CreateRoom of an existing room":    e.store.CreateRoom(e.ctx, storage.Room{Name: "lobby", Category: "general"}, nil, event("fail", "lobby")),
			"UpdateRoom of an unknown room":     e.store.UpdateRoom(e.ctx, storage.Room{Name: "x", Category: "general"}, event("fail", "x")),
			"DeleteRoom of an unknown room":     e.store.DeleteRoom(e.ctx, "x", event("fail", "x")),
			"DeleteCategory with rooms":         e.store.DeleteCategory(e.ctx, "general", event("fail", "")),
			"SetAffiliation in an unknown room": e.store.SetAffiliation(e.ctx, storage.Affiliation{Room: "x", JID: "a@example.org", Affiliation: "member"}, event("fail", "x")),
			"Tombstone of an unknown message":   e.store.Tombstone(e.ctx, "lobby", "nothing", "", nil, event("fail", "lobby")),
			"AppendHistory to an unknown room": func() error {
				_, err := e.store.AppendHistory(e.ctx, []storage.PostWrite{{History: msg("x", "a", "b"), Event: event("fail", "x")}})
				return err
			}(),
			"AppendHistory tombstoning an unknown message": func() error {
				_, err := e.store.AppendHistory(e.ctx, []storage.PostWrite{{History: msg("lobby", "a", "b"), Event: event("fail", "lobby"),
					Tombstone: &storage.TombstoneWrite{StanzaID: "nothing", Body: "gone"}}})
				return err
			}(),
			"AppendHistory with a taken stanza-id": func() error {
				dup := msg("lobby", "a", "b")
				dup.StanzaID = m.StanzaID
				_, err := e.store.AppendHistory(e.ctx, []storage.PostWrite{{History: dup, Event: event("fail", "lobby")}})
				return err
			}(),
		}
		for what, err := range failures {
			if err == nil {
				t.Errorf("%s succeeded", what)
			}
		}
		if evs := e.outbox(); len(evs) != start {
			t.Fatalf("failed mutations wrote events: %+v", evs[start:])
		}
		successes := []struct {
			ev storage.OutboxEvent
			do func(ev storage.OutboxEvent) error
		}{
			{event("category.put", ""), func(ev storage.OutboxEvent) error {
				return e.store.PutCategory(e.ctx, storage.Category{Name: "more"}, ev)
			}},
			{event("room.create", "r"), func(ev storage.OutboxEvent) error {
				return e.store.CreateRoom(e.ctx, storage.Room{Name: "r", Category: "more"}, nil, ev)
			}},
			{event("room.config", "r"), func(ev storage.OutboxEvent) error {
				return e.store.UpdateRoom(e.ctx, storage.Room{Name: "r", Category: "more", Title: "R"}, ev)
			}},
			{event("affiliation", "r"), func(ev storage.OutboxEvent) error {
				return e.store.SetAffiliation(e.ctx, storage.Affiliation{Room: "r", JID: "a@example.org", Affiliation: "admin"}, ev)
			}},
			{event("post", "r"), func(ev storage.OutboxEvent) error {
				_, err := e.store.AppendHistory(e.ctx, []storage.PostWrite{{History: msg("r", "a", "hi"), Event: ev}})
				return err
			}},
			{event("tombstone", "lobby"), func(ev storage.OutboxEvent) error {
				return e.store.Tombstone(e.ctx, "lobby", m.StanzaID, "gone", nil, ev)
			}},
			{event("room.delete", "r"), func(ev storage.OutboxEvent) error { return e.store.DeleteRoom(e.ctx, "r", ev) }},
			{event("category.delete", ""), func(ev storage.OutboxEvent) error { return e.store.DeleteCategory(e.ctx, "more", ev) }},
		}
		for _, s := range successes {
			if err := s.do(s.ev); err != nil {
				t.Fatalf("%s: %v", s.ev.Type, err)
			}
			evs := e.outbox()
			if len(evs) != start+1 || !sameEvent(evs[start], s.ev) {
				t.Fatalf("after %s the outbox ends in %+v, want exactly %+v", s.ev.Type, evs[start:], s.ev)
			}
			start++
		}
		ids := []int64{}
		for _, ev := range e.outbox() {
			ids = append(ids, ev.ID)
		}
		if !slices.IsSorted(ids) {
			t.Errorf("outbox IDs %v are not in order", ids)
		}
	}},
}
