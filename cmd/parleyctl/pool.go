package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/storage"
)

// upWithin is how recent a node's status must be for the node to count
// as up: the pool's own rule (package pool's default DBStaleAfter; nodes
// write their status every second), so that parleyctl and the majority
// check agree on who is alive.
const upWithin = 6 * time.Second

// poolStatusFlags defines pool status's --json.
func poolStatusFlags(fs *flag.FlagSet) {
	fs.Bool("json", false, "print the nodes as a JSON array instead of a table")
}

// poolStore opens the content database as the pool's shared state, which
// only MySQL keeps.
func (c *ctl) poolStore(ctx context.Context) (storage.PoolStore, error) {
	store, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	ps, ok := store.(storage.PoolStore)
	if !ok {
		return nil, errors.New("a pool keeps its state in one MySQL database shared by its nodes: give the pool's --storage mysql:USER@tcp(HOST:PORT)/DB")
	}
	return ps, nil
}

// poolNode is one row of pool status: what the node last wrote about
// itself, judged by the database's clock, and the rooms the database says
// it hosts.
type poolNode struct {
	Node string `json:"node"`
	// Role is the configured role; Active whether it serves clients and
	// hosts rooms now (false for a node that is down).
	Role   string `json:"role"`
	Active bool   `json:"active"`
	Up     bool   `json:"up"`
	// LastSeen is how long ago the node last wrote its status.
	LastSeen    float64 `json:"last_seen_seconds"`
	Sessions    int     `json:"sessions"`
	CPU         float64 `json:"cpu_cores"`
	RoomsHosted int     `json:"rooms_hosted"`
	Peers       int     `json:"peers"`
	BusLatency  float64 `json:"bus_latency_ms"`
	DBLatency   float64 `json:"db_latency_ms"`
	ClientAddr  string  `json:"client_addr"`
	PoolAddr    string  `json:"pool_addr"`
	// StartedAt is zero for a node that holds rooms but has no status
	// (forgotten while it still hosted them).
	StartedAt time.Time `json:"started_at"`
}

// readPool joins the node statuses with the host records.
func readPool(ctx context.Context, ps storage.PoolStore) ([]poolNode, error) {
	statuses, err := ps.NodeStatuses(ctx)
	if err != nil {
		return nil, err
	}
	hosted, err := ps.HostedRooms(ctx)
	if err != nil {
		return nil, err
	}
	var nodes []poolNode
	for _, st := range statuses {
		up := st.Age < upWithin
		nodes = append(nodes, poolNode{
			Node: st.Node, Role: st.Role, Active: up && st.Active, Up: up,
			LastSeen: st.Age.Seconds(), Sessions: st.Sessions, CPU: st.CPU, RoomsHosted: hosted[st.Node], Peers: st.Peers,
			BusLatency: milliseconds(st.BusLatency), DBLatency: milliseconds(st.DBLatency),
			ClientAddr: st.ClientAddr, PoolAddr: st.PoolAddr, StartedAt: st.StartedAt.UTC(),
		})
		delete(hosted, st.Node)
	}
	// Host records of nodes without a status: rooms that still wait for
	// a live node to claim them.
	for node, n := range hosted {
		nodes = append(nodes, poolNode{Node: node, RoomsHosted: n, LastSeen: -1})
	}
	slices.SortFunc(nodes, func(a, b poolNode) int { return strings.Compare(a.Node, b.Node) })
	return nodes, nil
}

func milliseconds(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// poolStatus lists the pool's nodes from the shared database: parleyctl
// pool status [--json]. It needs no running node: every node writes its
// status there every second.
func poolStatus(ctx context.Context, c *ctl, fs *flag.FlagSet, _ []string) error {
	ps, err := c.poolStore(ctx)
	if err != nil {
		return err
	}
	nodes, err := readPool(ctx, ps)
	if err != nil {
		return err
	}
	if fs.Lookup("json").Value.String() == "true" {
		if nodes == nil {
			nodes = []poolNode{}
		}
		return writeJSON(c.stdout, nodes)
	}
	if len(nodes) == 0 {
		fmt.Fprintln(c.stdout, "no pool node has written its status to this database")
		return nil
	}
	rows := [][]string{{"NODE", "ROLE", "NOW", "HEALTH", "SESSIONS", "CPU", "ROOMS", "PEERS", "BUS", "DB", "CLIENTS", "POOL", "STARTED"}}
	var up, active, rooms int
	for _, n := range nodes {
		rooms += n.RoomsHosted
		if !n.Up {
			rows = append(rows, []string{n.Node, n.Role, "", health(n), "", "", strconv.Itoa(n.RoomsHosted), "", "", "",
				n.ClientAddr, n.PoolAddr, timestamp(n.StartedAt)})
			continue
		}
		up++
		now := "standby"
		if n.Active {
			active++
			now = "active"
		}
		rows = append(rows, []string{n.Node, n.Role, now, health(n), strconv.Itoa(n.Sessions),
			strconv.FormatFloat(n.CPU, 'f', 2, 64), strconv.Itoa(n.RoomsHosted), strconv.Itoa(n.Peers), latency(n.BusLatency), latency(n.DBLatency),
			n.ClientAddr, n.PoolAddr, timestamp(n.StartedAt)})
	}
	if err := writeTable(c.stdout, rows); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "%d of %d nodes up, %d active, %d rooms hosted\n", up, len(nodes), active, rooms)
	return err
}

// health is "up", or since when the node has been silent.
func health(n poolNode) string {
	switch {
	case n.Up:
		return "up"
	case n.LastSeen < 0:
		return "down (no status)"
	}
	ago := time.Duration(n.LastSeen * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("down (last seen %s ago)", ago)
}

// latency shows a latency the node measured, in milliseconds.
func latency(ms float64) string {
	if ms == 0 {
		return ""
	}
	return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
}

// poolForget deletes a dead node's status: parleyctl pool forget NODE. A
// live node would write it again within a second, so that is refused. The
// rooms it hosted are not touched: live nodes claim them.
func poolForget(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	ps, err := c.poolStore(ctx)
	if err != nil {
		return err
	}
	statuses, err := ps.NodeStatuses(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(statuses, func(st storage.NodeStatus) bool { return st.Node == args[0] })
	if i < 0 {
		return fmt.Errorf("no node %q in the pool", args[0])
	}
	if st := statuses[i]; st.Age < upWithin {
		return fmt.Errorf("node %q is up (last seen %s ago): stop it first", st.Node, st.Age.Round(time.Millisecond))
	}
	if err := ps.DeleteNodeStatus(ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "forgot node %s\n", args[0])
	return nil
}
