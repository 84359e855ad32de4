package interop

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/parleychat/parley/protocol/auth/ldapauth/slapdtest"
)

// TestProfanityLDAPWall is issue 16's acceptance as a new user would try
// it: parleyd pointed at the test OpenLDAP (a real slapd), a directory
// user logs in from Profanity with their directory password (PLAIN over
// TLS), and is refused from a room of a category that walls off their
// directory group.
func TestProfanityLDAPWall(t *testing.T) {
	t.Parallel()
	carol := account{"carol", "carol-" + randomHex(t, 6)}
	auditSecret(carol.password)
	auditSecret(slapdtest.ReaderPassword)
	dir := slapdtest.StartTree(t, slapdtest.Tree{
		Users: []slapdtest.User{{UID: carol.name, Password: carol.password}, {UID: "alice", Password: "alice-" + randomHex(t, 6)}},
		Groups: []slapdtest.Group{
			{CN: "research", Members: []string{"alice"}},
			{CN: "traders", Members: []string{"carol"}},
		},
	})
	s := newServer(t, "")
	ldapArgs := []string{"--auth", "ldap", "--ldap-url", dir.URL, "--ldap-ca", dir.CAFile,
		"--ldap-bind-dn", slapdtest.ReaderDN, "--ldap-bind-password", slapdtest.ReaderPassword,
		"--ldap-user-base", slapdtest.Users, "--ldap-group-base", slapdtest.Groups}
	s.args = append(s.args, ldapArgs...)
	s.mustCtl(append(ldapArgs, "category", "add", "trading-research", "--allow", "*", "--deny", "group:traders")...)
	s.mustCtl(append(ldapArgs, "room", "create", "lab", "--category", "trading-research", "--privacy", "open")...)
	s.start()

	p := startProfanity(t)
	p.typeLine(fmt.Sprintf("/connect %s@%s server 127.0.0.1 port %d tls force", carol.name, s.domain, s.c2s))
	p.waitFor(regexp.MustCompile(`(?i)password`), "the password prompt")
	p.typeLine(carol.password)
	p.waitFor(regexp.MustCompile(`Use '/tls allow'`), "the self-signed certificate")
	p.typeLine("/tls allow")
	p.waitFor(regexp.MustCompile(`logged in successfully`), "carol's login with her directory password")
	p.typeLine("/join lab@conference." + s.domain + " nick carol")
	screen := afterLogin(p.waitFor(regexp.MustCompile(`(?i)forbidden|not allowed in this room`), "the wall's refusal of carol's join"))
	t.Logf("Profanity after the join:\n%s", screen)
}
