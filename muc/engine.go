package muc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/storage"
)

// DefaultCategory is created on first start so that a zero-configuration
// server lets its users create rooms: open to every local user, uploads,
// invitations and history on.
const DefaultCategory = "general"

// DefaultMaxRoomsPerUser is Config.MaxRoomsPerUser's default.
const DefaultMaxRoomsPerUser = 50

// Config is the engine's configuration.
type Config struct {
	// Store persists rooms, history and the compliance outbox.
	Store storage.RoomStore
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// DefaultHistory is how many messages a join replays when the client
	// does not say (the seed product's default is 30).
	DefaultHistory int
	// MaxHistory caps what a join may ask for.
	MaxHistory int
	// MaxUsers is the occupant limit of rooms that set none.
	MaxUsers int
	// MaxBodyLength caps a post's body, in bytes.
	MaxBodyLength int
	// GroupCommitWait is how long the group commit lets a transaction's
	// batch gather while the node is busy (its last transaction carried
	// more than one write); 0 never waits (groupcommit.go).
	GroupCommitWait time.Duration
	// MaxRoomsPerUser caps the rooms one user may have created that still
	// exist (issue 18: a user made 1,000 persistent rooms in 1.8 s); the
	// administrator is not limited. 0 means DefaultMaxRoomsPerUser.
	MaxRoomsPerUser int
	// JoinsPerMinute, ArchiveQueriesPerMinute and SearchesPerMinute are
	// per-user rates (ratelimits.go); 0 means their Default….
	JoinsPerMinute          int
	ArchiveQueriesPerMinute int
	SearchesPerMinute       int
	// Secret keys the occupant-id hash (XEP-0421 §3: stable, not
	// reversible to the real JID). It must be the same on every node of a
	// pool; nil means a random one (ids then change at restart).
	Secret []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Follows keeps topic feeds (feeds.go); nil means Store, if it
	// implements storage.Follows, and otherwise no topic feeds.
	Follows storage.Follows
	// Alerter receives topic-feed alerts; nil means none (until
	// SetAlerter).
	Alerter Alerter
	// Fence, when set, returns the host fence a post to room must carry
	// (DESIGN §4: in a pool, the claim under which this node hosts the
	// room). A post whose fence is stale fails with storage.ErrFenced and
	// the engine forgets the room's live state: another node hosts it now.
	// nil means a single node: no fencing.
	Fence func(room string) (*storage.HostFence, error)
	// Registerer receives the engine's Prometheus metrics (metrics.go);
	// nil means none are registered.
	Registerer prometheus.Registerer
	// Domain is this server's domain. Users of other domains (federated
	// servers) are remote: a category with LocalOnly refuses them. ""
	// treats every user as local.
	Domain string
	// Groups resolves the directory groups that policy lists name
	// ("group:NAME", groups.go); nil means no directory: groups cannot
	// be resolved, and policy fails closed (a denied group denies
	// everyone, an allowed group allows no one).
	Groups Groups
}

// Engine is the single-node implementation of the room engine: it hosts
// every room itself. (In a pool, package pool forwards to the node that
// hosts each room.)
type Engine struct {
	cfg Config
	log *slog.Logger
	// deliveries counts room events handed to occupants' sessions.
	deliveries atomic.Uint64

	mu    sync.Mutex
	rooms map[string]*host // rooms with occupants or being created

	commits committer // group commit of posts and occupancy events across rooms
	metrics *metrics

	feeds feeds // topic feeds: the alerter and the followers cache

	watch watchers // observers of rooms they are not in (watch.go)

	access accessCounters // what revocation did (revoke.go)

	// creating serialises the count-then-create of rooms made by users,
	// so that one user's concurrent creations cannot pass the limit
	// together (on one node; rooms are rarely created).
	creating sync.Mutex

	// Per-user rates (ratelimits.go).
	joinRate, archiveRate, searchRate *userBuckets
}

