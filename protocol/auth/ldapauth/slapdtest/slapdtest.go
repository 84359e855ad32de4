// Package slapdtest starts a real OpenLDAP server (Debian's slapd) for
// tests: a generated slapd.conf and TLS certificate in a temporary
// directory, a tree loaded with slapadd, and slapd on a loopback port as a
// child process that the test's cleanup stops.
package slapdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Suffix is the tree's base; Users holds the users, Groups the groups
// (Teams more groups, outside Groups), ReaderDN is the service account
// that may search them (password ReaderPassword), AdminDN the root DN
// (password AdminPassword), which may change everything.
const (
	Suffix         = "dc=example,dc=org"
	Users          = "ou=people," + Suffix
	Groups         = "ou=groups," + Suffix
	Teams          = "ou=teams," + Suffix
	ReaderDN       = "cn=reader," + Suffix
	ReaderPassword = "reader-secret"
	AdminDN        = "cn=admin," + Suffix
	AdminPassword  = "admin-secret"
)

// User is a directory user: uid and cleartext userPassword.
type User struct{ UID, Password string }

// Group is a group under Groups (or Base): a groupOfNames whose member
// attribute lists its Members (uids, or DNs) and Subgroups (cns of other groups,
// under Groups), or with Posix a posixGroup whose memberUid lists the
// Members.
type Group struct {
	CN        string
	Members   []string
	Subgroups []string
	Posix     bool
	// Base is where it is; empty means Groups.
	Base string
}

// DN is the group's entry.
func (g Group) DN() string {
	if g.Base == "" {
		return "cn=" + g.CN + "," + Groups
	}
	return "cn=" + g.CN + "," + g.Base
}

// UserDN is a user's entry.
func UserDN(uid string) string { return "uid=" + uid + "," + Users }

// Tree is what StartTree loads.
type Tree struct {
	Users  []User
	Groups []Group
	// MemberOf runs OpenLDAP's memberof overlay (users get memberOf
	// attributes for their groupOfNames groups, as in Active Directory);
	// the groups are then added over LDAP after the start, which the
	// overlay sees (slapadd bypasses it).
	MemberOf bool
}

// Server is a running slapd.
type Server struct {
	// Addr is host:port; URL is ldap://Addr (StartTLS), LDAPSURL the
	// ldaps:// listener (TLS from the first byte); CAFile is the PEM file
	// of the certificate it serves (self-signed, for 127.0.0.1).
	Addr, URL, LDAPSURL, CAFile string
	cmd                         *exec.Cmd
	done                        chan struct{}
}

// Start runs slapd with users under Users, or skips the test when slapd
// is not installed.
func Start(t testing.TB, users ...User) *Server {
	t.Helper()
	return StartTree(t, Tree{Users: users})
}

