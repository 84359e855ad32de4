package interop

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
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
}

func (o poolOccupant) bodies(list [][2]string) []string {
	var out []string
	for _, m := range list {
		out = append(out, m[0])
	}
	return out
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
// room posting continuously; the room's host is killed with SIGKILL.
// The standby must be promoted, the room re-homed in under 10 s, every
// post reflected to its sender in history exactly once, every surviving
// occupant must have seen the posts in history order and, after the
// re-home, all of them; the killed node's occupant logs in on another
// node and MAM gives it what it missed; the compliance database has each
// post once.
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
	var wg sync.WaitGroup
	outs := make([]string, 4)
	for i := range 4 {
		outs[i] = filepath.Join(dir, fmt.Sprintf("occupant%d.json", i+1))
		fallback := nodes[(i+1)%4]
		args := []string{"-B", filepath.Join("testdata", "pool_occupant.py"),
			"--host", "127.0.0.1", "--port", strconv.Itoa(nodes[i].c2s), "--domain", domain,
			"--user", users[i].name + ":" + users[i].password, "--log", filepath.Join(dir, fmt.Sprintf("occupant%d.log", i+1)),
			"--room", room, "--nick", users[i].name, "--out", outs[i], "--duration", "16", "--interval", "0.2",
			"--fallback-port", strconv.Itoa(fallback.c2s)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), scriptMax)
			defer cancel()
			cmd := exec.CommandContext(ctx, python, args...)
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
			out, err := cmd.CombinedOutput()
			t.Logf("occupant on %s:\n%s", nodes[i].name, out)
			if err != nil {
				t.Errorf("occupant on %s failed: %v\n%s", nodes[i].name, err, failureLines(out))
			}
		}()
	}

	// Posts flow; then the room's host dies.
	var host string
	poolWait(t, 20*time.Second, "the room is hosted and has 20 posts", func() bool {
		var n int
		_ = db.QueryRow(`SELECT COUNT(*) FROM history WHERE room = 'lobby'`).Scan(&n)
		_ = db.QueryRow(`SELECT node FROM room_hosts WHERE room = 'lobby'`).Scan(&host)
		return n >= 20 && host != ""
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
	time.Sleep(200 * time.Millisecond)
	var seqAtKill int64
	if err := db.QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM history WHERE room = 'lobby'`).Scan(&seqAtKill); err != nil {
		t.Fatal(err)
	}
	rehome := poolWait(t, 15*time.Second, "another node hosts the room", func() bool {
		var now string
		_ = db.QueryRow(`SELECT node FROM room_hosts WHERE room = 'lobby'`).Scan(&now)
		return now != "" && now != host
	}) + 200*time.Millisecond
	var firstPost time.Duration
	poolWait(t, 15*time.Second, "the re-homed room takes posts", func() bool {
		var n int64
		_ = db.QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM history WHERE room = 'lobby'`).Scan(&n)
		firstPost = time.Since(killed)
		return n > seqAtKill
	})
	t.Logf("re-home: the room was claimed %s and took its next post %s after the kill",
		rehome.Round(time.Millisecond), firstPost.Round(time.Millisecond))
	if firstPost > 10*time.Second {
		t.Errorf("the room took %s to take posts again, want < 10s", firstPost)
	}
	poolWait(t, 10*time.Second, "the standby is promoted", func() bool { return nodeStatuses(t, db)["n5"].Active })
	if got := streamOpen(t, nodes[4].c2s); strings.Contains(got, "see-other-host") {
		t.Errorf("the promoted standby still redirects: %s", got)
	}
	wg.Wait()

	// History: each body once, in one order.
	rows, err := db.Query(`SELECT body, seq FROM history WHERE room = 'lobby' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var history []string
	seqOf := map[string]int64{}
	index := map[string]int{}
	for rows.Next() {
		var body string
		var seq int64
		if err := rows.Scan(&body, &seq); err != nil {
			t.Fatal(err)
		}
		if _, dup := index[body]; dup {
			t.Errorf("%q is in history twice", body)
		}
		index[body] = len(history)
		seqOf[body] = seq
		history = append(history, body)
	}
	rows.Close()

	for i, path := range outs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("occupant %d left no report: %v", i+1, err)
			continue
		}
		var o poolOccupant
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatal(err)
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
		if !onVictim {
			// A survivor saw every post committed after the kill.
			missed := 0
			for _, body := range history {
				if seqOf[body] > seqAtKill && !seen[body] && missed < 5 {
					t.Errorf("survivor %s did not see %q (committed after the re-home)", o.Nick, body)
					missed++
				}
			}
			t.Logf("%s (survivor on %s): sent %d, saw %d live", o.Nick, nodes[i].name, o.Sent, len(live))
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
		first := index[live[0]]
		missing := 0
		for _, body := range history[first:] {
			if !seen[body] {
				missing++
				if missing <= 5 {
					t.Errorf("%s (reconnected) has neither live nor from MAM: %q", o.Nick, body)
				}
			}
		}
		t.Logf("%s (on the killed node): sent %d, saw %d live, %d from MAM after reconnecting; missing %d",
			o.Nick, o.Sent, len(live), len(o.CaughtUp), missing)
	}

	// The compliance database has each post once.
	poolWait(t, 45*time.Second, "the compliance database has every post", func() bool {
		var n int
		_ = cdb.QueryRow(`SELECT COUNT(*) FROM compliance_events WHERE type = 'post' AND room = 'lobby'`).Scan(&n)
		return n >= len(history)
	})
	crows, err := cdb.Query(`SELECT JSON_VALUE(payload, '$.body') FROM compliance_events WHERE type = 'post' AND room = 'lobby'`)
	if err != nil {
		t.Fatal(err)
	}
	var captured []string
	for crows.Next() {
		var body string
		if err := crows.Scan(&body); err != nil {
			t.Fatal(err)
		}
		captured = append(captured, body)
	}
	crows.Close()
	slices.Sort(captured)
	want := slices.Clone(history)
	slices.Sort(want)
	if !slices.Equal(captured, want) {
		t.Errorf("compliance captured %d posts, history has %d; they differ", len(captured), len(want))
	}
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
	content := mysqlStorage(t)
	db, err := sql.Open("mysql", strings.TrimPrefix(content, "mysql:"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	nodes := []*server{newServer(t, content), newServer(t, content)}
	peers := poolAddrs(t, len(nodes))
	secret := randomHex(t, 16)
	for i, s := range nodes {
		s.args = append([]string{"--pool", peers[i], "--pool-peers", strings.Join(peers, ","), "--node", fmt.Sprintf("c%d", i+1),
			"--pool-secret", secret, "--compliance=false", "--compliance-adapter", "none"}, extra...)
		s.start()
	}
	poolWait(t, 20*time.Second, "both nodes see each other", func() bool {
		st := nodeStatuses(t, db)
		return len(st) == 2 && st["c1"].Peers == 1 && st["c2"].Peers == 1
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
