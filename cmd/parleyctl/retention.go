package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/parleychat/parley/admin"
)

// Retention, legal hold and administrators' removal of content (issue 5
// item 5); every change goes through the room engine, which captures it.

// holdFlags defines compliance hold's --user, --room and --reason.
func holdFlags(fs *flag.FlagSet) {
	fs.String("user", "", "hold everything user `U` posted and every compliance event they acted in")
	fs.String("room", "", "hold room `R`'s whole history and compliance events")
	fs.String("reason", "", "record `TEXT` as the reason")
}

func holdTarget(fs *flag.FlagSet) admin.HoldTarget {
	return admin.HoldTarget{User: fs.Lookup("user").Value.String(), Room: fs.Lookup("room").Value.String(), Reason: fs.Lookup("reason").Value.String()}
}

// holdAdd places a legal hold: parleyctl compliance hold add --user U | --room R [--reason T].
func holdAdd(ctx context.Context, c *ctl, fs *flag.FlagSet, _ []string) error {
	t := holdTarget(fs)
	if (t.User == "") == (t.Room == "") {
		return usageError{"give exactly one of --user and --room"}
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	h, err := api.AddHold(ctx, t)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "placed a legal hold on %s %s\n", h.Kind, h.Name)
	return nil
}

// holdRemove lifts a legal hold.
func holdRemove(ctx context.Context, c *ctl, fs *flag.FlagSet, _ []string) error {
	t := holdTarget(fs)
	if (t.User == "") == (t.Room == "") {
		return usageError{"give exactly one of --user and --room"}
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	h, err := api.RemoveHold(ctx, t)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "lifted the legal hold on %s %s\n", h.Kind, h.Name)
	return nil
}

// holdList prints the legal holds.
func holdList(ctx context.Context, c *ctl, _ *flag.FlagSet, _ []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	holds, err := api.Holds(ctx)
	if err != nil {
		return err
	}
	rows := [][]string{{"KIND", "NAME", "SINCE", "BY", "REASON"}}
	for _, h := range holds {
		rows = append(rows, []string{h.Kind, h.Name, timestamp(h.Created), h.Actor, h.Reason})
	}
	return writeTable(c.stdout, rows)
}

// roomClearFlags defines room clear's --before.
func roomClearFlags(fs *flag.FlagSet) {
	fs.String("before", "", "delete the messages posted before `DATE` (2006-01-02 or RFC 3339)")
}

// roomClear deletes a room's history before a date, except what legal holds
// cover: parleyctl room clear ROOM --before DATE.
func roomClear(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	name, err := admin.RoomName(args[0])
	if err != nil {
		return err
	}
	before, err := parseDate(fs.Lookup("before").Value.String())
	if err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	n, err := api.ClearRoom(ctx, name, before)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted %d messages of room %s posted before %s (legal holds kept)\n", n, name, timestamp(before))
	return nil
}

// parseDate reads --before: a date (midnight UTC) or an RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, usageError{"--before is required"}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageError{fmt.Sprintf("--before: want a date (2006-01-02) or an RFC 3339 time, not %q", s)}
}

// messageRemoveFlags defines message remove's --text.
func messageRemoveFlags(fs *flag.FlagSet) {
	fs.String("text", "", "replace the message with `TEXT` (default: a notice that an administrator removed it)")
}

// messageRemove tombstones one message: parleyctl message remove ROOM STANZA-ID [--text T].
func messageRemove(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	name, err := admin.RoomName(args[0])
	if err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	if err := api.RemoveMessage(ctx, name, args[1], fs.Lookup("text").Value.String()); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "removed message %s of room %s\n", args[1], name)
	return nil
}
