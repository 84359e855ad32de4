package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth"
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
}

// roomListFlags defines room list's --category.
func roomListFlags(fs *flag.FlagSet) {
	fs.String("category", "", "list only the rooms of category `C`")
}

// roomDeleteFlags defines room delete's --reason.
func roomDeleteFlags(fs *flag.FlagSet) {
	fs.String("reason", "", "record `R` as the reason, with the compliance event")
}

// applyRoomFlags copies the settings given on the command line into r.
// Privacy is left to the caller: room create hands it to the engine.
func applyRoomFlags(fs *flag.FlagSet, r *storage.Room, now time.Time) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "category":
			r.Category = strings.TrimSpace(v)
		case "type":
			r.Moderated = muc.RoomType(v) == muc.Auditorium
		case "title":
			r.Title = v
		case "description":
			r.Description = v
		case "subject":
			// Set by the room itself, as a service-set subject is
			// (XEP-0045 §8.1 lets the room be the sender).
			r.Subject, r.SubjectNick, r.SubjectTime = v, "", now
		case "addin-url":
			if u, perr := url.Parse(v); v != "" && (perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
				err = usageError{fmt.Sprintf("--addin-url: want an http or https URL, not %q", v)}
			}
			r.AddInURL = v
		}
	})
	return err
}

// roomCreate creates a room: parleyctl room create NAME [FLAGS].
func roomCreate(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	name, err := roomName(args[0])
	if err != nil {
		return err
	}
	req := muc.CreateRoomRequest{
		Room:    storage.Room{Name: name, Category: muc.DefaultCategory},
		Creator: muc.ActorAdmin,
		Privacy: muc.Privacy(fs.Lookup("privacy").Value.String()),
	}
	if err := applyRoomFlags(fs, &req.Room, time.Now()); err != nil {
		return err
	}
	for _, l := range []struct {
		flag string
		to   *[]string
	}{{"managers", &req.Managers}, {"members", &req.Members}, {"presenters", &req.Presenters}} {
		if *l.to, err = c.users(*fs.Lookup(l.flag).Value.(*listFlag), false); err != nil {
			return fmt.Errorf("--%s: %w", l.flag, err)
		}
	}
	e, err := c.engine(ctx)
	if err != nil {
		return err
	}
	r, err := e.CreateRoom(ctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "created room %s (%s, %s, category %s)\n", c.roomJID(r.Name), muc.PrivacyOf(r), muc.TypeOf(r), r.Category)
	return nil
}

// roomList prints a table of the rooms, of one category or all.
func roomList(ctx context.Context, c *ctl, fs *flag.FlagSet, _ []string) error {
	e, err := c.engine(ctx)
	if err != nil {
		return err
	}
	category := strings.TrimSpace(fs.Lookup("category").Value.String())
	if category != "" {
		if _, err := e.Category(ctx, category); err != nil {
			return err
		}
	}
	rooms, err := e.ListRooms(ctx, muc.ActorAdmin, category)
	if err != nil {
		return err
	}
	rows := [][]string{{"NAME", "CATEGORY", "PRIVACY", "TYPE", "STATE", "TITLE"}}
	for _, r := range rooms {
		rows = append(rows, []string{r.Name, r.Category, string(muc.PrivacyOf(r)), string(muc.TypeOf(r)), state(r), r.Title})
	}
	return writeTable(c.stdout, rows)
}

