package interop

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// poolOccupant is what testdata/pool_occupant.py reports.
type poolOccupant struct {
	Nick          string      `json:"nick"`
	Received      [][2]string `json:"received"`  // [body, stanza-id], live, in order
	CaughtUp      [][2]string `json:"caught_up"` // from MAM after reconnecting
	ReconnectedAt int         `json:"reconnected_at"`
	Sent          int         `json:"sent"`
	Refused       [][4]string `json:"refused"`    // [body, error condition, error type, Unix time]
	MAM           [][2]string `json:"mam"`        // [body, stanza-id]: the whole archive, with --mam
	Unanswered    []string    `json:"unanswered"` // sent to the killed node, never answered
}

func (o poolOccupant) bodies(list [][2]string) []string {
	var out []string
	for _, m := range list {
		out = append(out, m[0])
	}
	return out
}

// poolPost is a post as the room's history or the compliance database has
// it.
type poolPost struct {
	Seq      int64 // history's order; 0 in the compliance database
	StanzaID string
	Body     string
	EventID  string // the compliance event's id
}

func (p poolPost) String() string {
	if p.EventID != "" {
		return fmt.Sprintf("%q (stanza-id %s, compliance event %s)", p.Body, p.StanzaID, p.EventID)
	}
	return fmt.Sprintf("%q (seq %d, stanza-id %s)", p.Body, p.Seq, p.StanzaID)
}

// roomHistory reads the room's history in order.
func roomHistory(t *testing.T, db *sql.DB, room string) []poolPost {
	return readPosts(t, db, func(p *poolPost) []any { return []any{&p.Seq, &p.StanzaID, &p.Body} },
		`SELECT seq, stanza_id, body FROM history WHERE room = ? ORDER BY seq`, room)
}

// capturedPosts reads the room's post events from the compliance database.
func capturedPosts(t *testing.T, cdb *sql.DB, room string) []poolPost {
	return readPosts(t, cdb, func(p *poolPost) []any { return []any{&p.EventID, &p.StanzaID, &p.Body} },
		`SELECT event_id, JSON_VALUE(payload, '$.stanza_id'), JSON_VALUE(payload, '$.body')
		FROM compliance_events WHERE type = 'post' AND room = ? ORDER BY seq`, room)
}

