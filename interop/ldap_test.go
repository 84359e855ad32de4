package interop

import (
	"testing"

	"github.com/parleychat/parley/protocol/auth/ldapauth/slapdtest"
)

// TestSlixmppLDAP: parleyd with --auth ldap against a real OpenLDAP
// (slapd on a loopback port, StartTLS with --ldap-ca): slixmpp's alice and
// bob, who have no Parley account, log in with SASL PLAIN (the only
// mechanism offered) and their directory passwords and exchange a message;
// a wrong password is refused (testdata/ldap_login.py says each step).
func TestSlixmppLDAP(t *testing.T) {
	requireSlixmpp(t)
	users := []account{{"alice", "alice-" + randomHex(t, 4)}, {"bob", "bob-" + randomHex(t, 4)}}
	dir := slapdtest.Start(t, slapdtest.User{UID: users[0].name, Password: users[0].password},
		slapdtest.User{UID: users[1].name, Password: users[1].password})
	// The log audit looks for the directory passwords and the service
	// account's in parleyd's log (at debug) when it stops.
	for _, u := range users {
		auditSecret(u.password)
	}
	auditSecret(slapdtest.ReaderPassword)
	s := newServer(t, "")
	s.args = append(s.args, "--auth", "ldap", "--ldap-url", dir.URL, "--ldap-ca", dir.CAFile,
		"--ldap-bind-dn", slapdtest.ReaderDN, "--ldap-bind-password", slapdtest.ReaderPassword,
		"--ldap-user-base", slapdtest.Users, "--ldap-user-filter", "(uid=%u)", "--ldap-timeout", "3s")
	s.start()
	s.runScript("ldap_login.py", users)
}
