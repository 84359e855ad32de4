package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/internal/mysqltest"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
)

// testDSN returns the DSN of a fresh MySQL database, dropped at the end.
func testDSN(t testing.TB) string { return mysqltest.Database(t, "parley_pool_test_") }

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// testNode is one in-process pool node: its own store connection, engine
// and bus.
type testNode struct {
	name  string
	store *mysql.Store
	e     *muc.Engine
	p     *Pool
}

const testSecret = "a pool secret for the tests"

func startNodes(t testing.TB, dsn string, roles ...string) []*testNode {
	t.Helper()
	return startNodesWith(t, dsn, 1500*time.Millisecond, roles...)
}

// startNodesWith is startNodes with the given node timeout.
func startNodesWith(t testing.TB, dsn string, nodeTimeout time.Duration, roles ...string) []*testNode {
	t.Helper()
	addrs := make([]string, len(roles))
	for i := range roles {
		addrs[i] = freeAddr(t)
	}
	nodes := make([]*testNode, len(roles))
	for i, role := range roles {
		nodes[i] = startNode(t, dsn, fmt.Sprintf("node%d", i+1), addrs[i], addrs, role, nodeTimeout)
	}
	waitFor(t, 15*time.Second, "every node sees the others", func() bool {
		for _, n := range nodes {
			n.p.mu.Lock()
			live := n.p.livePeersLocked()
			n.p.mu.Unlock()
			if live != len(nodes)-1 {
				return false
			}
		}
		return true
	})
	return nodes
}

