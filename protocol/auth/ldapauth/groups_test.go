package ldapauth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/protocol/auth/ldapauth"
	"github.com/parleychat/parley/protocol/auth/ldapauth/slapdtest"
)

// groupTree is a directory with nested groups: floor ⊃ desk ⊃ traders ∋
// bob; research ∋ alice; unix (posixGroup) ∋ dave by memberUid; and a
// group whose name tries filter injection.
var groupTree = slapdtest.Tree{
	Users: []slapdtest.User{{UID: "alice", Password: "alice-pw"}, {UID: "bob", Password: "bob-pw"},
		{UID: "carol", Password: "carol-pw"}, {UID: "dave", Password: "dave-pw"}, {UID: "star*", Password: "star-pw"}},
	Groups: []slapdtest.Group{
		{CN: "research", Members: []string{"alice"}},
		{CN: "traders", Members: []string{"bob"}},
		{CN: "desk", Members: []string{"carol"}, Subgroups: []string{"traders"}},
		{CN: "floor", Subgroups: []string{"desk"}},
		{CN: "unix", Members: []string{"dave"}, Posix: true},
		{CN: "stars", Members: []string{"star*"}},
	},
}

func names(groups []ldapauth.Group) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g.Name)
	}
	slices.Sort(out)
	return out
}

// A user's groups are found with the group base search and followed up
// nested groups (OpenLDAP: level by level, no in-chain rule); policy names
// a group by cn or DN; every value is escaped.
func TestGroups(t *testing.T) {
	srv := slapdtest.StartTree(t, groupTree)
	d, _ := openDirectory(t, directoryConfig(srv))
	ctx := context.Background()
	for user, want := range map[string]string{
		"alice":  "research",
		"bob":    "desk floor traders", // traders, and the groups that hold it
		"carol":  "desk floor",
		"dave":   "", // memberUid is not --ldap-group-attr here
		"star*":  "stars",
		"nobody": "",
	} {
		groups, err := d.Groups(ctx, user)
		if err != nil {
			t.Fatalf("Groups(%s): %v", user, err)
		}
		if got := strings.Join(names(groups), " "); got != want {
			t.Errorf("Groups(%s) = %q, want %q", user, got, want)
		}
	}
	for _, c := range []struct {
		user, group string
		want        bool
	}{
		{"bob@example.org", "floor", true},
		{"bob@example.org", "FLOOR", true},
		{"bob@example.org", "cn=desk,ou=groups,dc=example,dc=org", true},
		{"bob@example.org", "CN=Desk, OU=Groups, DC=example, DC=org", true},
		{"bob@example.org", "research", false},
		{"bob@other.example", "traders", false}, // not a directory user
		{"alice@example.org", "research", true},
		// Injection: in the user (a filter that would match everyone)
		// and in the group (never put in a filter).
		{"*@example.org", "research", false},
		{"alice)(uid=*@example.org", "research", false},
		{"alice@example.org", "*", false},
		{"alice@example.org", "research)(cn=*", false},
		{"alice@example.org", "cn=*,ou=groups,dc=example,dc=org", false},
		// A uid with a * in it: its DN is escaped in the member filter.
		{"star*@example.org", "stars", true},
		{"star*@example.org", "research", false},
	} {
		got, err := d.InGroup(ctx, c.user, c.group)
		if err != nil || got != c.want {
			t.Errorf("InGroup(%q, %q) = %v, %v; want %v", c.user, c.group, got, err, c.want)
		}
	}

	// GroupExists, for parleyctl: a misspelt group, a user's entry and a
	// wildcard (escaped) are no groups.
	for ref, want := range map[string]error{
		"traders": nil, "unix": nil, "cn=desk,ou=groups,dc=example,dc=org": nil,
		"tradrs": ldapauth.ErrNoGroup, "*": ldapauth.ErrNoGroup, "tr*": ldapauth.ErrNoGroup,
		"uid=alice,ou=people,dc=example,dc=org": ldapauth.ErrNoGroup,
		"cn=nosuch,ou=groups,dc=example,dc=org": ldapauth.ErrNoGroup,
	} {
		if err := d.GroupExists(ctx, ref); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("GroupExists(%q) = %v, want %v", ref, err, want)
		}
	}

	// posixGroup: --ldap-group-attr memberUid.
	cfg := directoryConfig(srv)
	cfg.GroupAttr = "memberUid"
	posix, _ := openDirectory(t, cfg)
	if in, err := posix.InGroup(ctx, "dave@example.org", "unix"); !in || err != nil {
		t.Errorf("memberUid: dave in unix = %v, %v", in, err)
	}
	if in, err := posix.InGroup(ctx, "bob@example.org", "unix"); in || err != nil {
		t.Errorf("memberUid: bob in unix = %v, %v", in, err)
	}
}