// readPosts runs query and scans each row into the fields of a post.
func readPosts(t *testing.T, db *sql.DB, fields func(*poolPost) []any, query string, args ...any) []poolPost {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []poolPost
	for rows.Next() {
		var p poolPost
		if err := rows.Scan(fields(&p)...); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// complianceDiff compares the compliance database's posts with history:
// the posts captured but not in history, captured more than once, and in
// history but not captured (yet).
func complianceDiff(history, captured []poolPost) (extra, twice, missing []poolPost) {
	inHistory := map[poolPost]bool{}
	for _, h := range history {
		inHistory[poolPost{StanzaID: h.StanzaID, Body: h.Body}] = true
	}
	times := map[string]int{}
	for _, c := range captured {
		times[c.StanzaID]++
		if times[c.StanzaID] == 2 {
			twice = append(twice, c)
		}
		if !inHistory[poolPost{StanzaID: c.StanzaID, Body: c.Body}] {
			extra = append(extra, c)
		}
	}
	for _, h := range history {
		if times[h.StanzaID] == 0 {
			missing = append(missing, h)
		}
	}
	return extra, twice, missing
}

// poolNode is a parleyd in the test's pool, with its status as the pool
// database has it.
type poolNode struct {
	*server
	name string
	role string
}

type nodeStatus struct {
	Node   string `json:"Node"`
	Active bool   `json:"Active"`
	Peers  int    `json:"Peers"`
}

func nodeStatuses(t *testing.T, db *sql.DB) map[string]nodeStatus {
	t.Helper()
	rows, err := db.Query(`SELECT status FROM pool_nodes WHERE seen_at > NOW(6) - INTERVAL 3 SECOND`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]nodeStatus{}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		var st nodeStatus
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		out[st.Node] = st
	}
	return out
}

func poolWait(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %s waiting until %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// TestPoolFailover is issue 6's pool test: four active parleyd nodes and
// a standby on one MariaDB, a slixmpp occupant on every active node in one
// room posting continuously; once all four have posted, the room's host is
// killed with SIGKILL. The standby must be promoted, the room re-homed in
// under 10 s; every post must get an answer (its reflection or an error),
// every post reflected to its sender be in history exactly once, every
// occupant must have seen the posts in history order and every surviving
// occupant all of those committed after the re-home; the killed node's
// occupant logs in on another node and MAM gives it what it missed; the
// compliance database has each post of history once, and nothing else.
//
// A loaded machine can leave the room's host seconds behind the posts, so
// nothing is compared until it has caught up: each occupant stops posting,
// waits for the answer to every post it sent, and stays in the room until
// it has seen the last post of history (pool_occupant.py).
func TestPoolFailover(t *testing.T) {
	requireSlixmpp(t)
	content := mysqlStorage(t)
	comp := mysqlStorage(t)
	db, err := sql.Open("mysql", strings.TrimPrefix(content, "mysql:"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cdb, err := sql.Open("mysql", strings.TrimPrefix(comp, "mysql:"))
	if err != nil {
		t.Fatal(err)
	}
	defer cdb.Close()

	var nodes []*poolNode
	for i := range 5 {
		n := &poolNode{server: newServer(t, content), name: fmt.Sprintf("n%d", i+1), role: "active"}
		if i == 4 {
			n.role = "standby"
		}
		nodes = append(nodes, n)
	}
	peers := poolAddrs(t, len(nodes))
	secret := randomHex(t, 16)
	for i, n := range nodes {
		n.args = []string{"--pool", peers[i], "--pool-peers", strings.Join(peers, ","), "--node", n.name,
			"--node-role", n.role, "--pool-secret", secret, "--compliance-storage", comp,
			"--pool-client-addr", fmt.Sprintf("127.0.0.1:%d", n.c2s), "--compliance-adapter", "none"}
	}
	for _, n := range nodes {
		n.start()
	}
	poolWait(t, 20*time.Second, "every node sees the four others and four are active", func() bool {
		st := nodeStatuses(t, db)
		active := 0
		for _, s := range st {
			if s.Peers != 4 {
				return false
			}
			if s.Active {
				active++
			}
		}
		return len(st) == 5 && active == 4 && !st["n5"].Active
	})
	// The standby takes no clients: it names an active node instead.
	if got := streamOpen(t, nodes[4].c2s); !strings.Contains(got, "see-other-host") || !strings.Contains(got, "127.0.0.1:") {
		t.Fatalf("the standby answered a new stream with %q; want <see-other-host/> naming an active node", got)
	} else {
		t.Logf("the standby redirects: %s", got)
	}
	var users []account
	for i := range 4 {
		u := account{fmt.Sprintf("user%d", i+1), "secret-" + randomHex(t, 4)}
		nodes[0].addUser(u.name, u.password)
		users = append(users, u)
	}
	nodes[0].mustCtl("room", "create", "lobby", "--privacy", "open")
	room := "lobby@conference." + domain

	// One occupant per active node; each falls back to the next node.
	dir := t.TempDir()
	occ := &occupants{t: t}
	for i := range 4 {
		fallback := nodes[(i+1)%4]
		occ.start("occupant on "+nodes[i].name, filepath.Join(dir, fmt.Sprintf("occupant%d.json", i+1)),
			"--host", "127.0.0.1", "--port", strconv.Itoa(nodes[i].c2s), "--domain", domain,
			"--user", users[i].name+":"+users[i].password, "--log", filepath.Join(dir, fmt.Sprintf("occupant%d.log", i+1)),
			"--room", room, "--nick", users[i].name, "--duration", "16", "--interval", "0.2",
			"--fallback-port", strconv.Itoa(fallback.c2s))
	}
	// Whatever happens below, the scripts are told to stop and waited
	// for (the stop file names no post then: they stop at once).
	defer occ.stop("")

	// Posts flow, from every occupant; then the room's host dies.
	var host string
	poolWait(t, time.Minute, "the room is hosted and has 20 posts, from all four occupants", func() bool {
		var n, posters int
		_ = db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT nick) FROM history WHERE room = 'lobby'`).Scan(&n, &posters)
		_ = db.QueryRow(`SELECT node FROM room_hosts WHERE room = 'lobby'`).Scan(&host)
		return n >= 20 && posters == 4 && host != ""
	})
	var victim *poolNode
	for _, n := range nodes {
		if n.name == host {
			victim = n
		}
	}
	if victim == nil || victim.role != "active" {
		t.Fatalf("room host %q is not an active node", host)
	}
	killed := time.Now()
	victim.kill()
	t.Logf("killed the room's host %s with SIGKILL", host)
	// The new host's claim fences the old one: once another node holds
	// the room, no post of the killed host can commit any more (its
	// fence check would wait for the claim and fail). Every post after
	// the last seq read with the new host record was committed under the
	// new claim. One statement: one consistent read of both.
	var rehomedAtSeq int64
	var claimed time.Duration
	poolWait(t, 15*time.Second, "another node hosts the room", func() bool {
		var now string
		_ = db.QueryRow(`SELECT node, (SELECT COALESCE(MAX(seq), 0) FROM history WHERE room = 'lobby')
			FROM room_hosts WHERE room = 'lobby'`).Scan(&now, &rehomedAtSeq)
		claimed = time.Since(killed)
		return now != "" && now != host
	})
	var firstPost time.Duration
	poolWait(t, 15*time.Second, "the re-homed room takes posts", func() bool {
		var n int64
		_ = db.QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM history WHERE room = 'lobby'`).Scan(&n)
		firstPost = time.Since(killed)
		return n > rehomedAtSeq
	})
	t.Logf("re-home: the room was claimed %s and took its next post %s after the kill (seq %d was the last before)",
		claimed.Round(time.Millisecond), firstPost.Round(time.Millisecond), rehomedAtSeq)
	if firstPost > 10*time.Second {
		t.Errorf("the room took %s to take posts again, want < 10s", firstPost)
	}
	poolWait(t, 10*time.Second, "the standby is promoted", func() bool { return nodeStatuses(t, db)["n5"].Active })
	if got := streamOpen(t, nodes[4].c2s); strings.Contains(got, "see-other-host") {
		t.Errorf("the promoted standby still redirects: %s", got)
	}

	// Every occupant has stopped posting and had an answer to every post
	// (or its script failed). Then history holds every post there will
	// be, and the occupants stay until they have seen its last.
	occ.waitPosted()
	settled := roomHistory(t, db, "lobby")
	if len(settled) == 0 {
		t.Fatal("the room's history is empty")
	}
	occ.stop(settled[len(settled)-1].Body)

	// History: each post once, in one order. It is read again: a post
	// whose sender was told its outcome is unknown may commit late.
	history := roomHistory(t, db, "lobby")
	index := historyIndex(t, history)
	if len(history) > len(settled) {
		t.Logf("%d posts committed after every occupant had its answers (sent before, outcome unknown to the sender): %v",
			len(history)-len(settled), history[len(settled):])
	}

	for i := range occ.outs {
		o, ok := occ.report(i)
		if !ok {
			continue
		}
		live := o.bodies(o.Received)
		onVictim := nodes[i] == victim
		// Every post reflected to its sender is in history once.
		for _, body := range live {
			if strings.HasPrefix(body, o.Nick+"-") {
				if _, ok := index[body]; !ok {
					t.Errorf("%s: its post %q was reflected but is not in history", o.Nick, body)
				}
			}
		}
		// What it saw live is in history order (each session's part).
		parts := [][]string{live}
		if o.ReconnectedAt >= 0 {
			parts = [][]string{live[:o.ReconnectedAt], live[o.ReconnectedAt:]}
		}
		for _, part := range parts {
			last := -1
			for _, body := range part {
				j, ok := index[body]
				if !ok {
					t.Errorf("%s saw %q, which is not in history", o.Nick, body)
					continue
				}
				if j <= last {
					t.Errorf("%s saw %q out of history order", o.Nick, body)
				}
				last = j
			}
		}
		seen := map[string]bool{}
		for _, body := range live {
			seen[body] = true
		}
		// A refused post may still be in history: the error said its
		// host was lost while it had the post (runsOnce in pool/rpc.go).
		var refusedKept []string
		for _, r := range o.Refused {
			if _, ok := index[r[0]]; ok {
				refusedKept = append(refusedKept, r[0])
			}
		}
		if len(refusedKept) > 0 {
			t.Logf("%s: refused but committed: %v", o.Nick, refusedKept)
		}
		if !onVictim {
			// A survivor was in the room from before the kill until it
			// saw the last post of the settled history: it saw every post
			// committed under the new host.
			missed := 0
			for _, p := range settled {
				if p.Seq > rehomedAtSeq && !seen[p.Body] {
					missed++
					if missed <= 5 {
						t.Errorf("survivor %s did not see %v, committed after the re-home", o.Nick, p)
					}
				}
			}
			t.Logf("%s (survivor on %s): sent %d, saw %d live, %d refused %v; missed %d",
				o.Nick, nodes[i].name, o.Sent, len(live), len(o.Refused), o.Refused, missed)
			continue
		}
		// The victim's occupant came back on another node; MAM gave it
		// everything after the last message it saw.
		if o.ReconnectedAt < 0 {
			t.Errorf("%s (on the killed node) did not reconnect", o.Nick)
			continue
		}
		for _, body := range o.bodies(o.CaughtUp) {
			seen[body] = true
		}
		first := 0 // from its first live message, or from the start
		if len(live) > 0 {
			first = index[live[0]]
		}
		missing := 0
		for _, p := range settled[min(first, len(settled)):] {
			if !seen[p.Body] {
				missing++
				if missing <= 5 {
					t.Errorf("%s (reconnected) has neither live nor from MAM: %v", o.Nick, p)
				}
			}
		}
		t.Logf("%s (on the killed node): sent %d, saw %d live, %d from MAM after reconnecting; missing %d; "+
			"%d sent to the killed node unanswered; %d refused %v",
			o.Nick, o.Sent, len(live), len(o.CaughtUp), missing, len(o.Unanswered), len(o.Refused), o.Refused)
	}

	// The compliance database has each post of history once, and no other
	// post: compared with history as read at the same time, until the
	// worker has copied everything.
	history, captured := checkCompliance(t, db, cdb, "lobby", 2*time.Minute)
	t.Logf("history: %d posts; compliance: %d post events; killed host %s", len(history), len(captured), host)

	// The lost node comes back: it is active again and the standby steps
	// back.
	victim.start()
	back := poolWait(t, 20*time.Second, "the standby steps back for the returning node", func() bool {
		st := nodeStatuses(t, db)
		return st[victim.name].Active && !st["n5"].Active
	})
	t.Logf("%s is back and active; n5 is a standby again (%s)", victim.name, back.Round(time.Millisecond))
}

// streamOpen opens an XMPP client stream on port and returns what the
// server says in the first second.
func streamOpen(t *testing.T, port int) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", domain)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

// TestPoolChatAcrossNodes runs the slixmpp chat scenario with alice on one
// node of a pool and bob on another: 1:1 messages to bare and full JIDs,
// roster pushes, subscriptions, presence, offline messages all cross the
// nodes.
func TestPoolChatAcrossNodes(t *testing.T) {
	requireSlixmpp(t)
	nodes := startTwoNodePool(t)
	users := []account{{"alice", "alice-" + randomHex(t, 4)}, {"bob", "bob-" + randomHex(t, 4)}}
	for _, u := range users {
		nodes[0].addUser(u.name, u.password)
	}
	nodes[0].runScript("chat_offline_roster_ping.py", users, "--bob-port", strconv.Itoa(nodes[1].c2s))
}

// poolAddrs returns a pool address per node: 127.0.1.N (loopback; no
// other test listens there) and a port below the ephemeral range that
// freePorts and the clients' sockets take theirs from, so no parallel test
// can take it between now and the node's start.
func poolAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		host := fmt.Sprintf("127.0.1.%d", i+1)
		for attempt := 0; ; attempt++ {
			port := 20000 + mrand.IntN(10000)
			l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", host, port))
			if err != nil {
				if attempt > 100 {
					t.Fatalf("no free pool port on %s: %v", host, err)
				}
				continue
			}
			l.Close()
			out = append(out, l.Addr().String())
			break
		}
	}
	return out
}

