package main

import (
	"database/sql"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/internal/mysqltest"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
)

// poolDatabase opens a fresh database on the test MySQL server as a pool's
// shared store and returns it with its --storage value and a connection
// to it.
func poolDatabase(t *testing.T) (*mysql.Store, string, *sql.DB) {
	t.Helper()
	dsn := mysqltest.Database(t, "parley_ctl_test_")
	store, err := mysql.Open(t.Context(), dsn, contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return store, "mysql:" + dsn, db
}

func TestPoolStatus(t *testing.T) {
	store, dsn, db := poolDatabase(t)
	ctx := t.Context()
	started := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	for _, st := range []storage.NodeStatus{
		{Node: "n1", Role: "active", Active: true, ClientAddr: "127.0.0.1:5222", PoolAddr: "127.0.0.1:8011",
			Sessions: 12, CPU: 0.75, Rooms: 2, Peers: 2, BusLatency: 310 * time.Microsecond, DBLatency: 1200 * time.Microsecond, StartedAt: started},
		{Node: "n2", Role: "standby", ClientAddr: "127.0.0.2:5222", PoolAddr: "127.0.0.2:8011", Peers: 2, StartedAt: started},
		{Node: "n3", Role: "active", Active: true, ClientAddr: "127.0.0.3:5222", PoolAddr: "127.0.0.3:8011",
			Sessions: 7, Rooms: 1, Peers: 2, StartedAt: started},
	} {
		if err := store.PutNodeStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	for room, node := range map[string]string{"lobby": "n1", "trading": "n1", "legal": "n3", "orphan": "gone"} {
		if _, err := store.ClaimRoom(ctx, room, node, func(string) bool { return true }); err != nil {
			t.Fatal(err)
		}
	}
	// n3 stopped writing its status 42 seconds ago (by the database's
	// clock, as the nodes stamp it).
	if _, err := db.Exec(`UPDATE pool_nodes SET seen_at = NOW(6) - INTERVAL 42 SECOND WHERE node = 'n3'`); err != nil {
		t.Fatal(err)
	}

	r := newRunner(t)
	res := r.must(exitOK, "", "--storage", dsn, "pool", "status")
	for _, want := range []string{
		`(?m)^NODE\s+ROLE\s+NOW\s+HEALTH\s+SESSIONS\s+CPU\s+ROOMS\s+PEERS\s+BUS\s+DB\s+CLIENTS\s+POOL\s+STARTED$`,
		`(?m)^gone\s+-\s+-\s+down \(no status\)\s+-\s+-\s+1\s+`,
		`(?m)^n1\s+active\s+active\s+up\s+12\s+0\.75\s+2\s+2\s+0\.31ms\s+1\.20ms\s+127\.0\.0\.1:5222\s+127\.0\.0\.1:8011\s+2026-11-25T22:00:00Z$`,
		`(?m)^n2\s+standby\s+standby\s+up\s+0\s+0\.00\s+0\s+2\s+-\s+-\s+127\.0\.0\.2:5222\s+127\.0\.0\.2:8011\s+2026-11-25T22:00:00Z$`,
		`(?m)^n3\s+active\s+-\s+down \(last seen 4[2-9]s ago\)\s+-\s+-\s+1\s+-\s+-\s+-\s+127\.0\.0\.3:5222\s+127\.0\.0\.3:8011\s+`,
		`(?m)^2 of 4 nodes up, 1 active, 4 rooms hosted$`,
	} {
		if !regexp.MustCompile(want).MatchString(res.stdout) {
			t.Errorf("pool status does not match %s:\n%s", want, res.stdout)
		}
	}

	res = r.must(exitOK, "", "--storage", dsn, "pool", "status", "--json")
	var nodes []admin.PoolNode
	if err := json.Unmarshal([]byte(res.stdout), &nodes); err != nil {
		t.Fatalf("pool status --json: %v\n%s", err, res.stdout)
	}
	if len(nodes) != 4 {
		t.Fatalf("pool status --json: %d nodes, want 4:\n%s", len(nodes), res.stdout)
	}
	n1, n3 := nodes[1], nodes[3]
	if n1.Node != "n1" || !n1.Up || !n1.Active || n1.Sessions != 12 || n1.RoomsHosted != 2 || n1.BusLatency != 0.31 ||
		n1.DBLatency != 1.2 || n1.ClientAddr != "127.0.0.1:5222" || !n1.StartedAt.Equal(started) {
		t.Errorf("n1 in JSON = %+v", n1)
	}
	if n3.Node != "n3" || n3.Up || n3.Active || n3.LastSeen < 42 || n3.RoomsHosted != 1 {
		t.Errorf("n3 in JSON = %+v, want down, inactive, last seen 42s or more ago, 1 room", n3)
	}

	// A node that is up is not forgotten; a dead one is, and its rooms
	// stay for a live node to claim.
	res = r.must(exitFailure, "", "--storage", dsn, "pool", "forget", "n1")
	if !strings.Contains(res.stderr, `node "n1" is up`) {
		t.Errorf("forgetting a live node: stderr %q", res.stderr)
	}
	r.must(exitFailure, "", "--storage", dsn, "pool", "forget", "n9")
	res = r.must(exitOK, "", "--storage", dsn, "pool", "forget", "n3")
	if res.stdout != "forgot node n3\n" {
		t.Errorf("pool forget stdout = %q", res.stdout)
	}
	res = r.must(exitOK, "", "--storage", dsn, "pool", "status")
	if !regexp.MustCompile(`(?m)^n3\s+-\s+-\s+down \(no status\)\s+-\s+-\s+1\s+`).MatchString(res.stdout) {
		t.Errorf("after forgetting n3, its room shows without a status:\n%s", res.stdout)
	}
}

func TestPoolStatusEmptyAndSQLite(t *testing.T) {
	_, dsn, _ := poolDatabase(t)
	r := newRunner(t)
	res := r.must(exitOK, "", "--storage", dsn, "pool", "status")
	if res.stdout != "no pool node has written its status to this database\n" {
		t.Errorf("empty pool: %q", res.stdout)
	}
	res = r.must(exitOK, "", "--storage", dsn, "pool", "status", "--json")
	if strings.TrimSpace(res.stdout) != "[]" {
		t.Errorf("empty pool --json: %q", res.stdout)
	}

	// The default SQLite storage keeps no pool.
	for _, cmd := range [][]string{{"pool", "status"}, {"pool", "forget", "n1"}} {
		res = r.must(exitFailure, "", cmd...)
		if lines := strings.Count(res.stderr, "\n"); lines != 1 || !strings.Contains(res.stderr, "one MySQL database") {
			t.Errorf("%s on SQLite: stderr %q, want one line saying a pool needs MySQL", cmd, res.stderr)
		}
	}
}