// Groups are cached for --ldap-cache-ttl: a change in the directory shows
// after it; with the directory down the last answer is kept, and a user
// never resolved gets an error (the room engine fails closed on it).
func TestGroupsCache(t *testing.T) {
	srv := slapdtest.StartTree(t, groupTree)
	clk := &clock{now: time.Now()}
	cfg := directoryConfig(srv)
	cfg.CacheTTL, cfg.Now = time.Minute, clk.Now
	d, _ := openDirectory(t, cfg)
	ctx := context.Background()
	in := func(user, group string) bool {
		t.Helper()
		ok, err := d.InGroup(ctx, user, group)
		if err != nil {
			t.Fatalf("InGroup(%s, %s): %v", user, group, err)
		}
		return ok
	}
	if in("alice@example.org", "traders") {
		t.Fatal("alice in traders before the change")
	}
	srv.AddMember(t, slapdtest.Group{CN: "traders"}.DN(), "alice")
	if in("alice@example.org", "traders") {
		t.Error("alice in traders within the TTL of the first answer")
	}
	clk.add(time.Minute)
	if !in("alice@example.org", "traders") || !in("alice@example.org", "floor") {
		t.Error("alice not in traders (and floor, nested) after the TTL")
	}

	srv.Stop()
	clk.add(time.Minute)
	if !in("alice@example.org", "traders") {
		t.Error("directory down: alice's groups as last resolved are not kept")
	}
	if _, err := d.InGroup(ctx, "carol@example.org", "desk"); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("directory down, carol never resolved: %v, want ErrUnavailable", err)
	}
}

// memberOf on the user (OpenLDAP's memberof overlay, as Active Directory
// keeps it) names groups outside --ldap-group-base too: they match by DN,
// and the groups under the base that hold them are followed.
func TestGroupsMemberOf(t *testing.T) {
	quants := slapdtest.Group{CN: "quants", Members: []string{"alice"}, Base: slapdtest.Teams}
	srv := slapdtest.StartTree(t, slapdtest.Tree{MemberOf: true, Users: groupTree.Users, Groups: []slapdtest.Group{
		quants, {CN: "research", Members: []string{quants.DN()}}}})
	d, _ := openDirectory(t, directoryConfig(srv))
	ctx := context.Background()
	dn := slapdtest.Group{CN: "quants", Base: slapdtest.Teams}.DN()
	if in, err := d.InGroup(ctx, "alice@example.org", dn); !in || err != nil {
		t.Errorf("memberOf: alice in %s = %v, %v", dn, in, err)
	}
	// quants is not under the group base: its name does not name it.
	if in, err := d.InGroup(ctx, "alice@example.org", "quants"); in || err != nil {
		t.Errorf("memberOf: alice in group named quants = %v, %v; want false", in, err)
	}
	// research (under the base) holds quants: followed from memberOf.
	if in, err := d.InGroup(ctx, "alice@example.org", "research"); !in || err != nil {
		t.Errorf("memberOf: alice in research (holds quants) = %v, %v", in, err)
	}
	if in, err := d.InGroup(ctx, "bob@example.org", dn); in || err != nil {
		t.Errorf("memberOf: bob in %s = %v, %v", dn, in, err)
	}
}
