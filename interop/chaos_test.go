package interop

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/parleychat/parley/internal/mysqltest"
)

// The chaos run (issue 18, make chaos): a pool of four active nodes on a
// MariaDB of the run's own, chat users posting in every room, and a fault
// per step. It runs only when asked (-chaos.steps), as root, inside a
// network namespace of its own (make chaos runs it under unshare -n), so
// that its packet-drop rules and its pool addresses (127.0.1.N:8011) touch
// nothing else on the machine.
var (
	chaosSteps = flag.Int("chaos.steps", 0, "run the chaos run with `N` steps (0: skip TestChaos)")
	chaosSeed  = flag.Uint64("chaos.seed", 0, "seed the chaos run's choices with `S` (0: from the clock; the run prints it)")
	chaosLogs  = flag.String("chaos.logs", "", "copy every node's log files to `DIR` at the end of the chaos run")
)

// The run's shape.
const (
	chaosNodes    = 4
	chaosRooms    = 6
	chaosUsers    = 8
	chaosInterval = 400 * time.Millisecond // between two posts of one user: 20 posts/s in all
	chaosTimeout  = 3 * time.Second        // --pool-node-timeout
	chaosSettle   = 90 * time.Second       // for the pool and every client to recover after a step
	chaosDrop     = 3                      // in 10 packets dropped on the lossy node's link
	chaosDiskSize = "16m"                  // the tmpfs of the disk-full node
	chaosPoolPort = "8011"
)

// The faults, one per step.
const (
	faultKill  = "kill-9"     // SIGKILL a node, start it again
	faultStop  = "sigstop"    // stop a node (its bus with it) for longer than the node timeout
	faultMySQL = "mysql"      // restart MariaDB (SIGKILL or SIGTERM)
	faultDisk  = "disk-full"  // fill a node's data disk
	faultDrop  = "drop-8011"  // drop packets on a node's pool link
	faultNone  = "(baseline)" // step 0: no fault
)

var chaosFaults = []string{faultKill, faultStop, faultMySQL, faultDisk, faultDrop}

// The invariants, checked after every step.
var chaosInvariants = []string{"acked-once", "one-order", "one-host", "compliance-once", "reconnect"}

type chaosCheck struct {
	ok     bool
	detail string
}

type chaosStep struct {
	n      int
	fault  string
	target string
	took   time.Duration
	checks map[string]chaosCheck
}

// chaosWorld is everything the run started.
type chaosWorld struct {
	t       *testing.T
	mysql   *mysqltest.Solo
	nodes   []*server
	names   []string
	lossy   int // the node whose pool link drops packets; it dials no routes itself
	clients []*chaosClient
	db, cdb *sql.DB // content and compliance, as root on the server's socket
	rooms   []string
	disk    string // the tmpfs mount of the disk-full node (node 0's directory)

	mysqlRestarts int
}

// TestChaos is the chaos run. Each step injects one fault under chat
// traffic, undoes it, waits for the pool to settle (four active nodes that
// see each other, every client back in every room with a post
// acknowledged since), pauses the posts until each has its answer, and
// checks every invariant:
//
//   - acked-once: every post ever reflected to its sender is in history
//     exactly once, under the stanza-id the reflection carried, and no
//     post is in history twice;
//   - one-order: what each session received live in a room is in
//     history's order for the room, and nothing it received is missing
//     from history;
//   - one-host: each room's host record names a live active node, and
//     every node hosts (by its own count, in its status) exactly the
//     rooms the records give it;
//   - compliance-once: the compliance database has each post of history
//     once and no other post;
//   - reconnect: every client is back in every room and has had a post
//     acknowledged since the fault was undone.
//
// The log has one line per invariant per step and a table at the end; any
// violation fails the test.
func TestChaos(t *testing.T) {
	if *chaosSteps == 0 {
		t.Skip("the chaos run runs only with -chaos.steps N (make chaos)")
	}
	requireChaosNamespace(t)
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := mrand.New(mrand.NewPCG(seed, 18))
	t.Logf("chaos: %d steps, seed %d (make chaos CHAOS_SEED=%d repeats the faults and their targets)", *chaosSteps, seed, seed)
	began := time.Now()

	w := startChaosWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, c := range w.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx)
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()

	var steps []chaosStep
	step := func(n int, fault string) {
		st := chaosStep{n: n, fault: fault, checks: map[string]chaosCheck{}}
		start := time.Now()
		st.target = w.inject(rng, fault)
		recovered := time.Now()
		w.settle(recovered)
		st.checks = w.check(start, recovered)
		st.took = time.Since(start)
		steps = append(steps, st)
		for _, inv := range chaosInvariants {
			c := st.checks[inv]
			verdict := "ok"
			if !c.ok {
				verdict = "VIOLATED"
				t.Errorf("chaos step %d (%s %s): %s violated: %s", n, fault, st.target, inv, c.detail)
			}
			t.Logf("chaos step %2d %-10s %-4s %-15s %-8s %s", n, fault, st.target, inv, verdict, c.detail)
		}
	}
	w.settle(time.Now())
	step(0, faultNone)
	var order []string
	for n := 1; n <= *chaosSteps; n++ {
		if len(order) == 0 {
			// Every fault once in each round of five, in a random order.
			for _, i := range rng.Perm(len(chaosFaults)) {
				order = append(order, chaosFaults[i])
			}
		}
		fault := order[0]
		order = order[1:]
		step(n, fault)
	}
	cancel()
	wg.Wait()
	t.Logf("chaos: %d steps in %v, seed %d\n%s", *chaosSteps, time.Since(began).Round(time.Second), seed, chaosTable(steps, w))
}