// host is one room's live state. Its mutex serialises joins, nick changes
// and posts, so every occupant sees one order, equal to history order
// (DESIGN §4).
type host struct {
	mu        sync.Mutex
	name      string
	occupants map[string]*Occupant // by nick
	byAddress map[string]string    // session address → nick
	// byRole indexes the occupants by role; quiet is the set of roles
	// whose presence the room does not broadcast (presence.go).
	byRole map[Role]map[*Occupant]struct{}
	quiet  roleSet
	// nickIndex maps the keys of the nicks in the room to them, to
	// refuse look-alikes (nick.go).
	nickIndex map[string]string
	// locked is true for a room just created by a join and not yet
	// configured (XEP-0045 §10.1.1): only its owner may be in it.
	locked bool
	// dead is set when the host is dropped from the engine's map; a
	// goroutine that then gets its lock must look the room up again.
	dead bool
	// watchers get the room's events too (watch.go).
	watchers *watchers
	// checked is what the occupants' access was last checked against
	// (revoke.go).
	checked checkedAt
	// deliveries counts the events handed to occupants' sessions (the
	// engine's, for parley_muc_deliveries_total).
	deliveries *atomic.Uint64
}

// New returns an engine. It makes sure the default category exists.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("muc: config: Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DefaultHistory <= 0 {
		cfg.DefaultHistory = 30
	}
	if cfg.MaxHistory <= 0 {
		cfg.MaxHistory = 500
	}
	if cfg.MaxUsers <= 0 {
		cfg.MaxUsers = 16000
	}
	if cfg.JoinsPerMinute <= 0 {
		cfg.JoinsPerMinute = DefaultJoinsPerMinute
	}
	if cfg.ArchiveQueriesPerMinute <= 0 {
		cfg.ArchiveQueriesPerMinute = DefaultArchiveQueriesPerMinute
	}
	if cfg.SearchesPerMinute <= 0 {
		cfg.SearchesPerMinute = DefaultSearchesPerMinute
	}
	if cfg.MaxRoomsPerUser <= 0 {
		cfg.MaxRoomsPerUser = DefaultMaxRoomsPerUser
	}
	if cfg.MaxBodyLength <= 0 {
		cfg.MaxBodyLength = 64 << 10
	}
	if cfg.Secret == nil {
		cfg.Secret = make([]byte, 32)
		_, _ = rand.Read(cfg.Secret)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Follows == nil {
		cfg.Follows, _ = cfg.Store.(storage.Follows)
	}
	e := &Engine{cfg: cfg, log: cfg.Logger.With("component", "muc"), rooms: make(map[string]*host)}
	e.metrics = newMetrics(cfg.Registerer, e)
	e.commits.batched = func(n int) { e.metrics.commitWrites.Observe(float64(n)) }
	e.commits.wait = cfg.GroupCommitWait
	e.joinRate = newUserBuckets("joins", cfg.JoinsPerMinute)
	e.archiveRate = newUserBuckets("archive queries", cfg.ArchiveQueriesPerMinute)
	e.searchRate = newUserBuckets("searches", cfg.SearchesPerMinute)
	e.SetAlerter(cfg.Alerter)
	if _, err := cfg.Store.Category(ctx, DefaultCategory); errors.Is(err, storage.ErrNotFound) {
		c := storage.Category{
			Name:           DefaultCategory,
			Description:    "Rooms any user may create",
			AllowedMembers: []string{"*"},
			Creators:       []string{"*"},
			FileUpload:     true,
			Invitations:    true,
			ChatHistory:    true,
		}
		if err := e.PutCategory(ctx, "parleyd", c); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("muc: reading the default category: %w", err)
	}
	return e, nil
}

