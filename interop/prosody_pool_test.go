package interop

import (
	"database/sql"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProsodyFederationPool: parley.test is a pool of two nodes, each
// with its own server-to-server listener; Prosody (remote.test) finds
// parley.test, and its MUC service, at the node that does NOT host the
// lobby. alice (on the host) and bob (on the other node) meet juliet, a
// Prosody user, in the lobby: her posts and alice's reach all three in one
// order (the inbound link is on the other node; the room's events go back
// over that node's own link). Then alice and juliet chat 1:1 and alice
// subscribes to juliet's presence: alice's node opens the link to Prosody,
// and Prosody verifies its dialback key at the other node, which asks the
// pool (XEP-0220 §2.3 in a pool); juliet's reply, her approval and her
// presence come in at the other node and reach alice's session on hers.
// Last, juliet's IQs to alice's full JID (ping, version) come in at the
// other node, which hands them to alice's node over the pool (RFC 6120
// §10.5.4 in a pool); alice's client's answers go back over her node's
// link.
func TestProsodyFederationPool(t *testing.T) {
	requireSlixmpp(t)
	requireProsody(t)
	binaries(t)
	t.Parallel()
	ips := []string{loopbackIP(t), loopbackIP(t)}
	if ips[0] == ips[1] {
		ips[1] = loopbackIP(t)
	}
	prosodyIP := loopbackIP(t)
	names := []string{"c1", "c2"}
	host := lobbyHost(names) // alice's node; Prosody reaches the other
	other := 1 - host
	nodes := startPool(t, 2, func(i int, s *server) {
		s.domain = parleyFedDomain
		s.args = append(s.args, "--xmpp-s2s", ips[i]+":5269",
			"--s2s-route", prosodyFedDomain+"="+prosodyIP+":5269",
			"--s2s-route", "conference."+prosodyFedDomain+"="+prosodyIP+":5269")
	})
	p := startProsody(t, prosodyFedDomain, prosodyIP, map[string]string{
		parleyFedDomain: ips[other], "conference." + parleyFedDomain: ips[other],
		prosodyFedDomain: prosodyIP, "conference." + prosodyFedDomain: prosodyIP,
	}, nil, juliet)
	bob := account{"bob", "bob-" + randomHex(t, 4)}
	nodes[0].addUser(alice.name, alice.password)
	nodes[0].addUser(bob.name, bob.password)
	nodes[0].mustCtl("room", "create", "lobby", "--privacy", "open", "--subject", "Welcome")

	nodes[host].runScript("federation.py", []account{alice, bob}, "--phase", "pool_room,chat,pool_iq",
		"--bob-port", strconv.Itoa(nodes[other].c2s),
		"--remote-user", juliet.name+":"+juliet.password, "--remote-domain", prosodyFedDomain,
		"--remote-host", prosodyIP, "--remote-port", strconv.Itoa(p.c2s))
	if t.Failed() {
		t.Logf("prosody's log:\n%s", nodes[0].tail(p.log, 80))
		t.Logf("%s's log:\n%s", names[other], nodes[other].tail(nodes[other].stderr, 40))
		return
	}

	// The lobby was hosted where the test expected, so the inbound link
	// and the room were on different nodes.
	db, err := sql.Open("mysql", strings.TrimPrefix(nodes[0].storage, "mysql:"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got string
	if err := db.QueryRow(`SELECT node FROM room_hosts WHERE room = 'lobby'`).Scan(&got); err != nil || got != names[host] {
		t.Fatalf("the lobby is hosted by %q (err %v); the test expected %s", got, err, names[host])
	}
	// Prosody's links came to the other node; alice's node opened its
	// own to Prosody, whose dialback key the other node confirmed.
	var list string
	waitFor := func(re string) {
		t.Helper()
		poolWait(t, 15*time.Second, "parleyctl s2s list: "+re, func() bool {
			list, _ = nodes[0].ctl("s2s", "list")
			return regexp.MustCompile(re).MatchString(list)
		})
	}
	waitFor(`(?m)^` + names[other] + `\s+in\s+` + regexp.QuoteMeta(parleyFedDomain) + `\s+` + regexp.QuoteMeta(prosodyFedDomain) + `\s+authenticated\s+dialback`)
	waitFor(`(?m)^` + names[host] + `\s+out\s+` + regexp.QuoteMeta(parleyFedDomain) + `\s+` + regexp.QuoteMeta(prosodyFedDomain) + `\s+authenticated\s+dialback`)
	t.Logf("parleyctl s2s list:\n%s", list)
	if regexp.MustCompile(`(?m)^` + names[host] + `\s+in\s`).MatchString(list) {
		t.Errorf("an inbound link at %s, which Prosody was not to find:\n%s", names[host], list)
	}
	if log := nodes[other].tail(nodes[other].stderr, 400); !strings.Contains(log, "dialback: a key for a stream another node opened: valid") {
		t.Errorf("%s's log does not show it confirmed %s's dialback key:\n%s", names[other], names[host], grepLines(log, "dialback"))
	}
}

// lobbyHost is the index in nodes of the node that hosts the room lobby
// in a pool of those nodes: the pool's rendezvous hash (pool/hosting.go),
// which the test checks in room_hosts afterwards.
func lobbyHost(nodes []string) int {
	best, bestScore := 0, uint64(0)
	for i, n := range nodes {
		h := fnv.New64a()
		fmt.Fprintf(h, "lobby\x00%s", n)
		if s := h.Sum64(); i == 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}