// requireChaosNamespace fails the test unless it runs as root in a network
// namespace other than its parent's (make's shell, in the machine's): its
// nft rules must not reach the machine's own network.
func requireChaosNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the chaos run needs root (tmpfs mounts, nft rules in its own network namespace): run make chaos as root")
	}
	mine, err1 := os.Readlink("/proc/self/ns/net")
	machine, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", os.Getppid()))
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("reading network namespaces: %v", err)
	}
	if mine == machine {
		t.Fatal("the chaos run adds packet-drop rules: run it in a network namespace of its own (make chaos runs it under unshare -n)")
	}
	for _, bin := range []string{"nft", "ip", "mount"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("the chaos run needs %s: %v", bin, err)
		}
	}
	chaosRun(t, "ip", "link", "set", "lo", "up")
}

func chaosRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func startChaosWorld(t *testing.T) *chaosWorld {
	w := &chaosWorld{t: t, lossy: chaosNodes - 1}
	w.mysql = mysqltest.StartSolo(t)
	content, comp := "parley_chaos", "parley_chaos_compliance"
	auditSecret(w.mysql.Password)
	w.db, w.cdb = w.root(content), w.root(comp)

	peers := make([]string, chaosNodes)
	for i := range peers {
		peers[i] = fmt.Sprintf("127.0.1.%d:%s", i+1, chaosPoolPort)
	}
	secret := randomHex(t, 16)
	for i := range chaosNodes {
		s := newServer(t, "mysql:"+w.mysql.DSN(content))
		name := fmt.Sprintf("n%d", i+1)
		// The lossy node dials no routes itself: the others dial it, so
		// every packet of its links goes to or comes from its pool
		// address, which the drop rules match.
		dial := peers
		if i == w.lossy {
			dial = peers[i : i+1]
		}
		s.args = []string{"--pool", peers[i], "--pool-peers", strings.Join(dial, ","), "--node", name,
			"--pool-secret", secret, "--pool-node-timeout", chaosTimeout.String(),
			"--compliance-storage", "mysql:" + w.mysql.DSN(comp), "--compliance-adapter", "none",
			"--pool-client-addr", fmt.Sprintf("127.0.0.1:%d", s.c2s),
			// The harness logs at debug level; four nodes under load
			// at info level leave the machine's CPU to the run.
			"--log-level", "info",
			// Eight users on one address, each logging in again after
			// every fault.
			"--max-unauth-per-ip", "1000"}
		w.nodes, w.names = append(w.nodes, s), append(w.names, name)
	}
	// Node 0's directory (its data, and the log files the harness writes
	// beside it) is a small filesystem of its own, for the disk-full
	// step.
	w.disk = w.nodes[0].dir
	chaosRun(t, "mount", "-t", "tmpfs", "-o", "size="+chaosDiskSize, "chaos-disk", w.disk)
	t.Cleanup(func() {
		if w.nodes[0].running() {
			w.nodes[0].stop()
		}
		_ = exec.Command("umount", "-l", w.disk).Run()
	})
	for _, s := range w.nodes {
		s.start()
	}
	if *chaosLogs != "" {
		// Registered after the nodes' own cleanups: runs before they stop.
		t.Cleanup(func() { w.keepLogs(*chaosLogs) })
	}
	w.waitPool(30 * time.Second)

	for i := range chaosRooms {
		room := fmt.Sprintf("room%d", i+1)
		w.nodes[0].mustCtl("room", "create", room, "--privacy", "open")
		w.rooms = append(w.rooms, room+"@conference."+domain)
	}
	addrs := func() []string {
		var out []string
		for _, s := range w.nodes {
			out = append(out, fmt.Sprintf("127.0.0.1:%d", s.tls))
		}
		return out
	}
	for i := range chaosUsers {
		name, password := fmt.Sprintf("user%d", i+1), "secret-"+randomHex(t, 6)
		w.nodes[0].addUser(name, password)
		w.clients = append(w.clients, newChaosClient(name, password, w.rooms, addrs, i%chaosNodes, chaosInterval))
	}
	return w
}