// StartTree runs slapd with a tree of users and groups, or skips the test
// when slapd is not installed.
func StartTree(t testing.TB, tree Tree) *Server {
	t.Helper()
	slapd, err := exec.LookPath("slapd")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/slapd"); err != nil {
			t.Skip("slapd is not installed (Debian package slapd)")
		}
		slapd = "/usr/sbin/slapd"
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile)
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	memberOfModule, memberOfOverlay := "", ""
	if tree.MemberOf {
		memberOfModule, memberOfOverlay = "moduleload memberof\n", "overlay memberof\n"
	}
	write(t, conf, fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
%[6]spidfile %[1]s/slapd.pid
TLSCertificateFile %[2]s
TLSCertificateKeyFile %[3]s
database mdb
maxsize 10485760
suffix "%[4]s"
rootdn "cn=admin,%[4]s"
rootpw admin-secret
directory %[1]s/db
access to attrs=userPassword by self read by * auth
access to * by dn.exact="%[5]s" read by self read by * none
%[7]s`, dir, certFile, keyFile, Suffix, ReaderDN, memberOfModule, memberOfOverlay))
	var ldif strings.Builder
	fmt.Fprintf(&ldif, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n", Suffix)
	fmt.Fprintf(&ldif, "dn: %s\nobjectClass: person\ncn: reader\nsn: reader\nuserPassword: %s\n\n", ReaderDN, ReaderPassword)
	fmt.Fprintf(&ldif, "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n", Users)
	fmt.Fprintf(&ldif, "dn: %s\nobjectClass: organizationalUnit\nou: groups\n\n", Groups)
	fmt.Fprintf(&ldif, "dn: %s\nobjectClass: organizationalUnit\nou: teams\n\n", Teams)
	for _, u := range tree.Users {
		fmt.Fprintf(&ldif, "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %[1]s\ncn: %[1]s\nsn: %[1]s\nuserPassword: %[3]s\n\n", u.UID, Users, u.Password)
	}
	if !tree.MemberOf {
		for _, g := range tree.Groups {
			ldif.WriteString(groupLDIF(g))
		}
	}
	ldifFile := filepath.Join(dir, "tree.ldif")
	write(t, ldifFile, ldif.String())
	slapadd := filepath.Join(filepath.Dir(slapd), "slapadd")
	if out, err := exec.Command(slapadd, "-f", conf, "-l", ldifFile).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}

	addr, tlsAddr := freePort(t), freePort(t)
	s := &Server{Addr: addr, URL: "ldap://" + addr, LDAPSURL: "ldaps://" + tlsAddr, CAFile: certFile, done: make(chan struct{})}
	// -d 0: stay in the foreground (a child of the test), log nothing.
	s.cmd = exec.Command(slapd, "-f", conf, "-h", s.URL+"/ "+s.LDAPSURL+"/", "-d", "0")
	log := &strings.Builder{}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("slapd: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.Stop)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			if c, err := net.DialTimeout("tcp", tlsAddr, time.Second); err == nil {
				c.Close()
				break
			}
		}
		select {
		case <-s.done:
			t.Fatalf("slapd exited: %s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd did not listen on %s: %s", addr, log)
		}
	}
	if tree.MemberOf {
		c := s.Admin(t)
		defer c.Close()
		for _, g := range tree.Groups {
			req := ldap.NewAddRequest(g.DN(), nil)
			for _, a := range groupAttrs(g) {
				req.Attribute(a.Type, a.Vals)
			}
			if err := c.Add(req); err != nil {
				t.Fatalf("adding group %s: %v", g.DN(), err)
			}
		}
	}
	return s
}

// groupAttrs are a group's attributes.
func groupAttrs(g Group) []ldap.Attribute {
	if g.Posix {
		return []ldap.Attribute{{Type: "objectClass", Vals: []string{"posixGroup"}}, {Type: "cn", Vals: []string{g.CN}},
			{Type: "gidNumber", Vals: []string{"1000"}}, {Type: "memberUid", Vals: g.Members}}
	}
	var members []string
	for _, m := range g.Members {
		if !strings.Contains(m, "=") {
			m = UserDN(m)
		}
		members = append(members, m)
	}
	for _, sub := range g.Subgroups {
		members = append(members, Group{CN: sub}.DN())
	}
	return []ldap.Attribute{{Type: "objectClass", Vals: []string{"groupOfNames"}}, {Type: "cn", Vals: []string{g.CN}},
		{Type: "member", Vals: members}}
}

func groupLDIF(g Group) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\n", g.DN())
	for _, a := range groupAttrs(g) {
		for _, v := range a.Vals {
			fmt.Fprintf(&b, "%s: %s\n", a.Type, v)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// Admin connects to the server as AdminDN over StartTLS, for tests that
// change the directory (ldapmodify).
func (s *Server) Admin(t testing.TB) *ldap.Conn {
	t.Helper()
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	c, err := ldap.DialURL(s.URL, ldap.DialWithTLSConfig(cfg))
	if err != nil {
		t.Fatalf("connecting to slapd: %v", err)
	}
	if err := c.StartTLS(cfg); err != nil {
		c.Close()
		t.Fatalf("slapd StartTLS: %v", err)
	}
	if err := c.Bind(AdminDN, AdminPassword); err != nil {
		c.Close()
		t.Fatalf("binding as %s: %v", AdminDN, err)
	}
	return c
}

// AddMember adds the user uid to group (a groupOfNames DN), as
// ldapmodify would: add: member.
func (s *Server) AddMember(t testing.TB, groupDN, uid string) {
	t.Helper()
	c := s.Admin(t)
	defer c.Close()
	req := ldap.NewModifyRequest(groupDN, nil)
	req.Add("member", []string{UserDN(uid)})
	if err := c.Modify(req); err != nil {
		t.Fatalf("adding %s to %s: %v", uid, groupDN, err)
	}
}

// Stop ends slapd and waits for it (the directory is then down).
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Kill()
	<-s.done
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func write(t testing.TB, name, data string) {
	if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeCert makes a self-signed certificate for 127.0.0.1.
func writeCert(t testing.TB, certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	write(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})))
}
