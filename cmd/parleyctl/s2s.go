package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/parleychat/parley/storage"
)

// s2sStaleAfter is how old a node's link table may be before s2s list
// says the node is not publishing (parleyd writes it every 5 seconds).
const s2sStaleAfter = 20 * time.Second

// s2sListFlags defines s2s list's --json.
func s2sListFlags(fs *flag.FlagSet) {
	fs.Bool("json", false, "print each node's link table as JSON instead of a table")
}

// s2sList lists the XMPP server-to-server links every node last published
// in the database: parleyctl s2s list [--json]. Like pool status it needs
// no running node, and it says how old each node's table is.
func s2sList(ctx context.Context, c *ctl, fs *flag.FlagSet, _ []string) error {
	store, err := c.open(ctx)
	if err != nil {
		return err
	}
	statuses, err := store.S2SStatuses(ctx)
	if err != nil {
		return err
	}
	if fs.Lookup("json").Value.String() == "true" {
		if statuses == nil {
			statuses = []storage.S2SStatus{}
		}
		return writeJSON(c.stdout, statuses)
	}
	if len(statuses) == 0 {
		fmt.Fprintln(c.stdout, "no node has published server-to-server links to this database (is --xmpp-s2s on?)")
		return nil
	}
	now := time.Now()
	rows := [][]string{{"NODE", "DIRECTION", "LOCAL", "REMOTE", "STATE", "AUTH", "QUEUED", "IN", "OUT", "SINCE"}}
	var links int
	var stale []string
	for _, st := range statuses {
		if age := now.Sub(st.Written); age > s2sStaleAfter {
			stale = append(stale, fmt.Sprintf("%s: table written %s ago (not running?)", st.Node, age.Round(time.Second)))
			continue
		}
		for _, l := range st.Links {
			links++
			rows = append(rows, []string{st.Node, l.Direction, l.Local, l.Remote, l.State, l.Auth,
				strconv.Itoa(l.Queued), strconv.FormatInt(l.StanzasIn, 10), strconv.FormatInt(l.StanzasOut, 10), timestamp(l.Since)})
		}
	}
	if links > 0 {
		if err := writeTable(c.stdout, rows); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(c.stdout, "%d links on %d nodes\n", links, len(statuses)-len(stale)); err != nil {
		return err
	}
	for _, s := range stale {
		if _, err := fmt.Fprintln(c.stdout, s); err != nil {
			return err
		}
	}
	return nil
}
