package xmpp

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/protocol/auth/ldapauth"
	"github.com/parleychat/parley/protocol/auth/ldapauth/slapdtest"
)

// plainAuth sends a SASL PLAIN <auth/> and returns the answer: "success",
// or the failure's condition.
func (c *testClient) plainAuth(mech, user, password string) string {
	c.t.Helper()
	msg := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>%s</auth>`, mech, msg)
	el := c.next()
	if el.Name.Local == "success" {
		return "success"
	}
	if el.Name.Local != "failure" || len(el.Elements()) == 0 {
		c.t.Fatalf("SASL answer: %s", el)
	}
	return el.Elements()[0].Name.Local
}

// An LDAP directory (a real slapd) behind the XMPP front door: only PLAIN
// is offered, a directory user logs in with their directory password and
// gets an account, wrong passwords, unknown users and SCRAM are refused,
// and a directory that is down gives temporary-auth-failure.
func TestLDAPLogin(t *testing.T) {
	dir := slapdtest.Start(t, slapdtest.User{UID: "alice", Password: "alice-pw"}, slapdtest.User{UID: "bob", Password: "bob-pw"})
	ts := startServer(t, func(c *Config) {
		c.ChannelBinding = true // not offered: SCRAM is not
		v, err := ldapauth.New(ldapauth.Config{URLs: []string{dir.URL}, CAFile: dir.CAFile,
			BindDN: slapdtest.ReaderDN, BindPassword: slapdtest.ReaderPassword,
			UserBase: slapdtest.Users, UserFilter: "(uid=%u)", Timeout: 2 * time.Second, Accounts: c.Store})
		if err != nil {
			t.Fatal(err)
		}
		c.Verifier = v
	})
	attempt := func(mech, user, password string) (*testClient, string) {
		c := dialRaw(t, ts.addr)
		c.domain = ts.domain
		c.openStream()
		f := c.startTLS()
		if got := strings.Join(mechanisms(f), " "); got != "PLAIN" {
			t.Errorf("mechanisms with LDAP = %q, want PLAIN", got)
		}
		return c, c.plainAuth(mech, user, password)
	}

	c, got := attempt("PLAIN", "alice", "alice-pw")
	if got != "success" {
		t.Fatalf("alice with her directory password: %s", got)
	}
	c.openStream()
	if j := c.bind("desk"); j != "alice@localhost/desk" {
		t.Errorf("bound %q", j)
	}
	if _, err := ts.store.Account(context.Background(), "alice"); err != nil {
		t.Errorf("alice's account after her first login: %v", err)
	}
	// Her password is the directory's: XEP-0077 cannot change it here.
	c.send(`<iq type='set' id='pw1'><query xmlns='jabber:iq:register'><username>alice</username><password>new-pw</password></query></iq>`)
	if el := c.next(); el.AttrValue("type") != "error" || !strings.Contains(el.String(), "not-allowed") {
		t.Errorf("password change of a directory user: %s, want a not-allowed error", el)
	}
	for _, a := range []struct{ mech, user, password, want string }{
		{"PLAIN", "Alice", "alice-pw", "success"}, // the username is normalised first
		{"PLAIN", "alice", "bob-pw", "not-authorized"},
		{"PLAIN", "carol", "alice-pw", "not-authorized"},
		{"PLAIN", "a*", "alice-pw", "not-authorized"}, // LDAP filter injection
		{"PLAIN", "alice", "", "not-authorized"},
		{"SCRAM-SHA-256", "alice", "alice-pw", "invalid-mechanism"},
	} {
		if _, got := attempt(a.mech, a.user, a.password); got != a.want {
			t.Errorf("%s %q/%q: %s, want %s", a.mech, a.user, a.password, got, a.want)
		}
	}

	dir.Stop()
	if _, got := attempt("PLAIN", "bob", "bob-pw"); got != "temporary-auth-failure" {
		t.Errorf("directory down: %s, want temporary-auth-failure", got)
	}
}

// In-band registration cannot be opened with a password Verifier.
func TestLDAPNoRegistration(t *testing.T) {
	v, err := ldapauth.New(ldapauth.Config{URLs: []string{"ldaps://127.0.0.1"}, UserBase: "dc=x", UserFilter: "(uid=%u)"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewServer(Config{Domain: "localhost", TLS: &tls.Config{}, Store: nil, Verifier: v, AllowRegistration: true})
	if err == nil || !strings.Contains(err.Error(), "registration") {
		t.Errorf("NewServer with AllowRegistration and a Verifier: %v, want a registration error", err)
	}
}
