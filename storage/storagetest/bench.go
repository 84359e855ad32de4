package storagetest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

// BenchOpener returns a Store on an empty database of its own for a
// benchmark, and registers with b.Cleanup whatever removes that database.
type BenchOpener func(b *testing.B) storage.Store

// BenchPostsEnv names the environment variable that adds archive sizes to
// the default 100,000 posts, as a comma-separated list: with
// PARLEY_BENCH_POSTS=1000000 the search and paging benchmarks also run on a
// million posts (loading them takes minutes, on MySQL many).
const BenchPostsEnv = "PARLEY_BENCH_POSTS"

// Bench runs the storage benchmarks (shared/DESIGN.md §8) on the stores open
// returns:
//
//   - AppendHistory/batch=N: one group commit of N posts spread over 8
//     rooms per op; posts/s is the throughput a single writer reaches.
//   - Archive/posts=N/FullText/needle: a full-text search for a word posted
//     once, 10,000 messages before the end of a room's history.
//   - Archive/posts=N/FullText/common: a search for a word in 1% of the
//     posts, last 50 hits (MAM with XEP-0431, newest first).
//   - Archive/posts=N/MAMPaging: one page of 50 per op, walking backwards
//     through the largest room as a client pages through MAM with RSM
//     (Last, then BeforeSeq), from the newest message to the oldest and
//     around again.
//   - Archive/posts=N/MAMWithUser: the last 50 messages of one of the 50
//     users in the largest room (XEP-0313 with; the engine's lookup of a
//     user's own recent message for a correction).
//   - Archive/posts=N/Last20x30Rooms: the last 20 messages of each of 30
//     rooms, one after the other, per op (a client joining 30 rooms).
//
// An archive of N posts holds one room with N-5,800 of them and 29 rooms
// with 200 each; it is loaded once per size, in batches of 2,000.
func Bench(b *testing.B, open BenchOpener) {
	for _, batch := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("AppendHistory/batch=%d", batch), func(b *testing.B) {
			benchAppend(b, open(b), batch)
		})
	}
	sizes := []int{100_000}
	for _, s := range strings.Split(os.Getenv(BenchPostsEnv), ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 20_000 {
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("Archive/posts=%d", n), func(b *testing.B) {
			a := loadArchive(b, open(b), n)
			b.Run("FullText/needle", a.benchNeedle)
			b.Run("FullText/common", a.benchCommon)
			b.Run("MAMPaging", a.benchPaging)
			b.Run("MAMWithUser", a.benchWith)
			b.Run("Last20x30Rooms", a.benchLast20)
		})
	}
}

// benchVocabulary is what benchmark posts are made of: made-up words of 2
// to 5 syllables, so that the full-text index has many distinct terms of
// realistic length and frequency.
var benchVocabulary = func() []string {
	syllables := strings.Fields("ka ri to ma ne su lo vi da pe zu mo chi ra te no ha fu ki se")
	r := rand.New(rand.NewPCG(1, 2))
	words := make([]string, 5000)
	for i := range words {
		var w strings.Builder
		for range 2 + r.IntN(4) {
			w.WriteString(syllables[r.IntN(len(syllables))])
		}
		words[i] = w.String()
	}
	return words
}()

const (
	benchNeedle   = "quetzalcoatl"
	benchCommon   = "zzcommon" // in 1% of the posts
	benchBigRoom  = "big"
	benchRooms    = 30
	benchSmallLen = 200
)

// benchPost makes post number i of room: 8 to 20 words, now and then an
// emoji, the common word in every hundredth.
func benchPost(r *rand.Rand, room string, i int) *storage.HistoryMessage {
	var body strings.Builder
	for j := range 8 + r.IntN(13) {
		if j > 0 {
			body.WriteByte(' ')
		}
		body.WriteString(benchVocabulary[r.IntN(len(benchVocabulary))])
	}
	if i%100 == 42 {
		body.WriteString(" " + benchCommon)
	}
	if r.IntN(10) == 0 {
		body.WriteString(" 🎉")
	}
	nick := fmt.Sprintf("user%d", r.IntN(50))
	id := fmt.Sprintf("%s-%d", room, i)
	return &storage.HistoryMessage{
		Room: room, StanzaID: id, OriginID: "o" + id, OccupantID: "occ-" + nick, Nick: nick,
		RealJID: nick + "@example.org", FrontDoor: "xmpp", Kind: storage.KindPost, Body: body.String(),
		Stanza: fmt.Appendf(nil, `<message from="%s@conference.example.org/%s" type="groupchat" id="%s"><body>%s</body>`+
			`<stanza-id xmlns="urn:xmpp:sid:0" id="%s" by="%s@conference.example.org"/></message>`,
			room, nick, id, body.String(), id, room),
	}
}

func benchWrite(m *storage.HistoryMessage) storage.PostWrite {
	return storage.PostWrite{History: m, Event: storage.OutboxEvent{
		EventID: "ev-" + m.Room + "-" + m.StanzaID, Type: "post", Room: m.Room, Actor: m.RealJID,
		Payload: []byte(`{"stanza_id":"` + m.StanzaID + `"}`),
	}}
}

