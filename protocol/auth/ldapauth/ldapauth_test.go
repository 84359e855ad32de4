package ldapauth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/protocol/auth/ldapauth"
	"github.com/parleychat/parley/protocol/auth/ldapauth/slapdtest"
)

func newDirectory(t *testing.T, urls ...string) (*ldapauth.Directory, *slapdtest.Server) {
	t.Helper()
	srv := slapdtest.Start(t, slapdtest.User{UID: "alice", Password: "alice-pw"}, slapdtest.User{UID: "bob", Password: "bob-pw"})
	d, err := ldapauth.New(ldapauth.Config{
		URLs: append(urls, srv.URL), CAFile: srv.CAFile,
		BindDN: slapdtest.ReaderDN, BindPassword: slapdtest.ReaderPassword,
		UserBase: slapdtest.Users, UserFilter: "(uid=%u)", Timeout: 3 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, srv
}

func TestVerify(t *testing.T) {
	// The first URL refuses connections: the second is tried.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "ldap://" + l.Addr().String()
	l.Close()
	d, srv := newDirectory(t, dead)
	ctx := context.Background()
	for _, c := range []struct {
		user, password string
		want           error
	}{
		{"alice", "alice-pw", nil},
		{"bob", "bob-pw", nil},
		{"alice", "bob-pw", auth.ErrNotAuthorized},
		{"alice", "", auth.ErrNotAuthorized},
		{"carol", "alice-pw", auth.ErrNotAuthorized},
		// Injection: unescaped, these filters would match alice or every
		// user; escaped they match nobody.
		{"*", "alice-pw", auth.ErrNotAuthorized},
		{"a*", "alice-pw", auth.ErrNotAuthorized},
		{"alice)(uid=*", "alice-pw", auth.ErrNotAuthorized},
		{"*)(|(uid=*", "bob-pw", auth.ErrNotAuthorized},
	} {
		err := d.Verify(ctx, c.user, c.password)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("Verify(%q, %q) = %v, want %v", c.user, c.password, err, c.want)
		}
	}

	srv.Stop()
	start := time.Now()
	err = d.Verify(ctx, "alice", "alice-pw")
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("directory down: Verify = %v, want ErrUnavailable", err)
	}
	t.Logf("directory down: refused in %v: %v", time.Since(start), err)
}

func TestVerifyTimeout(t *testing.T) {
	// A server that accepts the connection and never answers: the login
	// fails as unavailable within the timeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	d, err := ldapauth.New(ldapauth.Config{URLs: []string{"ldap://" + l.Addr().String()}, UserBase: slapdtest.Users,
		UserFilter: "(uid=%u)", Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Verify(context.Background(), "alice", "alice-pw") }()
	select {
	case err := <-done:
		if !errors.Is(err, auth.ErrUnavailable) {
			t.Errorf("hung directory: Verify = %v, want ErrUnavailable", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Verify against a hung directory did not return")
	}
}

func TestNewRejects(t *testing.T) {
	for _, cfg := range []ldapauth.Config{
		{UserBase: "dc=x", UserFilter: "(uid=%u)"},
		{URLs: []string{"http://x"}, UserBase: "dc=x", UserFilter: "(uid=%u)"},
		{URLs: []string{"ldaps://x"}, UserBase: "dc=x", UserFilter: "(uid=alice)"},
		{URLs: []string{"ldaps://x"}, UserBase: "dc=x", UserFilter: "(uid=%u"},
		{URLs: []string{"ldaps://x"}, UserFilter: "(uid=%u)"},
	} {
		if _, err := ldapauth.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// A directory whose certificate is not trusted (no --ldap-ca: the
// system's CAs) is not talked to: the password never leaves.
func TestVerifyUntrustedCertificate(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.User{UID: "alice", Password: "alice-pw"})
	d, err := ldapauth.New(ldapauth.Config{URLs: []string{srv.URL}, BindDN: slapdtest.ReaderDN, BindPassword: slapdtest.ReaderPassword,
		UserBase: slapdtest.Users, UserFilter: "(uid=%u)", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Verify(context.Background(), "alice", "alice-pw")
	if !errors.Is(err, auth.ErrUnavailable) || !strings.Contains(err.Error(), "StartTLS") {
		t.Errorf("untrusted directory certificate: Verify = %v, want ErrUnavailable at StartTLS", err)
	}
}

// ldaps:// (TLS from the first byte) works as StartTLS does.
func TestVerifyLDAPS(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.User{UID: "alice", Password: "alice-pw"})
	d, err := ldapauth.New(ldapauth.Config{URLs: []string{srv.LDAPSURL}, CAFile: srv.CAFile,
		BindDN: slapdtest.ReaderDN, BindPassword: slapdtest.ReaderPassword,
		UserBase: slapdtest.Users, UserFilter: "(uid=%u)"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(context.Background(), "alice", "alice-pw"); err != nil {
		t.Errorf("ldaps: Verify(alice) = %v", err)
	}
	if err := d.Verify(context.Background(), "alice", "wrong"); !errors.Is(err, auth.ErrNotAuthorized) {
		t.Errorf("ldaps: wrong password: %v, want ErrNotAuthorized", err)
	}
}
