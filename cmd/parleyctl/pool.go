package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/storage"
)

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
		return nil, admin.ErrNoPool
	}
	return ps, nil
}

// poolStatus lists the pool's nodes from the shared database: parleyctl
// pool status [--json]. It needs no running node: every node writes its
// status there every second.
func poolStatus(ctx context.Context, c *ctl, fs *flag.FlagSet, _ []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	nodes, err := api.PoolStatus(ctx)
	if err != nil {
		return err
	}
	if fs.Lookup("json").Value.String() == "true" {
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
func health(n admin.PoolNode) string {
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
	if st := statuses[i]; st.Age < admin.UpWithin {
		return fmt.Errorf("node %q is up (last seen %s ago): stop it first", st.Node, st.Age.Round(time.Millisecond))
	}
	if err := ps.DeleteNodeStatus(ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "forgot node %s\n", args[0])
	return nil
}
