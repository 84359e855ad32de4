package mysql

import (
	"strings"
	"testing"
)

// TestParseDSNServers: the address of a DSN may list the servers of a
// replication set; each gets the DSN's user, password, database and
// parameters, in the order listed, port 3306 where none is given. A single
// server is go-sql-driver/mysql's DSN as it was.
func TestParseDSNServers(t *testing.T) {
	for _, tc := range []struct {
		dsn   string
		addrs []string
		pw    string
	}{
		{"parley:pw@tcp(db1:3306)/parley", []string{"db1:3306"}, "pw"},
		{"parley:pw@tcp(db1:3306,db2:3307)/parley?tls=false", []string{"db1:3306", "db2:3307"}, "pw"},
		{"parley:pw@tcp(db1, db2,[::1]:3308)/parley", []string{"db1:3306", "db2:3306", "[::1]:3308"}, "pw"},
		// The password may hold what the list is made of.
		{"parley:p(a,b)@x@tcp(db1,db2)/parley", []string{"db1:3306", "db2:3306"}, "p(a,b)@x"},
	} {
		cfgs, err := parseDSN(tc.dsn)
		if err != nil {
			t.Errorf("%s: %v", tc.dsn, err)
			continue
		}
		var got []string
		for _, c := range cfgs {
			got = append(got, c.Addr)
			if c.User != "parley" || c.Passwd != tc.pw || c.DBName != "parley" {
				t.Errorf("%s: server %s has user %q, password %q, database %q", tc.dsn, c.Addr, c.User, c.Passwd, c.DBName)
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.addrs, " ") {
			t.Errorf("%s: servers %v, want %v", tc.dsn, got, tc.addrs)
		}
		if d := describeAll(cfgs); strings.Contains(d, tc.pw) {
			t.Errorf("%s: described as %q, with the password", tc.dsn, d)
		}
	}
	for _, bad := range []string{"parley@tcp(db1,db1:3306)/parley", "parley@tcp(db1,,db2)/parley", "parley@unix(/a,/b)/parley"} {
		if _, err := parseDSN(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
