package muc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parleychat/parley/storage"
)

// Topic feeds (shared/DESIGN.md §1 "Topic feed / keyword alert"): a user
// follows a room, optionally only for posts that mention some keywords, and
// gets an alert through the front doors whenever a matching post lands in
// the room while they are not in it. Follows persist (storage.Follows) and,
// like every other change, are captured in the compliance outbox.
//
// Matching is case-insensitive and by whole words: the keyword "deploy"
// matches "Deploy now!" and "the #deploy channel" but not "redeployed" or
// "deployment". A keyword may be a phrase ("release train": the words in
// that order, separated as written), and a keyword ending in '*' matches
// words that start with it ("deploy*" matches "deployment"). A keyword
// that starts or ends with a character that is not a letter or digit
// ("c++", "#ops") needs no word boundary on that side. A follow with no
// keywords matches every post. Only new posts alert; corrections,
// retractions, moderations and subject changes do not.

// Alerter is how the engine hands topic-feed alerts to the front doors.
// Alert is called after the post was committed and delivered to the room,
// outside the room's lock, once per follower to alert; it must not block
// (queue or drop, as Sink.Deliver does) and must not keep msg beyond the
// call except as read-only. matched lists the follower's keywords that
// the post matched (nil for a follow without keywords).
type Alerter interface {
	Alert(user, room string, msg *storage.HistoryMessage, matched []string)
}

// Limits on topic feeds.
const (
	// MaxFollows is how many rooms one user may follow.
	MaxFollows = 500
	// followersTTL bounds how long a room's followers are cached. Follows
	// changed through this engine invalidate the cache at once; the TTL
	// catches changes made elsewhere (another node of a pool, a room
	// deleted and created again).
	followersTTL = time.Minute
)

// feeds is the engine's topic-feed state: the alerter and a cache of each
// room's followers, loaded lazily when a post lands in a room.
type feeds struct {
	alerter atomic.Pointer[Alerter]

	mu    sync.Mutex
	gen   uint64 // bumped by every invalidation
	rooms map[string]followers
}

type followers struct {
	loaded time.Time
	list   []follower
}

// follower is a follow prepared for matching.
type follower struct {
	user     string
	keywords []keyword
}

type keyword struct {
	text   string // as the user gave it
	lower  string // lower-cased, without a trailing '*'
	prefix bool   // ended in '*'
	// open* say whether the keyword's first and last characters are
	// letters or digits, which then need a word boundary next to them.
	openStart, openEnd bool
}

// SetAlerter sets (or, with nil, removes) the Alerter, for front doors
// that are built after the engine. It is safe to call at any time.
func (e *Engine) SetAlerter(a Alerter) {
	if a == nil {
		e.feeds.alerter.Store(nil)
		return
	}
	e.feeds.alerter.Store(&a)
}

func (e *Engine) followStore() (storage.Follows, error) {
	if e.cfg.Follows == nil {
		return nil, refuse(CodeServiceUnavailable, "topic feeds are not available")
	}
	return e.cfg.Follows, nil
}

// Follow makes user follow room, for every post (no keywords) or for posts
// that match one of keywords (see the package comment on topic feeds for
// how they match). Only a room the user may read can be followed. A
// second Follow of the same room replaces the keywords. Keywords are
// trimmed; empty ones are dropped and duplicates (ignoring case) kept once.
func (e *Engine) Follow(ctx context.Context, user, room string, keywords []string) (storage.Follow, error) {
	fs, err := e.followStore()
	if err != nil {
		return storage.Follow{}, err
	}
	kws, err := normalizeKeywords(keywords)
	if err != nil {
		return storage.Follow{}, err
	}
	if err := e.MayRead(ctx, room, user); err != nil {
		return storage.Follow{}, err
	}
	existing, err := fs.FollowsOf(ctx, user)
	if err != nil {
		return storage.Follow{}, fmt.Errorf("muc: reading follows of %s: %w", user, err)
	}
	replacing := false
	for _, f := range existing {
		replacing = replacing || f.Room == room
	}
	if !replacing && len(existing) >= MaxFollows {
		return storage.Follow{}, refuse(CodeNotAllowed, "you follow %d rooms, the most allowed", len(existing))
	}
	f := storage.Follow{User: user, Room: room, Keywords: kws, Created: e.cfg.Now().UTC()}
	ev := e.event("follow", room, user, map[string]any{"keywords": kws, "replaced": replacing})
	err = fs.PutFollow(ctx, f, ev)
	e.feeds.invalidate(room)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.Follow{}, refuse(CodeNotFound, "no room %q", room)
	case err != nil:
		return storage.Follow{}, fmt.Errorf("muc: storing follow of %s by %s: %w", room, user, err)
	}
	return f, nil
}