// keepLogs copies every node's log files to dir/NODE-FILE.
func (w *chaosWorld) keepLogs(dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		w.t.Errorf("keeping the logs: %v", err)
		return
	}
	for i, s := range w.nodes {
		files, _ := filepath.Glob(filepath.Join(s.dir, "parleyd-*"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				_ = os.WriteFile(filepath.Join(dir, w.names[i]+"-"+filepath.Base(f)), b, 0o644)
			}
		}
	}
	w.t.Logf("chaos: the nodes' logs are in %s", dir)
}

// root opens database on the MariaDB server as root, on its socket.
func (w *chaosWorld) root(database string) *sql.DB {
	cfg, err := gomysql.ParseDSN(w.mysql.AdminDSN())
	if err != nil {
		w.t.Fatal(err)
	}
	cfg.DBName = database
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { db.Close() })
	return db
}

// inject runs one fault and undoes it; it returns the node (or server) it
// hit.
func (w *chaosWorld) inject(rng *mrand.Rand, fault string) string {
	t := w.t
	i := rng.IntN(chaosNodes)
	switch fault {
	case faultNone:
		return "-"
	case faultKill:
		w.nodes[i].kill()
		time.Sleep(time.Second)
		w.nodes[i].start()
	case faultStop:
		// The pool bus is embedded in parleyd: stopping it stops the node.
		p := w.nodes[i].cmd.Process
		if err := p.Signal(syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP to %s: %v", w.names[i], err)
		}
		time.Sleep(chaosTimeout*3 + time.Second)
		if err := p.Signal(syscall.SIGCONT); err != nil {
			t.Fatalf("SIGCONT to %s: %v", w.names[i], err)
		}
	case faultMySQL:
		// A crash and a clean restart in turn.
		w.mysqlRestarts++
		kill := w.mysqlRestarts%2 == 1
		down := w.mysql.Restart(t, kill)
		how := "SIGTERM"
		if kill {
			how = "SIGKILL"
		}
		t.Logf("chaos: MariaDB restarted (%s), down %v", how, down.Round(time.Millisecond))
		return "db/" + strings.ToLower(how[3:])
	case faultDisk:
		i = 0
		filled := w.fillDisk()
		t.Logf("chaos: %s's disk is full (%d MiB written)", w.names[i], filled>>20)
		time.Sleep(5 * time.Second)
		if err := os.Remove(filepath.Join(w.disk, "filler")); err != nil {
			t.Fatalf("free the disk: %v", err)
		}
	case faultDrop:
		i = w.lossy
		addr := fmt.Sprintf("127.0.1.%d", i+1)
		chaosRun(t, "nft", "add", "table", "inet", "chaos")
		chaosRun(t, "nft", "add", "chain", "inet", "chaos", "input", "{ type filter hook input priority 0; }")
		for _, match := range [][]string{{"ip", "daddr", addr, "tcp", "dport", chaosPoolPort}, {"ip", "saddr", addr, "tcp", "sport", chaosPoolPort}} {
			rule := append([]string{"add", "rule", "inet", "chaos", "input"}, match...)
			chaosRun(t, "nft", append(rule, "numgen", "random", "mod", "10", "<", fmt.Sprint(chaosDrop), "drop")...)
		}
		time.Sleep(10 * time.Second)
		chaosRun(t, "nft", "delete", "table", "inet", "chaos")
	}
	return w.names[i]
}

// fillDisk writes to the disk-full node's filesystem until it is full.
func (w *chaosWorld) fillDisk() int64 {
	f, err := os.Create(filepath.Join(w.disk, "filler"))
	if err != nil {
		w.t.Fatalf("fill the disk: %v", err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			w.t.Fatalf("fill the disk: %v", err)
		}
	}
}

