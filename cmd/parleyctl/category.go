package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/muc"
)

// categoryAddFlags and categorySetFlags define the policy flags of category
// add and category set. A new category allows upload, invitations and
// history unless told otherwise; set changes only what it is given.
func categoryAddFlags(fs *flag.FlagSet) { categoryFlags(fs, true) }
func categorySetFlags(fs *flag.FlagSet) { categoryFlags(fs, false) }

func categoryFlags(fs *flag.FlagSet, adding bool) {
	fs.String("description", "", "describe the category as `TEXT`")
	fs.Var(new(listFlag), "allow", "only `USERS` (comma-separated, * for everyone, @DOMAIN for every user of a domain, group:NAME or group:DN for a directory group, which runs to the end of the argument: repeat the flag for several) may be members of its rooms; none given allows everyone")
	fs.Var(new(listFlag), "deny", "`USERS` who may never be members of its rooms (an ethical wall: denial wins over --allow); @DOMAIN walls off every user of a domain, group:NAME or group:DN the members of a directory group")
	fs.Var(new(listFlag), "creators", "`USERS` who may create rooms in it (* for everyone, group:NAME or group:DN for a directory group); none given leaves it to administrators")
	// A new category's switches are on; set shows no default.
	on := func() *switchFlag { return &switchFlag{on: adding, known: adding} }
	fs.Var(on(), "upload", "whether its rooms allow file upload: `true|false`")
	fs.Var(on(), "invitations", "whether its rooms allow invitations: `true|false`")
	fs.Int("retention-days", 0, "purge its rooms' messages older than `N` days, except what legal holds cover (0 keeps them forever)")
	fs.Var(on(), "history", "whether its rooms keep chat history for users: `true|false` (posts reach compliance either way)")
	fs.Var(on(), "federated", "whether users of other servers (XMPP federation) may join and read its rooms: `true|false`")
}

// categoryChange is the change the flags given on the command line ask
// for.
func categoryChange(fs *flag.FlagSet) admin.CategoryChange {
	var ch admin.CategoryChange
	fs.Visit(func(f *flag.Flag) {
		list := func() *[]string { l := []string(*f.Value.(*listFlag)); return &l }
		on := func() *bool { b := f.Value.(*switchFlag).on; return &b }
		switch f.Name {
		case "description":
			v := f.Value.String()
			ch.Description = &v
		case "allow":
			ch.Allow = list()
		case "deny":
			ch.Deny = list()
		case "creators":
			ch.Creators = list()
		case "upload":
			ch.Upload = on()
		case "invitations":
			ch.Invitations = on()
		case "history":
			ch.History = on()
		case "federated":
			ch.Federated = on()
		case "retention-days":
			n := f.Value.(flag.Getter).Get().(int)
			ch.RetentionDays = &n
		}
	})
	return ch
}

// categoryAdd creates a category: parleyctl category add NAME [FLAGS].
func categoryAdd(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	cat, err := api.AddCategory(ctx, args[0], categoryChange(fs))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "added category %s\n", cat.Name)
	return nil
}

// categorySet changes the policy flags given: parleyctl category set NAME
// FLAGS. A wall is refused while someone it denies holds a place in one of
// its rooms; occupants it shuts out of its open rooms are removed by every
// running parleyd (muc revoke.go), and nobody it denies is added from now
// on.
func categorySet(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	if fs.NFlag() == 0 {
		return usageError{"nothing to change: give at least one flag"}
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	cat, err := api.SetCategory(ctx, args[0], categoryChange(fs))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "changed category %s\n", cat.Name)
	return nil
}

// categoryList prints a table of the categories with their policy.
func categoryList(ctx context.Context, c *ctl, _ *flag.FlagSet, _ []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	cats, err := api.Categories(ctx)
	if err != nil {
		return err
	}
	rows := [][]string{{"NAME", "ROOMS", "UPLOAD", "INVITATIONS", "HISTORY", "FEDERATED", "DESCRIPTION"}}
	for _, cat := range cats {
		rows = append(rows, []string{cat.Name, fmt.Sprint(len(cat.Rooms)), yesNo(cat.FileUpload), yesNo(cat.Invitations), yesNo(cat.ChatHistory), yesNo(!cat.LocalOnly), cat.Description})
	}
	return writeTable(c.stdout, rows)
}

// categoryShow prints one category's policy and its rooms.
func categoryShow(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	cat, err := api.Category(ctx, args[0])
	if err != nil {
		return err
	}
	allowed := strings.Join(cat.AllowedMembers, ", ")
	if len(cat.AllowedMembers) == 0 || slices.Contains(cat.AllowedMembers, "*") {
		allowed = "* (everyone)"
	}
	creators := strings.Join(cat.Creators, ", ")
	if len(cat.Creators) == 0 {
		creators = "- (administrators only)"
	} else if slices.Contains(cat.Creators, "*") {
		creators = "* (everyone)"
	}
	return writeTable(c.stdout, [][]string{
		{"name", cat.Name},
		{"description", cat.Description},
		{"allowed", allowed},
		{"denied", strings.Join(cat.DeniedMembers, ", ")},
		{"creators", creators},
		{"file upload", yesNo(cat.FileUpload)},
		{"invitations", yesNo(cat.Invitations)},
		{"chat history", yesNo(cat.ChatHistory)},
		{"federated", yesNo(!cat.LocalOnly)},
		{"rooms", strings.Join(cat.Rooms, ", ")},
		{"created", timestamp(cat.Created)},
		{"updated", timestamp(cat.Updated)},
	})
}

// categoryDelete removes a category that has no rooms.
func categoryDelete(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	if err := api.DeleteCategory(ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted category %s\n", strings.TrimSpace(args[0]))
	return nil
}

// listFlag is a list of users given as one comma-separated flag value,
// or as the flag repeated (--members alice,bob --members carol). Giving
// it empty (--allow=) empties the list.
type listFlag []string

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

// Set adds the comma-separated items of s. An item that starts with
// group: (a directory group) runs to the end of s, so that a group's DN,
// commas and all, is given whole: --deny alice,group:cn=traders,ou=groups,dc=example,dc=org.
func (l *listFlag) Set(s string) error {
	for s != "" {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, muc.GroupPrefix) {
			*l = append(*l, s)
			return nil
		}
		item, rest, _ := strings.Cut(s, ",")
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
		s = rest
	}
	return nil
}

// switchFlag is a policy switch. It takes a value, true or false, unlike a
// boolean flag, so that --upload false means what it says (as a boolean
// flag, "false" would be taken for an argument).
type switchFlag struct {
	on    bool
	known bool // false: no default to show
}

func (f *switchFlag) String() string {
	if f == nil || !f.known {
		return ""
	}
	return strconv.FormatBool(f.on)
}

func (f *switchFlag) Set(s string) error {
	on, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	f.on, f.known = on, true
	return nil
}
