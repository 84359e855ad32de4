package interop

import (
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/protocol/auth/ldapauth/slapdtest"
)

// TestSippLDAPSIPPassword: a directory user (parleyd --auth ldap, a real
// slapd) cannot use their directory password for SIP digest; the
// administrator sets a SIP password with parleyctl user sip-password, and
// sipp REGISTERs with it and posts to a room of a category walled by
// directory group (she is in the allowed group). The post is captured
// (compliance export).
func TestSippLDAPSIPPassword(t *testing.T) {
	sipp := requireSipp(t)
	alice := account{"alice", "alice-" + randomHex(t, 4)}
	sipAlice := account{"alice", "sip-" + randomHex(t, 4)}
	auditSecret(alice.password)
	auditSecret(sipAlice.password)
	auditSecret(slapdtest.ReaderPassword)
	dir := slapdtest.StartTree(t, slapdtest.Tree{
		Users:  []slapdtest.User{{UID: alice.name, Password: alice.password}},
		Groups: []slapdtest.Group{{CN: "research", Members: []string{"alice"}}},
	})
	s := newServer(t, "")
	ldapArgs := []string{"--auth", "ldap", "--ldap-url", dir.URL, "--ldap-ca", dir.CAFile,
		"--ldap-bind-dn", slapdtest.ReaderDN, "--ldap-bind-password", slapdtest.ReaderPassword,
		"--ldap-user-base", slapdtest.Users, "--ldap-group-base", slapdtest.Groups}
	s.args = append(s.args, ldapArgs...)
	s.mustCtl(append(ldapArgs, "user", "sip-password", alice.name, "--password", sipAlice.password)...)
	s.mustCtl(append(ldapArgs, "category", "add", "research", "--allow", "group:research")...)
	s.mustCtl(append(ldapArgs, "room", "create", "lab", "--category", "research", "--privacy", "open")...)
	s.start()

	s.sipRoomPost(sipp, sipAlice, "lab", "posted over SIP by a directory user")
	// The compliance worker copies the outbox every few seconds.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := s.ctl("compliance", "export", "--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z", "--room", "lab", "--format", "json")
		if err == nil && strings.Contains(out, "posted over SIP by a directory user") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's SIP post is not in lab's captured events (%v):\n%s", err, out)
		}
	}
}
