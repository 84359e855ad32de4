package interop

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Revocation reaches people already inside (issue 18, critical): slixmpp
// occupants of a running parleyd are removed as soon as parleyctl changes
// who may be in their room — a member removed (321), a category's ethical
// wall (321), a room made members-only (322) — and can no longer post,
// read the archive or receive posts. testdata/revoke.py has the steps; it
// prints each removal's latency, logged here.

var revokeUsers = []account{
	{"owner", "0wner-s3cret"}, {"member", "m3mber-s3cret"}, {"member2", "m3mber2-s3cret"}, {"walled", "w4lled-s3cret"},
}

func TestSlixmppRevocation(t *testing.T) {
	requireSlixmpp(t)
	binaries(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, b.storage(t))
			s.start()
			revocation(t, s, nil)
		})
	}
}

// TestPoolRevocation is the same on a two-node pool: member2 and walled
// are on the second node, so some of those removed are on the room's
// host and some are not; parleyctl writes to the pool's database and
// whichever node hosts each room removes them.
func TestPoolRevocation(t *testing.T) {
	requireSlixmpp(t)
	nodes := startTwoNodePool(t)
	revocation(t, nodes[0], nodes[1])
	db, err := sql.Open("mysql", strings.TrimPrefix(nodes[0].storage, "mysql:"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT room, node FROM room_hosts ORDER BY room`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var room, node string
		if err := rows.Scan(&room, &node); err != nil {
			t.Fatal(err)
		}
		t.Logf("room %s was hosted by %s (the first node is c1)", room, node)
	}
}

// revocation makes the accounts and rooms with parleyctl and runs
// revoke.py against s (and other, the second node of a pool, if set).
func revocation(t *testing.T, s, other *server) {
	for _, u := range revokeUsers {
		s.addUser(u.name, u.password)
	}
	s.mustCtl("room", "create", "brief", "--privacy", "closed", "--managers", "owner", "--members", "member,member2")
	s.mustCtl("category", "add", "legal", "--allow", "*")
	s.mustCtl("room", "create", "plaza", "--category", "legal", "--privacy", "open", "--managers", "owner")
	ctl, err := json.Marshal(append([]string{filepath.Join(s.bin, "parleyctl")}, s.common()...))
	if err != nil {
		t.Fatal(err)
	}
	extra := []string{"--ctl", string(ctl)}
	if other != nil {
		extra = append(extra, "--port2", strconv.Itoa(other.c2s))
	}
	out := s.runScript("revoke.py", revokeUsers, extra...)
	for _, m := range regexp.MustCompile(`(?m)^LATENCY (\S+) (-?\d+) (-?\d+)$`).FindAllStringSubmatch(out, -1) {
		t.Logf("%s (%s): occupant's removal %s ms after parleyctl started, %s ms after it exited",
			m[1], s.storageName(), m[2], m[3])
	}
}
