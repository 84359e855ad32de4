package interop

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/parleychat/parley/internal/mysqltest"
)

// TestDatabaseFailover is issue 18's database failover: parleyd runs on a
// MariaDB primary and its replica (GTID, semi-synchronous), both listed
// in --storage and --compliance-storage. Two slixmpp occupants chat in a
// room when the primary is killed with SIGKILL; a few seconds later the
// replica is promoted by the README's procedure. parleyd keeps running
// and takes posts again without a restart. Meanwhile posts are refused
// with resource-constraint of type wait (never acknowledged, then lost).
// Afterwards every post an occupant saw reflected is in the room's archive
// (MAM) exactly once, and the compliance database has each post of
// history exactly once.
func TestDatabaseFailover(t *testing.T) {
	t.Parallel() // its own MariaDB servers; nothing it measures is a deadline
	requireSlixmpp(t)
	pair := mysqltest.StartPair(t)
	content, comp := "parley_failover", "parley_failover_compliance"
	s := newServer(t, "mysql:"+pair.DSN(content))
	s.args = []string{"--compliance-storage", "mysql:" + pair.DSN(comp), "--compliance-adapter", "none"}
	auditSecret(pair.Password)
	s.start()
	users := []account{{"alice", "secret-" + randomHex(t, 4)}, {"bob", "secret-" + randomHex(t, 4)}}
	for _, u := range users {
		s.addUser(u.name, u.password)
	}
	s.mustCtl("room", "create", "lobby", "--privacy", "open")
	room := "lobby@conference." + domain

	// The test reads history and the compliance database as root on the
	// socket of whichever server is the primary.
	on := func(srv *mysqltest.Server, database string) *sql.DB {
		cfg, err := gomysql.ParseDSN(srv.AdminDSN())
		if err != nil {
			t.Fatal(err)
		}
		cfg.DBName = database
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db := on(pair.Primary, content)

	dir := t.TempDir()
	occ := &occupants{t: t}
	for _, u := range users {
		occ.start("occupant "+u.name, filepath.Join(dir, u.name+".json"),
			"--host", "127.0.0.1", "--port", strconv.Itoa(s.c2s), "--domain", domain,
			"--user", u.name+":"+u.password, "--log", filepath.Join(dir, u.name+".log"),
			"--room", room, "--nick", u.name, "--duration", "20", "--interval", "0.1", "--mam", "1")
	}
	defer occ.stop("")

	// Posts flow from both occupants; then the primary dies.
	poolWait(t, time.Minute, "20 posts in history, from both occupants", func() bool {
		var n, posters int
		_ = db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT nick) FROM history WHERE room = 'lobby'`).Scan(&n, &posters)
		return n >= 20 && posters == 2
	})
	pair.KillPrimary()
	killed := time.Now()
	t.Logf("killed the MariaDB primary %s with SIGKILL", pair.Primary.Addr)
	// An operator (or a monitor) notices and promotes the replica.
	time.Sleep(3 * time.Second)
	pair.Promote()
	promoted := time.Since(killed)
	t.Logf("promoted the replica %s %v after the kill", pair.Replica.Addr, promoted.Round(time.Millisecond))
	db, cdb := on(pair.Replica, content), on(pair.Replica, comp)
	var lastBefore int64
	if err := db.QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM history WHERE room = 'lobby'`).Scan(&lastBefore); err != nil {
		t.Fatal(err)
	}
	var firstPost time.Duration
	poolWait(t, 30*time.Second, "the room takes posts on the promoted replica", func() bool {
		var n int64
		_ = db.QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM history WHERE room = 'lobby'`).Scan(&n)
		firstPost = time.Since(killed)
		return n > lastBefore
	})
	t.Logf("the room took its next post %v after the kill, %v after the promotion",
		firstPost.Round(time.Millisecond), (firstPost - promoted).Round(time.Millisecond))
	if !s.running() {
		t.Fatal("parleyd exited during the failover")
	}

	occ.waitPosted()
	settled := roomHistory(t, db, "lobby")
	if len(settled) == 0 {
		t.Fatal("the room's history is empty")
	}
	occ.stop(settled[len(settled)-1].Body)
	history := roomHistory(t, db, "lobby")
	index := historyIndex(t, history)

	var refusedTotal, reflectedTotal, lost int
	var firstRefusal, lastRefusal float64 = -1, -1
	for i := range occ.outs {
		o, ok := occ.report(i)
		if !ok {
			continue
		}
		inMAM := map[string]int{}
		for _, m := range o.MAM {
			inMAM[m[0]]++
		}
		reflected := 0
		for _, body := range o.bodies(o.Received) {
			if !strings.HasPrefix(body, o.Nick+"-") {
				continue
			}
			reflected++
			if _, ok := index[body]; !ok {
				t.Errorf("%s: its post %q was reflected but is not in history", o.Nick, body)
			}
			if n := inMAM[body]; n != 1 {
				lost++
				t.Errorf("%s: its post %q was reflected and is %d times in the archive (MAM), want once", o.Nick, body, n)
			}
		}
		for body, n := range inMAM {
			if n > 1 {
				t.Errorf("%s: %q is %d times in the archive (MAM)", o.Nick, body, n)
			}
		}
		var committed []string
		for _, r := range o.Refused {
			// The refusal a client can act on: try again shortly.
			if r[1] != "resource-constraint" || r[2] != "wait" {
				t.Errorf("%s: post %s refused with %s (type %s), want resource-constraint of type wait", o.Nick, r[0], r[1], r[2])
			}
			if _, ok := index[r[0]]; ok {
				committed = append(committed, r[0])
			}
			at, _ := strconv.ParseFloat(r[3], 64)
			if firstRefusal < 0 || at < firstRefusal {
				firstRefusal = at
			}
			lastRefusal = max(lastRefusal, at)
		}
		if len(committed) > 0 {
			// A COMMIT sent as the primary died: it reached the replica
			// (semi-synchronous) but its answer never came back.
			t.Logf("%s: refused but committed (the outcome was unknown): %v", o.Nick, committed)
		}
		if len(o.MAM) != len(history) {
			t.Errorf("%s: the archive (MAM) has %d messages, history %d", o.Nick, len(o.MAM), len(history))
		}
		t.Logf("%s: sent %d, %d reflected, %d refused, archive %d messages", o.Nick, o.Sent, reflected, len(o.Refused), len(o.MAM))
		refusedTotal += len(o.Refused)
		reflectedTotal += reflected
	}
	if refusedTotal == 0 {
		t.Errorf("no post was refused while no server was writable: the test proves nothing")
	}

	// The compliance database, failed over with the content database, has
	// each post of history once and nothing else.
	history, captured := checkCompliance(t, db, cdb, "lobby", 2*time.Minute)
	window := "none"
	if firstRefusal >= 0 {
		k := float64(killed.UnixMicro()) / 1e6
		window = fmt.Sprintf("%.1fs (first refusal %+.2fs, last %+.2fs from the kill)",
			lastRefusal-firstRefusal, firstRefusal-k, lastRefusal-k)
	}
	t.Logf("FAILOVER: primary killed, replica promoted after %v; next post %v after the kill; refusal window %s; "+
		"%d posts refused, %d reflected, %d reflected but lost; history %d posts, compliance %d",
		promoted.Round(time.Millisecond), firstPost.Round(time.Millisecond), window,
		refusedTotal, reflectedTotal, lost, len(history), len(captured))
}
