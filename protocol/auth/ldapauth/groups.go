package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/parleychat/parley/protocol/auth"
)

// Groups. A user's groups are found three ways, all followed together:
//
//   - the groups under Config.GroupBase whose GroupAttr (member,
//     uniqueMember) holds the user's DN, or whose memberUid holds their
//     username (posixGroup);
//   - the groups the user's memberOf attribute names (Active Directory,
//     OpenLDAP's memberof overlay), wherever they are;
//   - the groups that hold any of those as a member, and so on up to
//     MaxGroupDepth levels (nested groups), one search per level. When the
//     directory says it is Active Directory (rootDSE supportedCapabilities
//     1.2.840.113556.1.4.800), one search with LDAP_MATCHING_RULE_IN_CHAIN
//     (1.2.840.113556.1.4.1941) does it instead; OpenLDAP has no such rule.
//
// Every value put in a filter is escaped (RFC 4515 §3). Group names from
// policy are never put in a filter: they are compared with what the
// directory returned. Results are cached per user for Config.CacheTTL;
// when the directory cannot be asked the last answer is kept (so an
// outage neither opens a wall nor evicts everyone), and a user never
// resolved gets an error, which the room engine takes as "fail closed".

// matchingRuleInChain is LDAP_MATCHING_RULE_IN_CHAIN; adCapability the
// rootDSE capability of Active Directory (LDAP_CAP_ACTIVE_DIRECTORY_OID).
const (
	matchingRuleInChain = "1.2.840.113556.1.4.1941"
	adCapability        = "1.2.840.113556.1.4.800"
)

// Group is a directory group a user is in.
type Group struct {
	// DN is the group's entry; Name its cn if it is under the group base
	// (what "group:NAME" matches), else "".
	DN   string
	Name string
	dn   *ldap.DN
}

// groupCache holds users' groups.
type groupCache struct {
	mu      sync.Mutex
	entries map[string]groupEntry
}

type groupEntry struct {
	groups []Group
	at     time.Time
}

// inChainSupport is whether the directory takes the in-chain rule.
type inChainSupport struct {
	mu          sync.Mutex
	known, does bool
}

var attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

func validAttr(s string) bool { return attrName.MatchString(s) }

// InGroup reports whether user, a bare JID of Config.Domain, is in group:
// a DN (it has an '='), or the cn of a group under the group base. It is
// the room engine's muc.Groups.
func (d *Directory) InGroup(ctx context.Context, user, group string) (bool, error) {
	username, domain, ok := strings.Cut(user, "@")
	if !ok || (d.cfg.Domain != "" && !strings.EqualFold(domain, d.cfg.Domain)) {
		return false, nil // not a directory user
	}
	groups, err := d.Groups(ctx, username)
	if err != nil {
		return false, err
	}
	return Matches(groups, group), nil
}

// Matches reports whether ref (a DN, or a name) names one of groups.
func Matches(groups []Group, ref string) bool {
	ref = strings.TrimSpace(ref)
	if strings.Contains(ref, "=") {
		dn, err := ldap.ParseDN(ref)
		if err != nil {
			return false
		}
		return slices.ContainsFunc(groups, func(g Group) bool { return g.dn.EqualFold(dn) })
	}
	return ref != "" && slices.ContainsFunc(groups, func(g Group) bool { return strings.EqualFold(g.Name, ref) })
}