// OccupantID is the XEP-0421 occupant id of user in room.
func (e *Engine) OccupantID(room, user string) string {
	m := hmac.New(sha256.New, e.cfg.Secret)
	m.Write([]byte(room))
	m.Write([]byte{0})
	m.Write([]byte(user))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// newID returns a random, unguessable id (stanza-ids, event ids).
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// event builds a compliance outbox event with a JSON payload.
func (e *Engine) event(typ, room, actor string, detail any) storage.OutboxEvent {
	payload, err := json.Marshal(detail)
	if err != nil {
		payload = []byte(`{}`)
	}
	return storage.OutboxEvent{EventID: newID(), Type: typ, Room: room, Actor: recordedActor(actor), Time: e.cfg.Now().UTC(), Payload: payload}
}

// logAdmin writes the access log line of an administrative action once its
// event committed: who did what to which room, and the compliance event
// that records the details. Never a payload: it may hold message text.
func (e *Engine) logAdmin(ev storage.OutboxEvent, extra ...any) {
	args := append([]any{"action", ev.Type, "room", ev.Room, "actor", ev.Actor, "event_id", ev.EventID}, extra...)
	e.log.Info("admin action", args...)
}

// lockHost returns a room's live state, locked, creating it if needed.
// A host dropped while we waited for its lock is dead: we retry with the
// new one, so a room never has two hosts.
func (e *Engine) lockHost(name string) *host {
	for {
		e.mu.Lock()
		h := e.rooms[name]
		if h == nil {
			h = &host{name: name, occupants: make(map[string]*Occupant), byAddress: make(map[string]string), watchers: &e.watch, deliveries: &e.deliveries}
			e.rooms[name] = h
		}
		e.mu.Unlock()
		h.mu.Lock()
		if !h.dead {
			return h
		}
		h.mu.Unlock()
		runtime.Gosched()
	}
}

// unlockHost releases a room's lock and forgets the live state of a room
// nobody is in. (A room whose creator left before configuring it is
// unlocked that way: it keeps its default, closed configuration.)
func (e *Engine) unlockHost(h *host) {
	if len(h.occupants) > 0 {
		h.mu.Unlock()
		return
	}
	h.dead = true
	h.mu.Unlock()
	e.mu.Lock()
	if e.rooms[h.name] == h {
		delete(e.rooms, h.name)
	}
	e.mu.Unlock()
}

// evictLocked forgets a room's live state without telling anyone: another
// node hosts the room now, and its occupants' nodes re-join them there.
// The caller holds h.mu and then calls unlockHost, which drops the host.
func (e *Engine) evictLocked(h *host) {
	e.log.Warn("room moved to another host: dropping its live state", "room", h.name, "occupants", len(h.occupants))
	h.occupants = make(map[string]*Occupant)
	h.byAddress = make(map[string]string)
	h.byRole = nil
	h.nickIndex = nil
	h.locked = false
}

// Evict forgets a room's live state without telling its occupants (see
// Config.Fence): the pool calls it when this node stops hosting the room.
func (e *Engine) Evict(room string) {
	h := e.lockHost(room)
	e.evictLocked(h)
	e.unlockHost(h)
}

// HostedRooms returns the rooms that have live state on this engine.
func (e *Engine) HostedRooms() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Collect(maps.Keys(e.rooms))
}

// standing is a user's affiliation and presenter flag in a room.
type standing struct {
	aff       Affiliation
	presenter bool
}

func (e *Engine) standingOf(ctx context.Context, room, user string) (standing, error) {
	t, err := e.standings(ctx, room)
	if err != nil {
		return standing{}, err
	}
	return e.standingFrom(ctx, t, user), nil
}

// listed reports whether user matches a category list: "*" is everyone,
// a bare domain (an entry without '@') every user of that domain, so that
// a whole federated server is walled off or let in with one entry.
func listed(list []string, user string) bool {
	return slices.Contains(list, "*") || inList(list, user)
}

// inList reports whether list names user by bare JID or by domain.
func inList(list []string, user string) bool {
	_, domain, ok := strings.Cut(user, "@")
	return slices.Contains(list, user) || ok && domain != "" && slices.Contains(list, domain)
}

// allowedBy applies a category's ethical wall: denial wins.
func allowedBy(c storage.Category, user string) bool {
	return !inList(c.DeniedMembers, user) && (len(c.AllowedMembers) == 0 || listed(c.AllowedMembers, user))
}

// remote reports whether user belongs to another server than this one
// (federation): Config.Domain is set and the user's domain is not it.
func (e *Engine) remote(user string) bool {
	if e.cfg.Domain == "" || isAdmin(user) {
		return false
	}
	_, domain, _ := strings.Cut(user, "@")
	return domain != e.cfg.Domain
}

// localOnly is the refusal of a remote user in a category that keeps its
// rooms to local users (storage.Category.LocalOnly), or nil. It does not
// name the category (issue 18: refusals told outsiders which category a
// room is in).
func (e *Engine) localOnly(c storage.Category, user string) *Error {
	if c.LocalOnly && e.remote(user) {
		return refuse(CodeForbidden, "this room is for users of %s only", e.cfg.Domain)
	}
	return nil
}

// wall is the refusal of a change that would put a user the category's
// ethical wall keeps out into one of its rooms: said to the owner or
// administrator making the change, who knows the category.
func wall(user string, c storage.Category) *Error {
	return refuse(CodeForbidden, "%s is not allowed in category %q (ethical wall)", user, c.Name)
}

