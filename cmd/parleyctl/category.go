package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
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

// applyCategoryFlags copies the flags given on the command line into cat.
func (c *ctl) applyCategoryFlags(fs *flag.FlagSet, cat *storage.Category) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err != nil {
			return
		}
		switch f.Name {
		case "description":
			cat.Description = f.Value.String()
		case "allow":
			cat.AllowedMembers, err = c.users(*f.Value.(*listFlag), true)
		case "deny":
			cat.DeniedMembers, err = c.users(*f.Value.(*listFlag), false)
		case "creators":
			cat.Creators, err = c.users(*f.Value.(*listFlag), true)
		case "upload":
			cat.FileUpload = f.Value.(*switchFlag).on
		case "invitations":
			cat.Invitations = f.Value.(*switchFlag).on
		case "history":
			cat.ChatHistory = f.Value.(*switchFlag).on
		case "federated":
			cat.LocalOnly = !f.Value.(*switchFlag).on
		case "retention-days":
			cat.RetentionDays = f.Value.(flag.Getter).Get().(int)
			if cat.RetentionDays < 0 {
				err = usageError{"want 0 (forever) or more days"}
			}
		}
		if err != nil {
			err = fmt.Errorf("--%s: %w", f.Name, err)
		}
	})
	return err
}

// categoryAdd creates a category: parleyctl category add NAME [FLAGS].
func categoryAdd(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	cat := storage.Category{Name: strings.TrimSpace(args[0]), FileUpload: true, Invitations: true, ChatHistory: true}
	if err := c.applyCategoryFlags(fs, &cat); err != nil {
		return err
	}
	e, err := c.engine(ctx)
	if err != nil {
		return err
	}
	// PutCategory creates or replaces; add must not replace.
	switch _, err := e.Category(ctx, cat.Name); {
	case err == nil:
		return fmt.Errorf("category %q exists", cat.Name)
	case muc.CodeOf(err) != muc.CodeNotFound:
		return err
	}
	if err := e.PutCategory(ctx, muc.ActorAdmin, cat); err != nil {
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
	e, err := c.engine(ctx)
	if err != nil {
		return err
	}
	cat, err := e.Category(ctx, strings.TrimSpace(args[0]))
	if err != nil {
		return err
	}
	if err := c.applyCategoryFlags(fs, &cat); err != nil {
		return err
	}
	if err := e.PutCategory(ctx, muc.ActorAdmin, cat); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "changed category %s\n", cat.Name)
	return nil
}

// categoryList prints a table of the categories with their policy.
func categoryList(ctx context.Context, c *ctl, _ *flag.FlagSet, _ []string) error {
	e, err := c.engine(ctx)
	if err != nil {
		return err
	}
	cats, err := e.Categories(ctx)
	if err != nil {
		return err
	}
	rooms, err := e.ListRooms(ctx, muc.ActorAdmin, "")
	if err != nil {
		return err
	}
	count := make(map[string]int)
	for _, r := range rooms {
		count[r.Category]++
	}
	rows := [][]string{{"NAME", "ROOMS", "UPLOAD", "INVITATIONS", "HISTORY", "FEDERATED", "DESCRIPTION"}}
	for _, cat := range cats {
		rows = append(rows, []string{cat.Name, fmt.Sprint(count[cat.Name]), yesNo(cat.FileUpload), yesNo(cat.Invitations), yesNo(cat.ChatHistory), yesNo(!cat.LocalOnly), cat.Description})
	}
	return writeTable(c.stdout, rows)
}

// categoryShow prints one category's policy and its rooms.
func categoryShow(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	e, err := c.engine(ctx)
	if err != nil {
		return err
	}
	cat, err := e.Category(ctx, strings.TrimSpace(args[0]))
	if err != nil {
		return err
	}
	rooms, err := e.ListRooms(ctx, muc.ActorAdmin, cat.Name)
	if err != nil {
		return err
	}
	names := make([]string, len(rooms))
	for i, r := range rooms {
		names[i] = r.Name
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
		{"rooms", strings.Join(names, ", ")},
		{"created", timestamp(cat.Created)},
		{"updated", timestamp(cat.Updated)},
	})
}

// categoryDelete removes a category that has no rooms.
func categoryDelete(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	name := strings.TrimSpace(args[0])
	if name == muc.DefaultCategory {
		// The engine creates it again at every start.
		return fmt.Errorf("the default category %q cannot be deleted", name)
	}
	e, err := c.engine(ctx)
	if err != nil {
		return err
	}
	if err := e.DeleteCategory(ctx, muc.ActorAdmin, name); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted category %s\n", name)
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

// users turns a list of users (bare JIDs or usernames) into bare JIDs,
// without repeats; "*" (everyone) is kept where everyone may be.
func (c *ctl) users(list []string, everyone bool) ([]string, error) {
	var out []string
	for _, u := range list {
		if u == "*" {
			if !everyone {
				// Not *@DOMAIN, which is a valid JID.
				return nil, fmt.Errorf(`"*" (everyone) cannot be given here`)
			}
			out = append(out, u)
			continue
		}
		if ref, ok := strings.CutPrefix(strings.TrimSpace(u), muc.GroupPrefix); ok {
			if _, ldap := c.cfg.LDAP(); !ldap {
				return nil, fmt.Errorf("%s names a directory group: give --auth ldap and the --ldap-* settings parleyd uses", u)
			}
			g, err := groupEntry(ref)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
			continue
		}
		j, err := c.userJID(u)
		if domain, ok := strings.CutPrefix(strings.TrimSpace(u), "@"); ok {
			// Every user of a domain (another server's, federation).
			j, err = domainJID(domain)
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	return out, nil
}

// groupEntry checks a directory group given as group:NAME or group:DN
// and returns the policy entry for it.
func groupEntry(ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", errors.New("group: needs a group's name or DN")
	}
	if strings.Contains(ref, "=") {
		dn, err := ldap.ParseDN(ref)
		if err != nil {
			return "", fmt.Errorf("invalid group DN %q: %w", ref, err)
		}
		ref = dn.String()
	}
	return muc.GroupPrefix + ref, nil
}

// domainJID normalises a domain given as @DOMAIN on the command line.
func domainJID(s string) (string, error) {
	j, err := jid.Parse(s)
	if err != nil || j.Localpart() != "" || j.Resourcepart() != "" {
		return "", fmt.Errorf("invalid domain %q: want @example.org", "@"+s)
	}
	return j.String(), nil
}

// userJID turns a user as given on the command line into the bare JID the
// engine keeps: alice@example.org as it is (normalised, RFC 7622), and a
// bare username as a user at --domain.
func (c *ctl) userJID(s string) (string, error) {
	given := s
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "@") {
		s += "@" + c.cfg.Domain
	}
	j, err := jid.Parse(s)
	if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
		return "", fmt.Errorf("invalid user %q: want a bare JID (alice@example.org) or a username", given)
	}
	return j.String(), nil
}
