package interop

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleychat/parley/protocol/auth/ldapauth/slapdtest"
)

// TestSlixmppLDAPWall: parleyd --auth ldap with directory groups in a
// category's wall (testdata/ldap_wall.py has the steps): a user added to a
// denied group with an LDAP modify is removed from the room he is in and
// refused at his rejoin; with slapd stopped a user who logged in recently
// still logs in, a wrong password and a user never seen are refused.
func TestSlixmppLDAPWall(t *testing.T) {
	requireSlixmpp(t)
	users := []account{{"alice", "alice-" + randomHex(t, 4)}, {"bob", "bob-" + randomHex(t, 4)},
		{"carol", "carol-" + randomHex(t, 4)}, {"dave", "dave-" + randomHex(t, 4)}}
	tree := slapdtest.Tree{Groups: []slapdtest.Group{
		{CN: "research", Members: []string{"alice", "bob"}},
		{CN: "traders", Members: []string{"carol"}},
	}}
	for _, u := range users {
		tree.Users = append(tree.Users, slapdtest.User{UID: u.name, Password: u.password})
		auditSecret(u.password)
	}
	auditSecret(slapdtest.ReaderPassword)
	dir := slapdtest.StartTree(t, tree)
	s := newServer(t, "")
	ldapArgs := []string{"--auth", "ldap", "--ldap-url", dir.URL, "--ldap-ca", dir.CAFile,
		"--ldap-bind-dn", slapdtest.ReaderDN, "--ldap-bind-password", slapdtest.ReaderPassword,
		"--ldap-user-base", slapdtest.Users, "--ldap-group-base", slapdtest.Groups, "--ldap-timeout", "3s"}
	// Groups are cached and rechecked, and good logins remembered, for
	// --ldap-cache-ttl: 3s here, so that bob's removal comes within the
	// script's waits.
	s.args = append(s.args, append(ldapArgs, "--ldap-cache-ttl", "3s")...)
	s.mustCtl(append(ldapArgs, "category", "add", "trading-research", "--allow", "group:research", "--deny", "group:traders")...)
	s.mustCtl(append(ldapArgs, "room", "create", "lab", "--category", "trading-research", "--privacy", "open")...)
	s.start()

	// The script asks for directory changes through files in signals.
	signals := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		changes := map[string]func(){
			"bob-traders": func() { dir.AddMember(t, slapdtest.Group{CN: "traders"}.DN(), "bob") },
			"stop":        dir.Stop,
		}
		for len(changes) > 0 {
			for name, change := range changes {
				if _, err := os.Stat(filepath.Join(signals, name+".req")); err == nil {
					change()
					os.WriteFile(filepath.Join(signals, name+".done"), nil, 0o600)
					delete(changes, name)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	s.runScript("ldap_wall.py", users, "--signal", signals)
	cancel()
	<-served
}
