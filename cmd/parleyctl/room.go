package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// roomCreateFlags defines room create's flags: the settings, with a new
// room's defaults, and its first managers, members and presenters.
func roomCreateFlags(fs *flag.FlagSet) {
	roomSettingFlags(fs, true)
	fs.Var(new(listFlag), "managers", "make `USERS` (comma-separated) managers (admins) of the room")
	fs.Var(new(listFlag), "members", "make `USERS` members of the room")
	fs.Var(new(listFlag), "presenters", "make `USERS` presenters of the room (members who may post in an auditorium)")
}

// roomSetFlags defines room set's flags: the settings, changed only when
// given. Managers, members and presenters have commands of their own.
func roomSetFlags(fs *flag.FlagSet) { roomSettingFlags(fs, false) }

func roomSettingFlags(fs *flag.FlagSet, creating bool) {
	category, privacy, typ := "", "", ""
	if creating {
		category, privacy, typ = muc.DefaultCategory, string(muc.Closed), string(muc.Normal)
	}
	fs.String("category", category, "put the room in category `C`")
	fs.Var(&choiceFlag{value: privacy, choices: []string{string(muc.Open), string(muc.Closed), string(muc.Secret)}}, "privacy",
		"the room's `PRIVACY`: open (anyone may find and join), closed (listed, members only) or secret (unlisted, members only)")
	fs.Var(&choiceFlag{value: typ, choices: []string{string(muc.Normal), string(muc.Auditorium)}}, "type",
		"the room's `TYPE`: normal, or auditorium (only presenters and managers post)")
	title := "the room's `TITLE`"
	if creating {
		title += " (default its name)"
	}
	fs.String("title", "", title)
	fs.String("description", "", "describe the room as `TEXT`")
	fs.String("subject", "", "set the room's `SUBJECT`")
	fs.String("addin-url", "", "the `URL` of the room's add-in (a web page shown with the room), http or https")
	fs.String("presence-broadcast", "", "broadcast the presence of `ROLES` only: moderator, participant and visitor, comma-separated, or all (a new room's default), or none")
}

// roomListFlags defines room list's --category.
func roomListFlags(fs *flag.FlagSet) {
	fs.String("category", "", "list only the rooms of category `C`")
}

// roomDeleteFlags defines room delete's --reason.
func roomDeleteFlags(fs *flag.FlagSet) {
	fs.String("reason", "", "record `R` as the reason, with the compliance event")
}

// roomChange is the change to a room's settings the flags given on the
// command line ask for.
func roomChange(fs *flag.FlagSet) admin.RoomChange {
	var ch admin.RoomChange
	fs.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "category":
			ch.Category = &v
		case "privacy":
			ch.Privacy = &v
		case "type":
			ch.Type = &v
		case "title":
			ch.Title = &v
		case "description":
			ch.Description = &v
		case "subject":
			ch.Subject = &v
		case "addin-url":
			ch.AddInURL = &v
		case "presence-broadcast":
			ch.PresenceBroadcast = &v
		}
	})
	return ch
}

// roomCreate creates a room: parleyctl room create NAME [FLAGS].
func roomCreate(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	spec := admin.RoomSpec{Name: args[0], RoomChange: roomChange(fs)}
	for _, l := range []struct {
		flag string
		to   *[]string
	}{{"managers", &spec.Managers}, {"members", &spec.Members}, {"presenters", &spec.Presenters}} {
		*l.to = *fs.Lookup(l.flag).Value.(*listFlag)
	}
	if err := spec.Check(); err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	r, err := api.CreateRoom(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "created room %s (%s, %s, category %s)\n", r.Address, r.Privacy, r.Type, r.Category)
	return nil
}

// roomList prints a table of the rooms, of one category or all.
func roomList(ctx context.Context, c *ctl, fs *flag.FlagSet, _ []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	rooms, err := api.Rooms(ctx, fs.Lookup("category").Value.String())
	if err != nil {
		return err
	}
	rows := [][]string{{"NAME", "CATEGORY", "PRIVACY", "TYPE", "STATE", "TITLE"}}
	for _, r := range rooms {
		rows = append(rows, []string{r.Name, r.Category, string(r.Privacy), string(r.Type), state(r.Room), r.Title})
	}
	return writeTable(c.stdout, rows)
}

// roomShow prints a room's settings and who holds which place in it.
func roomShow(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	r, err := api.Room(ctx, args[0])
	if err != nil {
		return err
	}
	var managers, members, presenters, outcasts []string
	for _, a := range r.Affiliations {
		switch muc.Affiliation(a.Affiliation) {
		case muc.AffOwner:
			managers = append(managers, a.JID)
		case muc.AffAdmin:
			// An admin set over XMPP: a manager who may not change
			// the room's configuration (XEP-0045 §5.2).
			managers = append(managers, a.JID+" (admin)")
		case muc.AffMember:
			members = append(members, a.JID)
		case muc.AffOutcast:
			outcasts = append(outcasts, a.JID)
		}
		if a.Presenter {
			presenters = append(presenters, a.JID)
		}
	}
	return writeTable(c.stdout, [][]string{
		{"name", r.Name},
		{"address", r.Address},
		{"title", r.Title},
		{"category", r.Category},
		{"privacy", string(r.Privacy)},
		{"type", string(r.Type)},
		{"state", state(r.Room)},
		{"description", r.Description},
		{"subject", r.Subject},
		{"add-in URL", r.AddInURL},
		{"presence broadcast", presenceBroadcast(r.Room)},
		{"creator", r.Creator},
		{"created", timestamp(r.Created)},
		{"updated", timestamp(r.Updated)},
		{"managers", strings.Join(managers, ", ")},
		{"members", strings.Join(members, ", ")},
		{"presenters", strings.Join(presenters, ", ")},
		{"outcasts", strings.Join(outcasts, ", ")},
	})
}

