package mysql_test

import (
	"testing"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/mysql"
	"github.com/parleychat/parley/storage/storagetest"
)

// TestComplianceConformance runs the compliance database's conformance
// suite on a fresh MySQL database per subtest, which OpenCompliance
// creates.
func TestComplianceConformance(t *testing.T) {
	server := newTestServer(t)
	storagetest.RunCompliance(t, func(t *testing.T) func() storage.ComplianceStore {
		dsn := server.newDatabaseNamed(t, "parley_compliance_test_")
		return func() storage.ComplianceStore {
			s, err := mysql.OpenCompliance(t.Context(), dsn)
			if err != nil {
				t.Fatalf("mysql.OpenCompliance: %v", err)
			}
			return s
		}
	})
}

// TestComplianceSharesDatabaseWithContent: the two schemas keep their own
// version tables, so one database can hold both.
func TestComplianceSharesDatabaseWithContent(t *testing.T) {
	server := newTestServer(t)
	dsn := server.newDatabase(t)
	content := open(t, dsn)
	defer content.Close()
	comp, err := mysql.OpenCompliance(t.Context(), dsn)
	if err != nil {
		t.Fatalf("OpenCompliance on the content database: %v", err)
	}
	defer comp.Close()
	if _, held, err := comp.AcquireLease(t.Context(), "x", "me", 1e9); err != nil || !held {
		t.Fatalf("AcquireLease: %v, %v", held, err)
	}
}