// Unfollow stops user's alerts from room. A user may always unfollow,
// even a room they may no longer read.
func (e *Engine) Unfollow(ctx context.Context, user, room string) error {
	fs, err := e.followStore()
	if err != nil {
		return err
	}
	err = fs.DeleteFollow(ctx, user, room, e.event("unfollow", room, user, map[string]any{}))
	e.feeds.invalidate(room)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return refuse(CodeNotFound, "you do not follow %q", room)
	case err != nil:
		return fmt.Errorf("muc: removing follow of %s by %s: %w", room, user, err)
	}
	return nil
}

// Follows returns the rooms user follows, ordered by room.
func (e *Engine) Follows(ctx context.Context, user string) ([]storage.Follow, error) {
	fs, err := e.followStore()
	if err != nil {
		return nil, err
	}
	out, err := fs.FollowsOf(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("muc: reading follows of %s: %w", user, err)
	}
	return out, nil
}

// normalizeKeywords trims keywords, drops empty ones and case-insensitive
// duplicates, and checks the storage limits.
func normalizeKeywords(in []string) ([]string, error) {
	var out []string
	seen := make(map[string]bool, len(in))
	for _, k := range in {
		k = strings.Join(strings.Fields(k), " ")
		if k == "" || k == "*" {
			continue
		}
		if !utf8.ValidString(k) || utf8.RuneCountInString(k) > storage.MaxKeywordLength {
			return nil, refuse(CodeBadRequest, "a keyword is at most %d characters of UTF-8", storage.MaxKeywordLength)
		}
		if l := strings.ToLower(k); !seen[l] {
			seen[l] = true
			out = append(out, k)
		}
	}
	if len(out) > storage.MaxKeywords {
		return nil, refuse(CodeBadRequest, "at most %d keywords per room", storage.MaxKeywords)
	}
	return out, nil
}

// alertFollowers prepares the alerts for a post that was just committed
// and broadcast. It runs under the room's lock, so it only takes note of
// who is in the room now (they saw the post); the returned function does
// the rest — followers (cached), keyword matching, read access — and must
// be called after the lock is released. It returns nil when there is
// nothing to do.
func (e *Engine) alertFollowers(h *host, r storage.Room, cat storage.Category, msg *storage.HistoryMessage) func(ctx context.Context) {
	ap := e.feeds.alerter.Load()
	if ap == nil || e.cfg.Follows == nil || msg.Kind != storage.KindPost || msg.Body == "" {
		return nil
	}
	present := make(map[string]bool, len(h.occupants)+1)
	for _, o := range h.occupants {
		present[o.User] = true
	}
	present[msg.RealJID] = true // the author needs no alert
	return func(ctx context.Context) {
		list, err := e.feeds.followersOf(ctx, e.cfg.Follows, r.Name, e.cfg.Now())
		if err != nil {
			e.log.Error("topic feeds: reading followers", "room", r.Name, "err", err)
			return
		}
		type alert struct {
			user    string
			matched []string
		}
		var due []alert
		var lower string
		for _, f := range list {
			if present[f.user] {
				continue
			}
			if len(f.keywords) == 0 {
				due = append(due, alert{user: f.user})
				continue
			}
			if lower == "" {
				lower = strings.ToLower(msg.Body)
			}
			if matched := matchKeywords(lower, f.keywords); matched != nil {
				due = append(due, alert{user: f.user, matched: matched})
			}
		}
		if len(due) == 0 {
			return
		}
		// One read of the affiliations serves every follower's access
		// check: the same rules as MayRead, on the room and category the
		// post was committed with.
		affs, err := e.cfg.Store.Affiliations(ctx, r.Name)
		if err != nil {
			e.log.Error("topic feeds: reading affiliations", "room", r.Name, "err", err)
			return
		}
		var standings standingTable
		for _, a := range affs {
			standings.add(a)
		}
		alerter := *ap
		for _, d := range due {
			st := e.standingFrom(ctx, standings, d.user)
			if e.mayReadWith(ctx, r, cat, st, d.user) != nil {
				continue
			}
			alerter.Alert(d.user, r.Name, msg, d.matched)
		}
	}
}