// walledOut is the refusal of a user the category's ethical wall keeps
// out, said to that user: it names neither the category nor the wall, so
// that it tells nothing of the room's place or of who set the wall.
func walledOut() *Error {
	return refuse(CodeForbidden, "you are not allowed in this room")
}

// noRoom is the refusal for a room that does not exist, word for word:
// a secret room's outsiders get it too (hidden).
func noRoom(name string) *Error {
	return refuse(CodeNotFound, "no room %q", name)
}

// hidden reports whether r is a secret room (members only, not listed)
// that user may not know of: not a member, owner or admin of it, banned
// from it, or kept out by its category (wall, not federated). For them the
// room does not exist on any path: joins, posts, archive and search,
// follows, disco, configuration and SIP get what a room that does not
// exist gets (issue 18: a secret room could be detected).
func (e *Engine) hidden(ctx context.Context, r storage.Room, cat storage.Category, st standing, user string) bool {
	if r.Public || !r.MembersOnly || isAdmin(user) {
		return false
	}
	return st.aff == AffNone || st.aff == AffOutcast || !e.allowed(ctx, cat, user) || e.localOnly(cat, user) != nil
}

// outsiderRefusal is refusal, or, for an outsider of a secret room, what
// a room that does not exist gets (hidden): for the refusals of commands
// only some of a room's users may give (configure, list or change
// affiliations, destroy).
func (e *Engine) outsiderRefusal(ctx context.Context, r storage.Room, user string, refusal *Error) error {
	hide, err := e.hiddenFrom(ctx, r, user)
	if err != nil {
		return err
	}
	if hide {
		return noRoom(r.Name)
	}
	return refusal
}

// hiddenFrom loads what hidden needs: whether room r is hidden from user.
func (e *Engine) hiddenFrom(ctx context.Context, r storage.Room, user string) (bool, error) {
	if r.Public || !r.MembersOnly || isAdmin(user) {
		return false, nil
	}
	cat, err := e.category(ctx, r.Category)
	if err != nil {
		return false, err
	}
	st, err := e.standingOf(ctx, r.Name, user)
	if err != nil {
		return false, err
	}
	return e.hidden(ctx, r, cat, st, user), nil
}

// Allowed reports whether a category lets user be a member of its rooms,
// so that tools can check a whole list before changing anything.
func (e *Engine) Allowed(ctx context.Context, category, user string) (bool, error) {
	c, err := e.category(ctx, category)
	if err != nil {
		return false, err
	}
	return e.allowed(ctx, c, user), nil
}

// room loads a room, mapping absence to CodeNotFound.
func (e *Engine) room(ctx context.Context, name string) (storage.Room, error) {
	r, err := e.cfg.Store.Room(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return r, noRoom(name)
	}
	if err != nil {
		return r, fmt.Errorf("muc: reading room %s: %w", name, err)
	}
	return r, nil
}

// roomAndCategory loads a room and the category whose policy governs it.
func (e *Engine) roomAndCategory(ctx context.Context, name string) (storage.Room, storage.Category, error) {
	r, err := e.room(ctx, name)
	if err != nil {
		return r, storage.Category{}, err
	}
	c, err := e.category(ctx, r.Category)
	return r, c, err
}

func (e *Engine) category(ctx context.Context, name string) (storage.Category, error) {
	c, err := e.cfg.Store.Category(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return c, refuse(CodeNotFound, "no category %q", name)
	}
	if err != nil {
		return c, fmt.Errorf("muc: reading category %s: %w", name, err)
	}
	return c, nil
}

// snapshot copies an occupant for an event (sessions are not shared).
func (o *Occupant) snapshot() Occupant {
	s := *o
	s.Sessions = slices.Clone(o.Sessions)
	return s
}

// broadcast delivers ev to every session in the room and to the
// watchers, in the caller's order (the host lock is held).
func (h *host) broadcast(ev Event) { h.deliverOthers(nil, ev) }

// nickOf returns the nick a user is in the room as, or "".
func (h *host) nickOf(user string) string {
	for nick, o := range h.occupants {
		if o.User == user {
			return nick
		}
	}
	return ""
}

// occupantAt returns the occupant a session address is joined as.
func (h *host) occupantAt(address string) *Occupant {
	nick, ok := h.byAddress[address]
	if !ok {
		return nil
	}
	return h.occupants[nick]
}