// Groups returns the groups username is in, from the cache when it was
// resolved within Config.CacheTTL.
func (d *Directory) Groups(ctx context.Context, username string) ([]Group, error) {
	now := d.cfg.Now()
	d.groups.mu.Lock()
	cached, found := d.groups.entries[username]
	d.groups.mu.Unlock()
	if found && now.Sub(cached.at) < d.cfg.CacheTTL {
		d.metrics.groups.WithLabelValues("hit").Inc()
		return cached.groups, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	groups, _, err := d.lookup(ctx, username)
	switch {
	case err == nil || errors.Is(err, auth.ErrNotAuthorized):
		// A user the directory does not know is in no group.
		d.metrics.groups.WithLabelValues("lookup").Inc()
		if d.cfg.CacheTTL > 0 {
			d.groups.mu.Lock()
			d.groups.entries[username] = groupEntry{groups, now}
			if len(d.groups.entries) > 1024 {
				for u, e := range d.groups.entries {
					if now.Sub(e.at) >= d.cfg.CacheTTL {
						delete(d.groups.entries, u)
					}
				}
			}
			d.groups.mu.Unlock()
		}
		return groups, nil
	case found:
		d.metrics.groups.WithLabelValues("stale").Inc()
		d.log.Debug("ldap: directory unavailable; keeping a user's groups as last resolved", "user", username,
			"resolved", cached.at, "err", err)
		return cached.groups, nil
	}
	d.metrics.groups.WithLabelValues("error").Inc()
	return nil, err
}

// Lookup finds username's entry and their groups, asking the directory
// (no cache): for parleyctl ldap check.
func (d *Directory) Lookup(ctx context.Context, username string) (dn string, groups []Group, err error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	groups, dn, err = d.lookup(ctx, username)
	return dn, groups, err
}

// lookup resolves username's groups on a pooled connection.
func (d *Directory) lookup(ctx context.Context, username string) (groups []Group, userDN string, err error) {
	err = d.withConn(ctx, func(c *conn) error {
		entry, err := d.findUser(c, username, []string{"memberOf"})
		if err != nil {
			return err
		}
		userDN = entry.DN
		groups, err = d.groupsOf(c, entry, username)
		return err
	})
	return groups, userDN, err
}

// groupsOf follows the groups of a user's entry.
func (d *Directory) groupsOf(c *conn, entry *ldap.Entry, username string) ([]Group, error) {
	var base *ldap.DN
	if d.cfg.GroupBase != "" {
		base, _ = ldap.ParseDN(d.cfg.GroupBase)
	}
	found := map[string]bool{} // by normalised DN
	var out []Group
	// add records a group; it reports whether it is new.
	add := func(dnStr, cn string) bool {
		dn, err := ldap.ParseDN(dnStr)
		if err != nil {
			return false
		}
		key := strings.ToLower(dn.String())
		if found[key] {
			return false
		}
		found[key] = true
		name := ""
		if base != nil && base.AncestorOfFold(dn) {
			name = cn
			if name == "" && len(dn.RDNs) > 0 && len(dn.RDNs[0].Attributes) > 0 && strings.EqualFold(dn.RDNs[0].Attributes[0].Type, "cn") {
				name = dn.RDNs[0].Attributes[0].Value
			}
		}
		out = append(out, Group{DN: dnStr, Name: name, dn: dn})
		return true
	}
	var frontier []string
	for _, g := range entry.GetAttributeValues("memberOf") {
		if add(g, "") {
			frontier = append(frontier, g)
		}
	}
	if base == nil {
		return out, nil
	}
	byUID := strings.EqualFold(d.cfg.GroupAttr, "memberUid")
	if !byUID && d.supportsInChain(c) {
		res, err := d.searchGroups(c, fmt.Sprintf("(%s:%s:=%s)", d.cfg.GroupAttr, matchingRuleInChain, ldap.EscapeFilter(entry.DN)))
		if err != nil {
			return nil, err
		}
		for _, e := range res {
			add(e.DN, e.GetAttributeValue("cn"))
		}
		return out, nil
	}
	// The groups that hold the user directly.
	value := entry.DN
	if byUID {
		value = username
	}
	res, err := d.searchGroups(c, fmt.Sprintf("(%s=%s)", d.cfg.GroupAttr, ldap.EscapeFilter(value)))
	if err != nil {
		return nil, err
	}
	for _, e := range res {
		if add(e.DN, e.GetAttributeValue("cn")) {
			frontier = append(frontier, e.DN)
		}
	}
	// The groups that hold those, level by level. memberUid holds
	// usernames, not groups: posix groups do not nest.
	attr := d.cfg.GroupAttr
	if byUID {
		attr = DefaultGroupAttr
	}
	for depth := 1; depth < MaxGroupDepth && len(frontier) > 0; depth++ {
		var f strings.Builder
		f.WriteString("(|")
		for _, g := range frontier {
			fmt.Fprintf(&f, "(%s=%s)", attr, ldap.EscapeFilter(g))
		}
		f.WriteString(")")
		res, err := d.searchGroups(c, f.String())
		if err != nil {
			return nil, err
		}
		frontier = frontier[:0]
		for _, e := range res {
			if add(e.DN, e.GetAttributeValue("cn")) {
				frontier = append(frontier, e.DN)
			}
		}
	}
	return out, nil
}

// searchGroups searches the group base.
func (d *Directory) searchGroups(c *conn, filter string) ([]*ldap.Entry, error) {
	start := time.Now()
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(d.cfg.GroupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, int(d.cfg.Timeout/time.Second)+1, false, filter, []string{"cn"}, nil), 500)
	if err != nil {
		d.metrics.observe("search", "error", start)
		return nil, fmt.Errorf("%w: searching %s for %s: %w", auth.ErrUnavailable, d.cfg.GroupBase, filter, err)
	}
	d.metrics.observe("search", "ok", start)
	return res.Entries, nil
}