// roomSet changes the settings given: parleyctl room set NAME FLAGS.
func roomSet(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	if fs.NFlag() == 0 {
		return usageError{"nothing to change: give at least one flag"}
	}
	ch := roomChange(fs)
	// Bad flag values are usage errors, found before the store is opened.
	if err := ch.Check(); err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	r, err := api.SetRoom(ctx, args[0], ch)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "changed room %s\n", r.Name)
	return nil
}

// roomDisable and roomEnable set a room's disabled flag: a disabled room
// refuses joins and keeps its history.
func roomDisable(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	return c.setDisabled(ctx, args[0], true)
}

func roomEnable(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	return c.setDisabled(ctx, args[0], false)
}

func (c *ctl) setDisabled(ctx context.Context, room string, disabled bool) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	r, err := api.SetRoomDisabled(ctx, room, disabled)
	if err != nil {
		return err
	}
	if disabled {
		fmt.Fprintf(c.stdout, "disabled room %s\n", r.Name)
	} else {
		fmt.Fprintf(c.stdout, "enabled room %s\n", r.Name)
	}
	return nil
}

// roomDelete deletes a room with its affiliations and history.
func roomDelete(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	name, err := admin.RoomName(args[0])
	if err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	if err := api.DeleteRoom(ctx, name, fs.Lookup("reason").Value.String()); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted room %s\n", name)
	return nil
}

// placeOp is what a room members|managers|presenters command does.
type placeOp int

const (
	opAdd placeOp = iota
	opRemove
	opList
)

// placeCommand returns the command that adds users to, removes them from
// or lists one of a room's lists: parleyctl room LIST add|remove ROOM
// USER... and room LIST list ROOM (admin.ChangePlaces says what adding
// and removing do).
func placeCommand(list admin.Place, op placeOp) func(context.Context, *ctl, *flag.FlagSet, []string) error {
	return func(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
		room, err := admin.RoomName(args[0])
		if err != nil {
			return err
		}
		api, err := c.api(ctx)
		if err != nil {
			return err
		}
		if op == opList {
			r, err := api.Room(ctx, room)
			if err != nil {
				return err
			}
			return c.printPlaces(list, r.Affiliations)
		}
		results, err := api.ChangePlaces(ctx, room, list, op == opAdd, args[1:])
		for _, res := range results {
			switch {
			case res.Already != "":
				fmt.Fprintf(c.stdout, "%s is already %s of %s\n", res.User, res.Already.Singular(), room)
			case op == opAdd:
				fmt.Fprintf(c.stdout, "added %s to the %s of %s\n", res.User, list, room)
			case list == admin.Managers:
				fmt.Fprintf(c.stdout, "removed %s from the managers of %s (now a member)\n", res.User, room)
			default:
				fmt.Fprintf(c.stdout, "removed %s from the %s of %s\n", res.User, list, room)
			}
		}
		return err
	}
}

// printPlaces prints the users on a list, one per line; managers with
// their affiliation (owner or admin) in a table.
func (c *ctl) printPlaces(list admin.Place, affs []storage.Affiliation) error {
	if list == admin.Managers {
		rows := [][]string{{"USER", "AFFILIATION"}}
		for _, a := range affs {
			if list.Holds(a) {
				rows = append(rows, []string{a.JID, a.Affiliation})
			}
		}
		return writeTable(c.stdout, rows)
	}
	for _, a := range affs {
		if list.Holds(a) {
			fmt.Fprintln(c.stdout, a.JID)
		}
	}
	return nil
}

// state says whether a room takes joins.
func state(r storage.Room) string {
	if r.Disabled {
		return "disabled"
	}
	return "enabled"
}

// choiceFlag is a flag whose value is one of a few words.
type choiceFlag struct {
	value   string
	choices []string
}

func (f *choiceFlag) String() string {
	if f == nil {
		return ""
	}
	return f.value
}

func (f *choiceFlag) Set(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	if !slices.Contains(f.choices, s) {
		return fmt.Errorf("want %s or %s", strings.Join(f.choices[:len(f.choices)-1], ", "), f.choices[len(f.choices)-1])
	}
	f.value = s
	return nil
}

// presenceBroadcast shows the roles whose presence a room broadcasts.
func presenceBroadcast(r storage.Room) string {
	roles := muc.BroadcastRoles(r)
	if len(roles) == 0 {
		return "none"
	}
	names := make([]string, len(roles))
	for i, role := range roles {
		names[i] = string(role)
	}
	return strings.Join(names, ", ")
}