// mayReadWith is MayRead's rule on a loaded room, category and standing.
// An outsider of a secret room is told what a room that does not exist
// would tell them (hidden), before anything else, even that it is
// disabled; other refusals name neither the category nor its wall.
func (e *Engine) mayReadWith(ctx context.Context, r storage.Room, cat storage.Category, st standing, user string) error {
	if isAdmin(user) {
		return nil
	}
	if e.hidden(ctx, r, cat, st, user) {
		return noRoom(r.Name)
	}
	switch {
	case r.Disabled:
		return refuse(CodeForbidden, "room %q is disabled", r.Name)
	case !e.allowed(ctx, cat, user):
		return walledOut()
	case e.localOnly(cat, user) != nil:
		return e.localOnly(cat, user)
	case st.aff == AffOutcast:
		return refuse(CodeForbidden, "you are banned from %q", r.Name)
	case r.MembersOnly && st.aff == AffNone:
		return refuse(CodeForbidden, "room %q is for members only", r.Name)
	}
	return nil
}

// followersOf returns a room's followers from the cache, loading them when
// they are missing or older than followersTTL.
func (f *feeds) followersOf(ctx context.Context, store storage.Follows, room string, now time.Time) ([]follower, error) {
	f.mu.Lock()
	c, ok := f.rooms[room]
	gen := f.gen
	f.mu.Unlock()
	if ok && now.Sub(c.loaded) < followersTTL {
		return c.list, nil
	}
	stored, err := store.FollowersOf(ctx, room)
	if err != nil {
		return nil, err
	}
	list := make([]follower, 0, len(stored))
	for _, s := range stored {
		list = append(list, follower{user: s.User, keywords: compileKeywords(s.Keywords)})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// A follow or unfollow since we started reading may not be in what we
	// read: use it this once, but do not cache it.
	if f.gen == gen {
		if f.rooms == nil {
			f.rooms = make(map[string]followers)
		}
		f.rooms[room] = followers{loaded: now, list: list}
	}
	return list, nil
}

// invalidate forgets a room's cached followers.
func (f *feeds) invalidate(room string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	delete(f.rooms, room)
}

func compileKeywords(kws []string) []keyword {
	out := make([]keyword, 0, len(kws))
	for _, k := range kws {
		kw := keyword{text: k, lower: strings.ToLower(k)}
		if rest, ok := strings.CutSuffix(kw.lower, "*"); ok && rest != "" {
			kw.lower, kw.prefix = rest, true
		}
		first, _ := utf8.DecodeRuneInString(kw.lower)
		last, _ := utf8.DecodeLastRuneInString(kw.lower)
		kw.openStart, kw.openEnd = isWordRune(first), isWordRune(last) && !kw.prefix
		out = append(out, kw)
	}
	return out
}

// matchKeywords returns the keywords that occur in body (already lower
// case) as whole words, in the follow's order, or nil.
func matchKeywords(body string, kws []keyword) []string {
	var matched []string
	for _, k := range kws {
		if containsWord(body, k) {
			matched = append(matched, k.text)
		}
	}
	return matched
}

func containsWord(body string, k keyword) bool {
	for from := 0; from <= len(body); {
		i := strings.Index(body[from:], k.lower)
		if i < 0 {
			return false
		}
		start, end := from+i, from+i+len(k.lower)
		before, _ := utf8.DecodeLastRuneInString(body[:start])
		after, _ := utf8.DecodeRuneInString(body[end:])
		if (!k.openStart || start == 0 || !isWordRune(before)) && (!k.openEnd || end == len(body) || !isWordRune(after)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(body[start:])
		from = start + max(size, 1)
	}
	return false
}

// isWordRune reports letters, digits and combining marks: what a word is
// made of.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}