// supportsInChain asks the rootDSE once whether the directory is Active
// Directory, which takes LDAP_MATCHING_RULE_IN_CHAIN.
func (d *Directory) supportsInChain(c *conn) bool {
	d.inChain.mu.Lock()
	defer d.inChain.mu.Unlock()
	if d.inChain.known {
		return d.inChain.does
	}
	res, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"supportedCapabilities"}, nil))
	if err != nil {
		return false // asked again next time
	}
	d.inChain.known = true
	if len(res.Entries) == 1 {
		d.inChain.does = slices.Contains(res.Entries[0].GetAttributeValues("supportedCapabilities"), adCapability)
	}
	d.log.Debug("ldap: nested groups", "matching_rule_in_chain", d.inChain.does)
	return d.inChain.does
}

// ErrNoGroup is GroupExists's answer for a group the directory does not
// have.
var ErrNoGroup = errors.New("ldap: no such group")

// groupClasses are the object classes of group entries: groupOfNames,
// groupOfUniqueNames, posixGroup, and Active Directory's group.
const groupClasses = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup)(objectClass=group))"

// GroupExists checks that ref, as a policy entry names it (a DN, or a cn
// under the group base), is a group in the directory: for parleyctl, so
// that a misspelt group is not taken for one with no members.
func (d *Directory) GroupExists(ctx context.Context, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	return d.withConn(ctx, func(c *conn) error {
		base, scope, filter := d.cfg.GroupBase, ldap.ScopeWholeSubtree, "(&(cn="+ldap.EscapeFilter(ref)+")"+groupClasses+")"
		if strings.Contains(ref, "=") {
			base, scope, filter = ref, ldap.ScopeBaseObject, groupClasses
		} else if base == "" {
			return fmt.Errorf("group %q: a group named by its cn needs --ldap-group-base (or give its DN)", ref)
		}
		start := time.Now()
		res, err := c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 2, int(d.cfg.Timeout/time.Second)+1,
			false, filter, []string{"1.1"}, nil))
		switch {
		case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) || (err == nil && len(res.Entries) == 0):
			d.metrics.observe("search", "refused", start)
			return fmt.Errorf("%w: %q (under %s)", ErrNoGroup, ref, base)
		case err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
			d.metrics.observe("search", "error", start)
			return fmt.Errorf("%w: looking for group %q: %w", auth.ErrUnavailable, ref, err)
		}
		d.metrics.observe("search", "ok", start)
		return nil
	})
}

// UserExists checks that username has an entry in the directory (the
// user filter matches exactly one): for the administrator's tools.
func (d *Directory) UserExists(ctx context.Context, username string) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	return d.withConn(ctx, func(c *conn) error {
		_, err := d.findUser(c, username, nil)
		return err
	})
}