// startTwoNodePool starts two active parleyd nodes of one pool on a fresh
// MariaDB database, with extra flags for both, and waits until they see
// each other.
func startTwoNodePool(t *testing.T, extra ...string) []*server {
	t.Helper()
	return startPool(t, 2, func(_ int, s *server) { s.args = append(s.args, extra...) })
}

// startPool starts n active parleyd nodes c1, c2, … of one pool on a fresh
// MariaDB database, each prepared by configure (its domain, more flags)
// before it starts, and waits until they all see each other.
func startPool(t *testing.T, n int, configure func(i int, s *server)) []*server {
	t.Helper()
	content := mysqlStorage(t)
	db, err := sql.Open("mysql", strings.TrimPrefix(content, "mysql:"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var nodes []*server
	for range n {
		nodes = append(nodes, newServer(t, content))
	}
	peers := poolAddrs(t, len(nodes))
	secret := randomHex(t, 16)
	for i, s := range nodes {
		s.args = []string{"--pool", peers[i], "--pool-peers", strings.Join(peers, ","), "--node", fmt.Sprintf("c%d", i+1),
			"--pool-secret", secret, "--compliance=false", "--compliance-adapter", "none"}
		configure(i, s)
		s.start()
	}
	poolWait(t, 20*time.Second, "the nodes see each other", func() bool {
		st := nodeStatuses(t, db)
		if len(st) != n {
			return false
		}
		for _, s := range st {
			if s.Peers != n-1 {
				return false
			}
		}
		return true
	})
	return nodes
}

// TestPoolBaresipAndSlixmpp: baresip registered on one node and slixmpp
// on the other share a room (baresip posts, the slixmpp occupant reads it
// and replies, baresip gets the reply) and exchange 1:1 messages.
func TestPoolBaresipAndSlixmpp(t *testing.T) {
	bin := requireBaresip(t)
	requireSlixmpp(t)
	nodes := startTwoNodePool(t)
	alice, bob := addAliceAndBob(nodes[0])
	nodes[0].mustCtl("room", "create", "lobby", "--privacy", "open")
	baresipPostsToRoom(t, bin, nodes[0], nodes[1], alice, bob, "lobby",
		"hello room from baresip on the other node", "welcome across the pool, baresip")
}

// TestPoolBaresipMessagesSlixmppUser: a MESSAGE from baresip (alice,
// registered on one node) to sip:bob@DOMAIN reaches bob's slixmpp client on
// the other node, and bob's reply reaches baresip.
func TestPoolBaresipMessagesSlixmppUser(t *testing.T) {
	bin := requireBaresip(t)
	requireSlixmpp(t)
	nodes := startTwoNodePool(t)
	alice, bob := addAliceAndBob(nodes[0])
	baresipMessagesSlixmpp(t, bin, nodes[0], nodes[1], alice, bob,
		"hello bob, this is baresip on the other node", "hello alice, from slixmpp across the pool")
}