// benchSetup creates a category and rooms, failing b on an error.
func benchSetup(b *testing.B, s storage.Store, rooms []string) {
	b.Helper()
	ctx := b.Context()
	ev := func(what string) storage.OutboxEvent {
		return storage.OutboxEvent{EventID: fmt.Sprintf("setup-%s-%d", what, eventSeq.Add(1)), Type: what}
	}
	if err := s.PutCategory(ctx, storage.Category{Name: "bench", ChatHistory: true}, ev("category.put")); err != nil {
		b.Fatalf("PutCategory: %v", err)
	}
	for _, r := range rooms {
		if err := s.CreateRoom(ctx, storage.Room{Name: r, Category: "bench"}, nil, ev("room.create")); err != nil {
			b.Fatalf("CreateRoom(%s): %v", r, err)
		}
	}
}

func benchAppend(b *testing.B, s storage.Store, batch int) {
	rooms := make([]string, 8)
	for i := range rooms {
		rooms[i] = fmt.Sprintf("room%d", i)
	}
	benchSetup(b, s, rooms)
	r := rand.New(rand.NewPCG(3, uint64(batch)))
	n := 0
	posts := make([]storage.PostWrite, batch)
	cpu := processCPU()
	for b.Loop() {
		for i := range posts {
			posts[i] = benchWrite(benchPost(r, rooms[n%len(rooms)], n))
			n++
		}
		if _, err := s.AppendHistory(b.Context(), posts); err != nil {
			b.Fatalf("AppendHistory: %v", err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
	// CPU, not wall time: a commit waits for its fsync without using
	// the CPU, and on a busy node the CPU is what the posts compete for.
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(n), "cpu-µs/post")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// archive is a store loaded with benchmark history.
type archive struct {
	store  storage.Store
	rooms  []string
	bigLen int
}

func loadArchive(b *testing.B, s storage.Store, posts int) *archive {
	a := &archive{store: s, rooms: []string{benchBigRoom}}
	for i := 1; i < benchRooms; i++ {
		a.rooms = append(a.rooms, fmt.Sprintf("room%02d", i))
	}
	benchSetup(b, s, a.rooms)
	a.bigLen = posts - (benchRooms-1)*benchSmallLen
	needleAt := a.bigLen - 10_000
	r := rand.New(rand.NewPCG(5, 6))
	start := time.Now()
	const batch = 2000
	buf := make([]storage.PostWrite, 0, batch)
	flush := func() {
		if _, err := s.AppendHistory(b.Context(), buf); err != nil {
			b.Fatalf("loading the archive: AppendHistory: %v", err)
		}
		buf = buf[:0]
	}
	// The small rooms' posts are interleaved with the big room's, as
	// rooms are live at the same time.
	small := 0
	for i := range a.bigLen {
		m := benchPost(r, benchBigRoom, i)
		if i == needleAt {
			m.Body += " " + benchNeedle
		}
		buf = append(buf, benchWrite(m))
		if i%((a.bigLen/((benchRooms-1)*benchSmallLen))+1) == 0 && small < (benchRooms-1)*benchSmallLen {
			buf = append(buf, benchWrite(benchPost(r, a.rooms[1+small%(benchRooms-1)], small)))
			small++
		}
		if len(buf) >= batch {
			flush()
		}
	}
	for ; small < (benchRooms-1)*benchSmallLen; small++ {
		buf = append(buf, benchWrite(benchPost(r, a.rooms[1+small%(benchRooms-1)], small)))
		if len(buf) >= batch {
			flush()
		}
	}
	if len(buf) > 0 {
		flush()
	}
	b.Logf("loaded %d posts in %v", posts, time.Since(start).Round(time.Millisecond))
	return a
}

func (a *archive) benchNeedle(b *testing.B) {
	q := storage.HistoryQuery{Room: benchBigRoom, FullText: benchNeedle, Limit: 50, Last: true}
	for b.Loop() {
		msgs, _, err := a.store.QueryHistory(b.Context(), q)
		if err != nil || len(msgs) != 1 || msgs[0].Seq != int64(a.bigLen-10_000+1) {
			b.Fatalf("search for the needle: %d messages, %v", len(msgs), err)
		}
	}
}

func (a *archive) benchCommon(b *testing.B) {
	q := storage.HistoryQuery{Room: benchBigRoom, FullText: benchCommon, Limit: 50, Last: true}
	for b.Loop() {
		msgs, _, err := a.store.QueryHistory(b.Context(), q)
		if err != nil || len(msgs) != 50 {
			b.Fatalf("search for a common word: %d messages, %v", len(msgs), err)
		}
	}
}

func (a *archive) benchPaging(b *testing.B) {
	var before int64
	for b.Loop() {
		msgs, complete, err := a.store.QueryHistory(b.Context(),
			storage.HistoryQuery{Room: benchBigRoom, BeforeSeq: before, Limit: 50, Last: true})
		if err != nil || len(msgs) == 0 {
			b.Fatalf("MAM page before %d: %d messages, %v", before, len(msgs), err)
		}
		before = msgs[0].Seq
		if complete {
			before = 0
		}
	}
}

func (a *archive) benchWith(b *testing.B) {
	q := storage.HistoryQuery{Room: benchBigRoom, With: "user7@example.org", Limit: 50, Last: true}
	for b.Loop() {
		msgs, _, err := a.store.QueryHistory(b.Context(), q)
		if err != nil || len(msgs) != 50 {
			b.Fatalf("last 50 of one user: %d messages, %v", len(msgs), err)
		}
	}
}

func (a *archive) benchLast20(b *testing.B) {
	for b.Loop() {
		for _, room := range a.rooms {
			msgs, _, err := a.store.QueryHistory(b.Context(), storage.HistoryQuery{Room: room, Limit: 20, Last: true})
			if err != nil || len(msgs) != 20 {
				b.Fatalf("last 20 of %s: %d messages, %v", room, len(msgs), err)
			}
		}
	}
}