// waitPool waits until every node is active and sees the others.
func (w *chaosWorld) waitPool(limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		st, err := chaosStatuses(w.db)
		if err == nil && len(st) == chaosNodes {
			ok := true
			for _, s := range st {
				ok = ok && s.Active && s.Peers == chaosNodes-1
			}
			if ok {
				return true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

// settle waits until the pool is whole and every client is back in every
// room with a post acknowledged since recovered, for at most chaosSettle;
// whatever has not recovered by then the checks report.
func (w *chaosWorld) settle(recovered time.Time) {
	deadline := time.Now().Add(chaosSettle)
	if !w.waitPool(chaosSettle) {
		w.t.Logf("chaos: the pool did not settle within %v", chaosSettle)
	}
	for _, c := range w.clients {
		for !c.ready(recovered) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// check pauses the posts until each has its answer, checks every
// invariant and resumes them.
func (w *chaosWorld) check(began, recovered time.Time) map[string]chaosCheck {
	for _, c := range w.clients {
		c.setPaused(true)
	}
	defer func() {
		for _, c := range w.clients {
			c.setPaused(false)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range w.clients {
		for c.pending() > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	out := map[string]chaosCheck{}
	history, err := chaosHistory(w.db)
	if err != nil {
		for _, inv := range chaosInvariants {
			out[inv] = chaosCheck{detail: "reading history: " + err.Error()}
		}
		return out
	}
	out["acked-once"] = w.checkAcked(history, began)
	out["one-order"] = w.checkOrder(history)
	out["one-host"] = w.checkHosts()
	out["compliance-once"] = w.checkCompliance()
	out["reconnect"] = w.checkReconnect(began, recovered)
	return out
}

// chaosHistory reads every room's history: room → posts in seq order.
func chaosHistory(db *sql.DB) (map[string][]poolPost, error) {
	return postsByRoom(db, func(p *poolPost) []any { return []any{&p.Seq, &p.StanzaID, &p.Body} },
		`SELECT room, seq, stanza_id, body FROM history ORDER BY room, seq`)
}

// chaosCaptured reads the post events of the compliance database: room →
// posts.
func chaosCaptured(cdb *sql.DB) (map[string][]poolPost, error) {
	return postsByRoom(cdb, func(p *poolPost) []any { return []any{&p.EventID, &p.StanzaID, &p.Body} },
		`SELECT room, event_id, JSON_VALUE(payload, '$.stanza_id'), JSON_VALUE(payload, '$.body')
		FROM compliance_events WHERE type = 'post' ORDER BY seq`)
}

// postsByRoom runs query, whose rows are a room's name and the fields of a
// post, and groups the posts by room address.
func postsByRoom(db *sql.DB, fields func(*poolPost) []any, query string) (map[string][]poolPost, error) {
	rows, err := db.Query(query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]poolPost{}
	for rows.Next() {
		var room string
		var p poolPost
		if err := rows.Scan(append([]any{&room}, fields(&p)...)...); err != nil {
			return nil, err
		}
		jid := room + "@conference." + domain
		out[jid] = append(out[jid], p)
	}
	return out, rows.Err()
}

// checkAcked checks every acknowledged post is in history once; it
// reports the refusals of the posts sent during the step (since began) by
// error condition and type.
func (w *chaosWorld) checkAcked(history map[string][]poolPost, began time.Time) chaosCheck {
	where := map[string][]poolPost{} // body → its places in history
	total := 0
	for _, posts := range history {
		for _, p := range posts {
			where[p.Body] = append(where[p.Body], p)
			total++
		}
	}
	var bad []string
	acked, refused, unknown, refusedKept := 0, 0, 0, 0
	refusals := map[string]int{} // during this step, by condition
	keptAs := map[string]int{}   // refused yet committed, by condition
	for _, c := range w.clients {
		c.mu.Lock()
		for _, p := range c.order {
			switch p.state {
			case postAcked:
				acked++
				at := where[p.body]
				switch {
				case len(at) == 0:
					bad = append(bad, fmt.Sprintf("%s acknowledged, not in history", p.body))
				case len(at) > 1:
					bad = append(bad, fmt.Sprintf("%s acknowledged, %d times in history", p.body, len(at)))
				case at[0].StanzaID != p.stanzaID:
					bad = append(bad, fmt.Sprintf("%s acknowledged as %s, in history as %s", p.body, p.stanzaID, at[0].StanzaID))
				}
				if p.acks > 1 {
					bad = append(bad, fmt.Sprintf("%s reflected %d times", p.body, p.acks))
				}
			case postRefused:
				refused++
				if p.sent.After(began) {
					refusals[p.refusal]++
				}
				if len(where[p.body]) > 0 {
					refusedKept++
					keptAs[p.refusal]++
				}
			case postUnknown:
				unknown++
			}
		}
		c.mu.Unlock()
	}
	for body, at := range where {
		if len(at) > 1 && !slices.ContainsFunc(bad, func(b string) bool { return strings.HasPrefix(b, body+" ") }) {
			bad = append(bad, fmt.Sprintf("%s is %d times in history", body, len(at)))
		}
	}
	detail := fmt.Sprintf("%d acked, all in history once; history %d posts; %d refused (%d of them committed: %s), %d unknown; refused this step: %s",
		acked, total, refused, refusedKept, tally(keptAs), unknown, tally(refusals))
	return verdict(bad, detail)
}

func (w *chaosWorld) checkOrder(history map[string][]poolPost) chaosCheck {
	index := map[string]map[string]int{} // room → body → place
	for room, posts := range history {
		index[room] = map[string]int{}
		for i, p := range posts {
			index[room][p.Body] = i
		}
	}
	var bad []string
	sessions, seen := 0, 0
	for _, c := range w.clients {
		c.mu.Lock()
		for _, s := range c.sessions {
			sessions++
			for room, live := range s.live {
				last, lastBody := -1, ""
				for _, body := range live {
					seen++
					i, ok := index[room][body]
					switch {
					case !ok:
						bad = append(bad, fmt.Sprintf("%s received %s live in %s; not in history", c.name, body, room))
					case i <= last:
						h := history[room]
						bad = append(bad, fmt.Sprintf("%s received %s (seq %d) in %s after %s (seq %d)",
							c.name, body, h[i].Seq, room, lastBody, h[last].Seq))
					}
					if ok && i > last {
						last, lastBody = i, body
					}
				}
			}
		}
		c.mu.Unlock()
	}
	return verdict(bad, fmt.Sprintf("%d live deliveries in %d sessions, each session's in history order", seen, sessions))
}

// checkHosts compares the host records with the nodes' own counts, for a
// few seconds: a count is written to the status once a second.
func (w *chaosWorld) checkHosts() chaosCheck {
	var bad []string
	var detail string
	for attempt := 0; attempt < 10; attempt++ {
		bad, detail = w.hostsOnce()
		if len(bad) == 0 {
			break
		}
		time.Sleep(time.Second)
	}
	return verdict(bad, detail)
}

func (w *chaosWorld) hostsOnce() (bad []string, detail string) {
	st, err := chaosStatuses(w.db)
	if err != nil {
		return []string{err.Error()}, ""
	}
	rows, err := w.db.Query(`SELECT room, node FROM room_hosts`)
	if err != nil {
		return []string{err.Error()}, ""
	}
	defer rows.Close()
	records := map[string]int{}
	var hosted []string
	for rows.Next() {
		var room, node string
		if err := rows.Scan(&room, &node); err != nil {
			return []string{err.Error()}, ""
		}
		records[node]++
		hosted = append(hosted, room+"@"+node)
		if s, ok := st[node]; !ok || !s.Active {
			bad = append(bad, fmt.Sprintf("room %s is hosted by %s, not a live active node", room, node))
		}
	}
	for _, s := range st {
		if s.Rooms != records[s.Node] {
			bad = append(bad, fmt.Sprintf("%s says it hosts %d rooms, the records give it %d", s.Node, s.Rooms, records[s.Node]))
		}
	}
	slices.Sort(hosted)
	return bad, "hosts " + strings.Join(hosted, " ")
}

type chaosStatus struct {
	Node   string
	Active bool
	Peers  int
	Rooms  int
}

func chaosStatuses(db *sql.DB) (map[string]chaosStatus, error) {
	rows, err := db.Query(`SELECT status FROM pool_nodes WHERE seen_at > NOW(6) - INTERVAL 3 SECOND`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]chaosStatus{}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var s chaosStatus
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, err
		}
		out[s.Node] = s
	}
	return out, rows.Err()
}

// checkCompliance compares the compliance database with history, room by
// room, until the workers have copied everything (at most a minute).
func (w *chaosWorld) checkCompliance() chaosCheck {
	var bad []string
	deadline := time.Now().Add(time.Minute)
	for {
		bad = bad[:0]
		captured, err := chaosCaptured(w.cdb)
		if err == nil {
			var history map[string][]poolPost
			history, err = chaosHistory(w.db)
			n := 0
			for room, h := range history {
				n += len(h)
				extra, twice, missing := complianceDiff(h, captured[room])
				for _, p := range extra {
					bad = append(bad, "captured, not in history: "+p.String())
				}
				for _, p := range twice {
					bad = append(bad, "captured twice: "+p.String())
				}
				for _, p := range missing {
					bad = append(bad, "not captured: "+p.String())
				}
			}
			for room, c := range captured {
				if _, ok := history[room]; !ok {
					bad = append(bad, fmt.Sprintf("%d posts captured in %s, which has no history", len(c), room))
				}
			}
			if err == nil && len(bad) == 0 {
				return chaosCheck{ok: true, detail: fmt.Sprintf("%d posts of history captured once each", n)}
			}
		}
		if err != nil {
			bad = append(bad, err.Error())
		}
		if time.Now().After(deadline) {
			return verdict(bad, "")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkReconnect checks every client is back; it reports those whose
// session broke during the step (since began) and how long they took to be
// in every room again.
func (w *chaosWorld) checkReconnect(began, recovered time.Time) chaosCheck {
	var bad []string
	var slowest time.Duration
	moved, removed := 0, 0
	var removals []string
	for _, c := range w.clients {
		c.mu.Lock()
		for _, r := range c.removed {
			removals = append(removals, c.name+" from "+strings.Replace(r, "@conference."+domain, "", 1))
		}
		removed += len(c.removed)
		c.removed = nil
		c.mu.Unlock()
		if !c.ready(recovered) {
			bad = append(bad, fmt.Sprintf("%s not back within %v (%s)", c.name, chaosSettle, c.why(recovered)))
			continue
		}
		c.mu.Lock()
		// The first session broken during the step, and the one the
		// client is in every room on now.
		for _, prev := range c.sessions {
			if c.cur != nil && !prev.ended.IsZero() && prev.ended.After(began) {
				moved++
				slowest = max(slowest, c.cur.joined.Sub(prev.ended))
				break
			}
		}
		c.mu.Unlock()
	}
	return verdict(bad, fmt.Sprintf("%d clients back in every room, posting; %d lost their session and logged in again (slowest %v from losing it to being in every room); %d removed from a room and joined again %v",
		len(w.clients), moved, slowest.Round(time.Millisecond), removed, removals[:min(len(removals), 4)]))
}

// tally lists counts by name, sorted.
func tally(counts map[string]int) string {
	var out []string
	for name, n := range counts {
		out = append(out, fmt.Sprintf("%s ×%d", name, n))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// verdict is a check that passes when bad is empty; it shows the first few
// violations.
func verdict(bad []string, detail string) chaosCheck {
	if len(bad) == 0 {
		return chaosCheck{ok: true, detail: detail}
	}
	shown := bad[:min(len(bad), 5)]
	return chaosCheck{detail: fmt.Sprintf("%d violations: %s", len(bad), strings.Join(shown, "; "))}
}

// chaosTable is the run's summary: a row per step and the totals per
// invariant.
func chaosTable(steps []chaosStep, w *chaosWorld) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| step | fault | target | took |")
	for _, inv := range chaosInvariants {
		fmt.Fprintf(&b, " %s |", inv)
	}
	b.WriteString("\n|---|---|---|---|" + strings.Repeat("---|", len(chaosInvariants)) + "\n")
	pass := map[string]int{}
	for _, st := range steps {
		fmt.Fprintf(&b, "| %d | %s | %s | %v |", st.n, st.fault, st.target, st.took.Round(time.Second))
		for _, inv := range chaosInvariants {
			mark := "ok"
			if !st.checks[inv].ok {
				mark = "VIOLATED"
			} else {
				pass[inv]++
			}
			fmt.Fprintf(&b, " %s |", mark)
		}
		b.WriteString("\n")
	}
	b.WriteString("| **held** | | | |")
	for _, inv := range chaosInvariants {
		fmt.Fprintf(&b, " %d/%d |", pass[inv], len(steps))
	}
	b.WriteString("\n")
	acked, sent := 0, 0
	sessions := 0
	for _, c := range w.clients {
		c.mu.Lock()
		sent += len(c.order)
		sessions += len(c.sessions)
		for _, p := range c.order {
			if p.state == postAcked {
				acked++
			}
		}
		c.mu.Unlock()
	}
	fmt.Fprintf(&b, "%d posts sent by %d users in %d rooms, %d acknowledged; %d sessions\n", sent, len(w.clients), len(w.rooms), acked, sessions)
	return b.String()
}