// startNode starts one node named name on the pool address addr, dialing
// peers.
func startNode(t testing.TB, dsn, name, addr string, peers []string, role string, nodeTimeout time.Duration) *testNode {
	t.Helper()
	secret := []byte("occupant ids shared by the pool")
	n := &testNode{name: name}
	var err error
	n.store, err = mysql.Open(t.Context(), dsn, contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	var p *Pool
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", n.name)
	n.e, err = muc.New(t.Context(), muc.Config{Store: n.store, Logger: log, Secret: secret,
		Fence: func(room string) (*storage.HostFence, error) { return p.Fence(room) }})
	if err != nil {
		t.Fatal(err)
	}
	p, err = Start(t.Context(), Config{
		Bus:  BusConfig{Node: n.name, Listen: addr, Peers: peers, Secret: testSecret},
		Role: role, MaxActive: 2, Store: n.store, Engine: n.e, Logger: log, ClientAddr: "clients-of-" + n.name,
		HeartbeatInterval: 200 * time.Millisecond, NodeTimeout: nodeTimeout,
		StatusInterval: 300 * time.Millisecond, DBStaleAfter: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.p = p
	t.Cleanup(func() { p.Close(); n.store.Close() })
	return n
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// crash stops a node the way kill -9 does: no goodbye, no release of its
// rooms, its bus gone.
func (n *testNode) crash() {
	p := n.p
	p.cancel()
	p.bus.close()
	p.wg.Wait()
}

type recorder struct {
	mu     sync.Mutex
	events []muc.Event
}

func (r *recorder) Deliver(ev muc.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) bodies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		if ev.Kind == muc.EventMessage {
			out = append(out, ev.Message.Body)
		}
	}
	return out
}

func (r *recorder) gone(nick string, status int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		if ev.Kind == muc.EventPresence && ev.Occupant.Nick == nick && ev.Occupant.Role == muc.RoleNone && slices.Contains(ev.Status, status) {
			return true
		}
	}
	return false
}

type client struct {
	user, address string
	rec           *recorder
	n             *testNode
}

func join(t testing.TB, n *testNode, room, user string) *client {
	t.Helper()
	c := &client{user: user + "@example.org", address: user + "@example.org/" + n.name, rec: &recorder{}, n: n}
	err := n.p.Join(t.Context(), muc.JoinRequest{Room: room, Nick: user, User: c.user, History: muc.HistoryRequest{MaxStanzas: 0},
		Session: muc.Session{Address: c.address, FrontDoor: "xmpp", Sink: c.rec}})
	if err != nil {
		t.Fatalf("%s joins %s on %s: %v", user, room, n.name, err)
	}
	return c
}

func (c *client) post(ctx context.Context, room, body string) error {
	_, err := c.n.p.Post(ctx, muc.PostRequest{Room: room, Address: c.address, FrontDoor: "xmpp", Body: body, Stanza: []byte("<message/>")})
	return err
}

func history(t testing.TB, s *mysql.Store, room string) []string {
	t.Helper()
	msgs, _, err := s.QueryHistory(t.Context(), storage.HistoryQuery{Room: room, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, m.Body)
	}
	return out
}

func createOpenRoom(t testing.TB, n *testNode, room string) {
	t.Helper()
	_, err := n.e.CreateRoom(t.Context(), muc.CreateRoomRequest{Room: storage.Room{Name: room}, Creator: muc.ActorAdmin, Privacy: muc.Open})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPoolOneRoomAcrossNodesAndFailover: occupants on three nodes see
// every post once, in history order; when the room's host dies, the room
// re-homes, the survivors stay in it, see the lost occupant leave with
// status 333, and nothing acknowledged is lost.
func TestPoolOneRoomAcrossNodesAndFailover(t *testing.T) {
	nodes := startNodes(t, testDSN(t), RoleActive, RoleActive, RoleStandby)
	// A join to a room that does not exist leaves no host record.
	err := nodes[1].p.Join(t.Context(), muc.JoinRequest{Room: "nowhere", Nick: "n", User: "n@example.org",
		Session: muc.Session{Address: "n@example.org/x", FrontDoor: "xmpp", Sink: &recorder{}}})
	if muc.CodeOf(err) != muc.CodeNotFound {
		t.Fatalf("join to a missing room: %v, want not found", err)
	}
	if f, err := nodes[0].store.RoomHost(t.Context(), "nowhere"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a missing room has a host record %+v (%v)", f, err)
	}
	createOpenRoom(t, nodes[0], "lobby")
	var clients []*client
	for i, n := range nodes {
		clients = append(clients, join(t, n, "lobby", fmt.Sprintf("user%d", i+1)))
	}
	// Standbys serve no clients in production (parleyd redirects them);
	// here the standby's client shows that its room commands still reach
	// the host.
	var acked []string
	for round := range 3 {
		for i, c := range clients {
			body := fmt.Sprintf("r%d-u%d", round, i+1)
			if err := c.post(t.Context(), "lobby", body); err != nil {
				t.Fatalf("post %s: %v", body, err)
			}
			acked = append(acked, body)
		}
	}
	waitFor(t, 5*time.Second, "every occupant has every post", func() bool {
		for _, c := range clients {
			if len(c.rec.bodies()) < len(acked) {
				return false
			}
		}
		return true
	})
	want := history(t, nodes[0].store, "lobby")
	if !slices.Equal(want, acked) {
		t.Fatalf("history %q, want %q", want, acked)
	}
	for _, c := range clients {
		if got := c.rec.bodies(); !slices.Equal(got, want) {
			t.Fatalf("%s saw %q, history is %q", c.user, got, want)
		}
	}

	// A watcher on every node (the SIP conference roster's view).
	var watchers []*recorder
	for _, n := range nodes {
		w := &recorder{}
		var first []muc.Occupant
		stop := n.p.Watch("lobby", "watcher@localhost", w, func(o []muc.Occupant) { first = o })
		t.Cleanup(stop)
		if len(first) != len(clients) {
			t.Fatalf("watch on %s: first snapshot has %d occupants, want %d", n.name, len(first), len(clients))
		}
		watchers = append(watchers, w)
	}
	f, err := nodes[0].store.RoomHost(t.Context(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	var dead *testNode
	var survivors []*client
	for i, n := range nodes {
		if n.name == f.Node {
			dead = n
		} else {
			survivors = append(survivors, clients[i])
		}
	}
	if dead == nil || dead.p.cfg.Role != RoleActive {
		t.Fatalf("room host %q is not an active node", f.Node)
	}
	deadNick := clients[slices.IndexFunc(nodes, func(n *testNode) bool { return n == dead })].user
	deadNick = deadNick[:len("userN")]
	killed := time.Now()
	dead.crash()

	// Survivors keep posting; each post either fails (not acknowledged)
	// or lands exactly once.
	var rehomed time.Duration
	for i := 0; ; i++ {
		c := survivors[i%len(survivors)]
		body := fmt.Sprintf("after-%d", i)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := c.post(ctx, "lobby", body)
		cancel()
		if err == nil {
			acked = append(acked, body)
			if rehomed == 0 {
				rehomed = time.Since(killed)
			}
		}
		if rehomed > 0 && i > 20 {
			break
		}
		if time.Since(killed) > 20*time.Second {
			t.Fatalf("no post acknowledged %s after the host died: %v", time.Since(killed), err)
		}
	}
	t.Logf("room re-homed and took posts %s after its host died", rehomed.Round(time.Millisecond))
	if rehomed > 10*time.Second {
		t.Errorf("re-home took %s, want < 10s", rehomed)
	}
	got := history(t, survivors[0].n.store, "lobby")
	if !slices.Equal(got, acked) {
		t.Fatalf("history after failover %q\nwant acknowledged posts %q", got, acked)
	}
	waitFor(t, 5*time.Second, "survivors have every post", func() bool {
		for _, c := range survivors {
			if len(c.rec.bodies()) < len(acked) {
				return false
			}
		}
		return true
	})
	for _, c := range survivors {
		if b := c.rec.bodies(); !slices.Equal(b, got) {
			t.Errorf("%s saw %q\nhistory is %q", c.user, b, got)
		}
		if !c.rec.gone(deadNick, muc.StatusNodeLost) {
			t.Errorf("%s did not see %s leave with status 333", c.user, deadNick)
		}
	}
	// Watchers on the surviving nodes follow the room to its new host.
	var late *client
	for _, c := range survivors {
		late = join(t, c.n, "lobby", "latecomer")
		break
	}
	_ = late
	for i, n := range nodes {
		if n == dead {
			continue
		}
		w := watchers[i]
		waitFor(t, 5*time.Second, "the watcher on "+n.name+" sees the latecomer", func() bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, ev := range w.events {
				if ev.Kind == muc.EventPresence && ev.Occupant.Nick == "latecomer" {
					return true
				}
			}
			return false
		})
	}
	// The standby was promoted: two actives are alive again.
	waitFor(t, 5*time.Second, "the standby is promoted", func() bool { return nodes[2].p.Active() || dead == nodes[2] })
}

// partition cuts a node off the bus while it keeps its database: it
// stops hearing the others, and they stop hearing it.
func (n *testNode) partition() { n.p.bus.close() }

// TestPoolPartitionFencing: a node cut off from the bus (but not from the
// database) stops hosting; the majority re-homes its room; from then on
// the cut-off node accepts no post, so no room ever has two hosts taking
// posts.
func TestPoolPartitionFencing(t *testing.T) {
	nodes := startNodes(t, testDSN(t), RoleActive, RoleActive, RoleActive)
	for _, n := range nodes {
		n.p.cfg.MaxActive = 3
	}
	waitFor(t, 5*time.Second, "three active nodes", func() bool {
		return nodes[0].p.Active() && nodes[1].p.Active() && nodes[2].p.Active()
	})
	createOpenRoom(t, nodes[0], "lobby")
	// The cut-off node is the room's host.
	var clients []*client
	for i, n := range nodes {
		clients = append(clients, join(t, n, "lobby", fmt.Sprintf("user%d", i+1)))
	}
	f, err := nodes[0].store.RoomHost(t.Context(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	var cut *testNode
	var x, a *client
	for i, n := range nodes {
		switch {
		case n.name == f.Node:
			cut, x = n, clients[i]
		case a == nil:
			a = clients[i]
		}
	}
	door := &movingDoor{}
	if err := cut.p.SetStanzaDoor(door); err != nil {
		t.Fatal(err)
	}
	if err := x.post(t.Context(), "lobby", "before"); err != nil {
		t.Fatal(err)
	}
	acked := []string{"before"}

	cut.partition()
	start := time.Now()
	waitFor(t, 10*time.Second, "the cut-off node knows it is in the minority", func() bool { return !cut.p.Active() })
	var rehomed time.Duration
	for time.Since(start) < 15*time.Second {
		ctx, cancel := context.WithTimeout(t.Context(), 1*time.Second)
		err := a.post(ctx, "lobby", fmt.Sprintf("majority-%d", len(acked)))
		cancel()
		if err == nil {
			acked = append(acked, fmt.Sprintf("majority-%d", len(acked)))
			rehomed = time.Since(start)
			break
		}
	}
	if rehomed == 0 {
		t.Fatal("the majority never re-homed the room")
	}
	t.Logf("room re-homed by the majority %s after the partition", rehomed.Round(time.Millisecond))
	// The cut-off node sent its clients to an active node it knows of
	// from the database, without trying to leave rooms it cannot reach.
	waitFor(t, 5*time.Second, "the cut-off node moves its clients", func() bool { return door.to() != "" })
	if to := door.to(); !strings.HasPrefix(to, "clients-of-") || to == "clients-of-"+cut.name || door.leftRooms {
		t.Fatalf("the cut-off node moved its clients to %q (leaving rooms: %v)", to, door.leftRooms)
	}
	f, err = a.n.store.RoomHost(t.Context(), "lobby")
	if err != nil || f.Node == cut.name {
		t.Fatalf("room host after the partition = %+v, %v", f, err)
	}
	// The cut-off node refuses posts, fast, and none lands.
	for i := range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := x.post(ctx, "lobby", fmt.Sprintf("minority-%d", i))
		cancel()
		if err == nil {
			t.Fatalf("the cut-off node accepted a post for a room it no longer hosts")
		}
	}
	// Its stale claim is fenced in the database itself.
	_, err = cut.store.AppendHistory(t.Context(), []storage.PostWrite{{
		History: &storage.HistoryMessage{Room: "lobby", StanzaID: "stale", Nick: "xavier", RealJID: "xavier@example.org", FrontDoor: "xmpp", Kind: storage.KindPost, Body: "stale", Stanza: []byte("<message/>")},
		Event:   storage.OutboxEvent{EventID: "stale-event", Type: "post", Room: "lobby", Actor: "xavier@example.org", Time: time.Now().UTC()},
		Fence:   &storage.HostFence{Node: cut.name, Epoch: 1},
	}})
	if !errors.Is(err, storage.ErrFenced) {
		t.Fatalf("a write under the cut-off node's old claim: %v, want ErrFenced", err)
	}
	if err := a.post(t.Context(), "lobby", "after"); err != nil {
		t.Fatal(err)
	}
	acked = append(acked, "after")
	if got := history(t, a.n.store, "lobby"); !slices.Equal(got, acked) {
		t.Fatalf("history %q, want exactly the acknowledged posts %q", got, acked)
	}
}

// movingDoor is an XMPP front door that records MoveSessions.
type movingDoor struct {
	mu        sync.Mutex
	moved     string
	leftRooms bool
}

func (d *movingDoor) DeliverLocal(string, []byte)                 {}
func (d *movingDoor) DeliverNotify(string, string, []byte)        {}
func (d *movingDoor) LocalPresences([]string, string) [][]byte    { return nil }
func (d *movingDoor) DialbackPending(string, string, string) bool { return false }
func (d *movingDoor) DeliverIQ(string, []byte) bool               { return false }
func (d *movingDoor) MoveSessions(_ context.Context, to string, leave bool) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.moved, d.leftRooms = to, leave
	return 1
}
func (d *movingDoor) to() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.moved
}

// TestPoolQuickReconnectSameAddress: a node that does not host the room
// dies; its client reconnects through another node under the same full
// JID before the host notices. When the host then removes the lost node's
// sessions, the reconnected one stays, and gets the room's posts.
func TestPoolQuickReconnectSameAddress(t *testing.T) {
	nodes := startNodes(t, testDSN(t), RoleActive, RoleActive, RoleActive)
	for _, n := range nodes {
		n.p.cfg.MaxActive = 3
	}
	createOpenRoom(t, nodes[0], "lobby")
	var clients []*client
	for i, n := range nodes {
		clients = append(clients, join(t, n, "lobby", fmt.Sprintf("user%d", i+1)))
	}
	f, err := nodes[0].store.RoomHost(t.Context(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	var victim, other *testNode
	var moved *client
	for i, n := range nodes {
		switch {
		case n.name == f.Node:
		case victim == nil:
			victim, moved = n, clients[i]
		default:
			other = n
		}
	}
	victim.crash()
	// The same user and full JID, now through another node.
	again := &client{user: moved.user, address: moved.address, rec: &recorder{}, n: other}
	err = other.p.Join(t.Context(), muc.JoinRequest{Room: "lobby", Nick: moved.address[:len("userN")], User: again.user,
		History: muc.HistoryRequest{MaxStanzas: 0}, Session: muc.Session{Address: again.address, FrontDoor: "xmpp", Sink: again.rec}})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the host has noticed the loss, then post.
	host := nodes[slices.IndexFunc(nodes, func(n *testNode) bool { return n.name == f.Node })]
	waitFor(t, 10*time.Second, "the host drops the lost node", func() bool {
		host.p.mu.Lock()
		defer host.p.mu.Unlock()
		return !host.p.aliveLocked(victim.name)
	})
	time.Sleep(500 * time.Millisecond) // its onChange runs
	if err := again.post(t.Context(), "lobby", "still here"); err != nil {
		t.Fatalf("the reconnected client cannot post: %v", err)
	}
	waitFor(t, 5*time.Second, "the reconnected client gets its own post", func() bool {
		return slices.Contains(again.rec.bodies(), "still here")
	})
	if again.rec.gone(moved.address[:len("userN")], muc.StatusNodeLost) {
		t.Fatal("the reconnected client was told it left with 333")
	}
}

// TestPoolGracefulLeave: a node that stops (SIGTERM, Close) says goodbye:
// the others forget it at once, not after the node timeout (a minute
// here, longer than the test waits), and its room moves on its next use.
func TestPoolGracefulLeave(t *testing.T) {
	nodes := startNodesWith(t, testDSN(t), time.Minute, RoleActive, RoleActive)
	createOpenRoom(t, nodes[0], "lobby")
	a := join(t, nodes[0], "lobby", "anna")
	b := join(t, nodes[1], "lobby", "bert")
	f, err := nodes[0].store.RoomHost(t.Context(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	leaving, staying, c := nodes[0], nodes[1], b
	if f.Node == nodes[1].name {
		leaving, staying, c = nodes[1], nodes[0], a
	}
	leaving.p.Close()
	waitFor(t, 10*time.Second, "the staying node forgets the one that left", func() bool {
		staying.p.mu.Lock()
		defer staying.p.mu.Unlock()
		_, seen := staying.p.view[leaving.name]
		return !seen
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.post(ctx, "lobby", "after the goodbye"); err != nil {
		t.Fatalf("post after the host left: %v", err)
	}
	if f, err := staying.store.RoomHost(t.Context(), "lobby"); err != nil || f.Node != staying.name {
		t.Fatalf("room host after the goodbye = %+v, %v; want %s", f, err, staying.name)
	}
}

// roomHostedBy returns a room name that host, of the two nodes, is the
// one to claim (rendezvous hashing).
func roomHostedBy(host, other *testNode) string {
	for i := 0; ; i++ {
		if r := fmt.Sprintf("lobby%d", i); rendezvous(r, map[string]bool{host.name: true, other.name: true}) == host.name {
			return r
		}
	}
}

// TestPoolHostRestartedWithinTimeout (found by the chaos run, make chaos):
// a room's host is killed and started again, as the same node, before the
// others count it lost, and it claims the room again before it sees them
// on the bus, so its gathering of the room asks nobody. The other node's
// occupant must be declared to the new incarnation once the two see each
// other, and its posts accepted again: not "not in the room" for ever.
func TestPoolHostRestartedWithinTimeout(t *testing.T) {
	dsn := testDSN(t)
	// A node timeout longer than the test: the restart is never a loss.
	nodes := startNodesWith(t, dsn, time.Minute, RoleActive, RoleActive)
	host, other := nodes[0], nodes[1]
	room := roomHostedBy(host, other)
	createOpenRoom(t, host, room)
	bert := join(t, other, room, "bert")
	if f, err := host.store.RoomHost(t.Context(), room); err != nil || f.Node != host.name {
		t.Fatalf("room host = %+v, %v; want %s", f, err, host.name)
	}
	if err := bert.post(t.Context(), room, "before"); err != nil {
		t.Fatal(err)
	}

	host.crash()
	// The new incarnation dials nobody: the other node's route to it is
	// tried again within a second or so, after the claim below. (It is
	// active alone: the smallest name of the two breaks the tie.)
	addr := host.p.cfg.Bus.Listen
	again := startNode(t, dsn, host.name, addr, []string{addr}, RoleActive, time.Minute)
	anna := join(t, again, room, "anna")
	if peers := again.p.livePeers(); len(peers) > 0 {
		t.Skipf("the other node reached the new incarnation (%v) before it claimed the room: the race was not reproduced", peers)
	}
	waitFor(t, 20*time.Second, "the two nodes see each other again", func() bool {
		return len(again.p.livePeers()) == 1
	})
	var lastErr error
	defer func() {
		if t.Failed() {
			t.Logf("bert's last post error: %v", lastErr)
		}
	}()
	waitFor(t, 20*time.Second, "bert, on the other node, may post to the re-claimed room", func() bool {
		lastErr = bert.post(t.Context(), room, "after")
		return lastErr == nil
	})
	waitFor(t, 5*time.Second, "anna, on the new incarnation, gets bert's post", func() bool {
		return slices.Contains(anna.rec.bodies(), "after")
	})
}

// A node restarted within the node timeout (kill -9, then started again
// at once, as a supervisor does) is never counted lost, but its sessions
// died with the killed process: the rooms hosted elsewhere remove them
// (333) as soon as the new incarnation is heard, not a node timeout (here
// a minute) later; the new incarnation's own sessions stay. Found by the
// seed-scale pool run (scripts/bench-pool.sh, RECONNECT=home), where the
// killed node's 19,500 sessions stayed in their rooms for 215 s.
func TestPoolMemberRestartedWithinTimeout(t *testing.T) {
	dsn := testDSN(t)
	nodes := startNodesWith(t, dsn, time.Minute, RoleActive, RoleActive)
	host, other := nodes[0], nodes[1]
	room := roomHostedBy(host, other)
	createOpenRoom(t, host, room)
	anna := join(t, host, room, "anna")
	join(t, other, room, "bert")
	if f, err := host.store.RoomHost(t.Context(), room); err != nil || f.Node != host.name {
		t.Fatalf("room host = %+v, %v; want %s", f, err, host.name)
	}

	// The host hears bert's node once more after bert joined: a session
	// declared within a heartbeat of its node's death may be the new
	// incarnation's, and is left alone.
	joined := time.Now()
	var before int64
	waitFor(t, 5*time.Second, "a heartbeat of bert's node after bert joined", func() bool {
		host.p.mu.Lock()
		defer host.p.mu.Unlock()
		pe := host.p.view[other.name]
		before = pe.hb.Started
		return pe.seen.After(joined)
	})
	other.crash()
	addr := other.p.cfg.Bus.Listen
	again := startNode(t, dsn, other.name, addr, []string{host.p.cfg.Bus.Listen, addr}, RoleActive, time.Minute)
	waitFor(t, 20*time.Second, "the host hears the new incarnation", func() bool {
		host.p.mu.Lock()
		defer host.p.mu.Unlock()
		return host.p.view[other.name].hb.Started != before
	})
	waitFor(t, 20*time.Second, "anna sees bert, whose process died, leave with 333", func() bool {
		return anna.rec.gone("bert", muc.StatusNodeLost)
	})
	carl := join(t, again, room, "carl")
	if err := anna.post(t.Context(), room, "after"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "carl, on the new incarnation, gets anna's post", func() bool {
		return slices.Contains(carl.rec.bodies(), "after")
	})
	if anna.rec.gone("carl", muc.StatusNodeLost) {
		t.Error("carl, on the new incarnation, was removed too")
	}
}

// TestPoolNodeBackAfterOneWayLoss (found by the chaos run, make chaos):
// a room's host counts another node lost (its heartbeats did not arrive:
// packets dropped one way) and removes that node's occupant from the room;
// the notice of the removal is lost on the way too, while the other node
// kept hearing the host and so never saw the room change. Once the host
// hears the node again, it must have the node declare its sessions again,
// or the occupant, in the room as far as it and its node know, is refused
// as not in the room for ever.
func TestPoolNodeBackAfterOneWayLoss(t *testing.T) {
	// Three nodes: the host keeps its majority without the other one.
	nodes := startNodesWith(t, testDSN(t), time.Minute, RoleActive, RoleActive, RoleActive)
	for _, n := range nodes {
		n.p.cfg.MaxActive = 3
	}
	createOpenRoom(t, nodes[0], "lobby")
	anna := join(t, nodes[0], "lobby", "anna")
	bert := join(t, nodes[1], "lobby", "bert")
	f, err := nodes[0].store.RoomHost(t.Context(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	host, other, c := nodes[0], nodes[1], bert
	if f.Node == nodes[1].name {
		host, other, c = nodes[1], nodes[0], anna
	}
	nick := c.user[:4]
	if err := c.post(t.Context(), "lobby", "before"); err != nil {
		t.Fatal(err)
	}
	// The other node loses what reaches its occupant (the removal's
	// notice) ...
	other.p.mu.Lock()
	sink := other.p.sinks[c.address]
	delete(other.p.sinks, c.address)
	other.p.mu.Unlock()
	// ... while the host stops hearing it for a moment: it counts it lost
	// (as its node timeout would) and removes its occupant.
	for attempt := 0; ; attempt++ {
		host.p.mu.Lock()
		pe := host.p.view[other.name]
		pe.seen = time.Now().Add(-time.Hour)
		host.p.view[other.name] = pe
		host.p.mu.Unlock()
		host.p.recompute()
		host.p.onChange()
		if !slices.ContainsFunc(host.e.Occupants("lobby"), func(o muc.Occupant) bool { return o.Nick == nick }) {
			break
		}
		if attempt == 20 {
			t.Fatal("the host never removed the other node's occupant (its heartbeats kept arriving)")
		}
	}
	time.Sleep(500 * time.Millisecond) // the notice is dropped
	other.p.mu.Lock()
	other.p.sinks[c.address] = sink
	other.p.mu.Unlock()
	waitFor(t, 10*time.Second, "the host hears the other node again", func() bool {
		host.p.mu.Lock()
		defer host.p.mu.Unlock()
		return host.p.aliveLocked(other.name)
	})
	waitFor(t, 10*time.Second, "the other node's occupant may post again", func() bool {
		return c.post(t.Context(), "lobby", "still here") == nil
	})
}

// TestPoolStalePostNotDelivered (found by the chaos run, make chaos): a
// room's previous host, slow or cut off, may send a post it committed
// before the new host's claim after the new host's later posts have
// reached a session on another node. Delivered then, it would reach that
// session out of the room's order (history's); it is dropped instead (the
// archive has it).
func TestPoolStalePostNotDelivered(t *testing.T) { checkStalePostDropped(t, false) }

// The same for a session on the room's new host (found by the chaos run,
// one-order violated after a drop of the pool link: the new host's own
// occupants got posts 60-62 from the previous host after 63): the new
// host delivers to its own sessions directly, and those deliveries count
// too, so a stale post arriving later from another node is dropped.
func TestPoolStalePostNotDeliveredOnHost(t *testing.T) { checkStalePostDropped(t, true) }

// checkStalePostDropped has a session in a room (on the room's host with
// onHost, else on the other node) get two posts, then sends it what a
// previous host would still send over the bus: post 1 again, then post 3.
func checkStalePostDropped(t *testing.T, onHost bool) {
	nodes := startNodes(t, testDSN(t), RoleActive, RoleActive)
	createOpenRoom(t, nodes[0], "lobby")
	clients := []*client{join(t, nodes[0], "lobby", "anna"), join(t, nodes[1], "lobby", "bert")}
	f, err := nodes[0].store.RoomHost(t.Context(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	hostIdx := 0
	if f.Node == nodes[1].name {
		hostIdx = 1
	}
	readerIdx := 1 - hostIdx // the session whose node receives the stale post
	if onHost {
		readerIdx = hostIdx
	}
	sender, reader, c := nodes[1-readerIdx], nodes[readerIdx], clients[readerIdx]
	for _, body := range []string{"one", "two"} {
		if err := c.post(t.Context(), "lobby", body); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the reader has both posts", func() bool { return len(c.rec.bodies()) == 2 })
	send := func(seq int64, body string) {
		b, err := json.Marshal(eventMsg{Address: c.address, Event: muc.Event{Kind: muc.EventMessage, Room: "lobby",
			Message: &storage.HistoryMessage{Room: "lobby", Seq: seq, Body: body}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.p.bus.nc.Publish(fmt.Sprintf(subjEventsFmt, reader.name), b); err != nil {
			t.Fatal(err)
		}
	}
	send(1, "stale")
	send(3, "three")
	waitFor(t, 5*time.Second, "the reader gets post 3", func() bool { return slices.Contains(c.rec.bodies(), "three") })
	if got := c.rec.bodies(); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("the reader got %q, want the posts in the room's order, the stale one left out", got)
	}
}

// TestPoolStalledHostGivesUpRooms (found by the chaos run, make chaos): a
// room's host stalls for longer than the node timeout (SIGSTOP in the
// chaos run; here its state is locked), another node claims the room
// meanwhile, and when the host wakes up the heartbeats queued on the bus
// make it look as if it had never been away. It must notice the claim and
// give the room up: two nodes must not both think they host it.
func TestPoolStalledHostGivesUpRooms(t *testing.T) {
	// Three nodes: the host keeps its majority whatever the order it
	// reads its queued heartbeats in.
	nodes := startNodes(t, testDSN(t), RoleActive, RoleActive, RoleActive)
	for _, n := range nodes {
		n.p.cfg.MaxActive = 3
	}
	createOpenRoom(t, nodes[0], "lobby")
	join(t, nodes[0], "lobby", "anna")
	f, err := nodes[0].store.RoomHost(t.Context(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	host := nodes[slices.IndexFunc(nodes, func(n *testNode) bool { return n.name == f.Node })]
	other := nodes[0]
	if other == host {
		other = nodes[1]
	}
	hosts := func() bool {
		host.p.mu.Lock()
		defer host.p.mu.Unlock()
		return host.p.hosted["lobby"] != nil
	}
	// The host stalls; meanwhile the other node takes the room.
	host.p.mu.Lock()
	if _, err := other.store.ClaimRoom(t.Context(), "lobby", other.name, func(string) bool { return true }); err != nil {
		host.p.mu.Unlock()
		t.Fatal(err)
	}
	time.Sleep(2 * host.p.cfg.NodeTimeout)
	host.p.mu.Unlock()
	waitFor(t, 10*time.Second, "the stalled host gives the room up", func() bool { return !hosts() })
}

// TestPoolClaimedRoomGivenUp (found by the chaos run, make chaos): a node
// takes a room from a host it thinks lost while that host is in fact back
// (it had been stopped past the node timeout). The old host must learn of
// the claim and give the room up, not go on hosting it in memory.
func TestPoolClaimedRoomGivenUp(t *testing.T) {
	// Three nodes: the other keeps its majority without the host.
	nodes := startNodes(t, testDSN(t), RoleActive, RoleActive, RoleActive)
	for _, n := range nodes {
		n.p.cfg.MaxActive = 3
	}
	createOpenRoom(t, nodes[0], "lobby")
	join(t, nodes[0], "lobby", "anna")
	f, err := nodes[0].store.RoomHost(t.Context(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	host, other := nodes[0], nodes[1]
	if f.Node == nodes[1].name {
		host, other = nodes[1], nodes[0]
	}
	// The other node does not hear the host for a moment, and takes the
	// room.
	other.p.mu.Lock()
	pe := other.p.view[host.name]
	pe.seen = time.Now().Add(-time.Hour)
	other.p.view[host.name] = pe
	other.p.mu.Unlock()
	other.p.recompute()
	if err := other.p.ensureHosting(t.Context(), "lobby", false); err != nil {
		t.Fatalf("the other node claims the room: %v", err)
	}
	waitFor(t, 10*time.Second, "the old host gives the room up", func() bool {
		host.p.mu.Lock()
		defer host.p.mu.Unlock()
		return host.p.hosted["lobby"] == nil
	})
}

// TestPoolUnannouncedClaimGivenUp (found by the chaos run, make chaos): a
// room is claimed from its host and the announcement never reaches it (the
// bus drops messages while a route is down, as after a SIGSTOP). The host
// must still notice, from the records, and give the room up.
func TestPoolUnannouncedClaimGivenUp(t *testing.T) {
	nodes := startNodes(t, testDSN(t), RoleActive, RoleActive)
	createOpenRoom(t, nodes[0], "lobby")
	join(t, nodes[0], "lobby", "anna")
	f, err := nodes[0].store.RoomHost(t.Context(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	host, other := nodes[0], nodes[1]
	if f.Node == nodes[1].name {
		host, other = nodes[1], nodes[0]
	}
	// Straight in the database: nothing is announced.
	if _, err := other.store.ClaimRoom(t.Context(), "lobby", other.name, func(string) bool { return true }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the host gives the room up", func() bool {
		host.p.mu.Lock()
		defer host.p.mu.Unlock()
		return host.p.hosted["lobby"] == nil
	})
}