// roomShow prints a room's settings and who holds which place in it.
func roomShow(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	name, err := roomName(args[0])
	if err != nil {
		return err
	}
	e, err := c.engine(ctx)
	if err != nil {
		return err
	}
	r, err := e.Room(ctx, name, muc.ActorAdmin)
	if err != nil {
		return err
	}
	affs, err := e.Affiliations(ctx, name, muc.ActorAdmin, "")
	if err != nil {
		return err
	}
	var managers, members, presenters, outcasts []string
	for _, a := range affs {
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
		{"address", c.roomJID(r.Name)},
		{"title", r.Title},
		{"category", r.Category},
		{"privacy", string(muc.PrivacyOf(r))},
		{"type", string(muc.TypeOf(r))},
		{"state", state(r)},
		{"description", r.Description},
		{"subject", r.Subject},
		{"add-in URL", r.AddInURL},
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
	name, err := roomName(args[0])
	if err != nil {
		return err
	}
	// Bad flag values are usage errors, found before the store is opened.
	if err := applyRoomFlags(fs, &storage.Room{}, time.Time{}); err != nil {
		return err
	}
	e, err := c.engine(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	_, err = e.Configure(ctx, muc.ActorAdmin, name, func(r *storage.Room) error {
		if p := fs.Lookup("privacy").Value.String(); p != "" {
			muc.SetPrivacy(r, muc.Privacy(p))
		}
		return applyRoomFlags(fs, r, now)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "changed room %s\n", name)
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
	name, err := roomName(room)
	if err != nil {
		return err
	}
	e, err := c.engine(ctx)
	if err != nil {
		return err
	}
	if _, err := e.Configure(ctx, muc.ActorAdmin, name, func(r *storage.Room) error {
		r.Disabled = disabled
		return nil
	}); err != nil {
		return err
	}
	if disabled {
		fmt.Fprintf(c.stdout, "disabled room %s\n", name)
	} else {
		fmt.Fprintf(c.stdout, "enabled room %s\n", name)
	}
	return nil
}

// roomDelete deletes a room with its affiliations and history.
func roomDelete(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	name, err := roomName(args[0])
	if err != nil {
		return err
	}
	e, err := c.engine(ctx)
	if err != nil {
		return err
	}
	if err := e.Destroy(ctx, muc.ActorAdmin, name, fs.Lookup("reason").Value.String(), ""); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted room %s\n", name)
	return nil
}

// A placeList is one of the lists of users a room keeps, as Persistent
// Chat names them: managers (XEP-0045 owners and admins), members, and
// presenters (members with voice in an auditorium).
type placeList int

const (
	listMembers placeList = iota
	listManagers
	listPresenters
)

// holds reports whether a stored affiliation puts its user on the list.
func (l placeList) holds(a storage.Affiliation) bool {
	switch l {
	case listManagers:
		return muc.Affiliation(a.Affiliation).IsManager()
	case listPresenters:
		return a.Presenter
	}
	return a.Affiliation == storage.AffiliationMember
}

// singular names one place on the list: "a member".
func (l placeList) singular() string {
	return [...]string{"a member", "a manager", "a presenter"}[l]
}

func (l placeList) String() string {
	return [...]string{"members", "managers", "presenters"}[l]
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
// USER... and room LIST list ROOM.
//
// Adding someone already on the list, or a manager as a member, changes
// nothing. Removing someone who is not on the list fails before anything
// changes. Managers removed stay members; members removed lose their place
// (and their presenter right) altogether; presenters removed stay members.
func placeCommand(list placeList, op placeOp) func(context.Context, *ctl, *flag.FlagSet, []string) error {
	return func(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
		room, err := roomName(args[0])
		if err != nil {
			return err
		}
		users, err := c.users(args[1:], false)
		if err != nil {
			return err
		}
		e, err := c.engine(ctx)
		if err != nil {
			return err
		}
		affs, err := e.Affiliations(ctx, room, muc.ActorAdmin, "")
		if err != nil {
			return err
		}
		if op == opList {
			return c.printPlaces(list, affs)
		}
		current := make(map[string]storage.Affiliation, len(affs))
		for _, a := range affs {
			current[a.JID] = a
		}
		if op == opRemove {
			for _, u := range users {
				if !list.holds(current[u]) {
					return fmt.Errorf("%s is not %s of %s", u, list.singular(), room)
				}
			}
		}
		for _, u := range users {
			a := current[u]
			switch {
			case op == opAdd && list.holds(a):
				fmt.Fprintf(c.stdout, "%s is already %s of %s\n", u, list.singular(), room)
				continue
			case op == opAdd && list == listMembers && listManagers.holds(a):
				fmt.Fprintf(c.stdout, "%s is already %s of %s\n", u, listManagers.singular(), room)
				continue
			}
			if err := c.changePlace(ctx, e, room, u, list, op); err != nil {
				return err
			}
			switch {
			case op == opAdd:
				fmt.Fprintf(c.stdout, "added %s to the %s of %s\n", u, list, room)
			case list == listManagers:
				fmt.Fprintf(c.stdout, "removed %s from the managers of %s (now a member)\n", u, room)
			default:
				fmt.Fprintf(c.stdout, "removed %s from the %s of %s\n", u, list, room)
			}
		}
		return nil
	}
}

// changePlace makes the engine add user to list or remove them from it.
func (c *ctl) changePlace(ctx context.Context, e *muc.Engine, room, user string, list placeList, op placeOp) error {
	switch {
	case list == listPresenters:
		return e.SetPresenter(ctx, room, muc.ActorAdmin, user, op == opAdd)
	case list == listMembers && op == opAdd, list == listManagers && op == opRemove:
		return e.SetAffiliation(ctx, room, muc.ActorAdmin, user, muc.AffMember, "")
	case list == listManagers:
		return e.SetAffiliation(ctx, room, muc.ActorAdmin, user, muc.AffOwner, "")
	}
	return e.SetAffiliation(ctx, room, muc.ActorAdmin, user, muc.AffNone, "")
}

// printPlaces prints the users on a list, one per line; managers with
// their affiliation (owner or admin) in a table.
func (c *ctl) printPlaces(list placeList, affs []storage.Affiliation) error {
	if list == listManagers {
		rows := [][]string{{"USER", "AFFILIATION"}}
		for _, a := range affs {
			if list.holds(a) {
				rows = append(rows, []string{a.JID, a.Affiliation})
			}
		}
		return writeTable(c.stdout, rows)
	}
	for _, a := range affs {
		if list.holds(a) {
			fmt.Fprintln(c.stdout, a.JID)
		}
	}
	return nil
}

// roomName normalises a room name as the XMPP front door does with the
// localpart of room@conference.DOMAIN (RFC 7622 §3.3, then lower case).
func roomName(s string) (string, error) {
	name, err := auth.NormalizeUsername(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("invalid room name %q: want what may be the localpart of a JID (no spaces, @, /, :, quotes, &, < or >)", s)
	}
	return strings.ToLower(name), nil
}

// roomJID is the room's address at the MUC service.
func (c *ctl) roomJID(name string) string { return name + "@conference." + c.cfg.Domain }

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
