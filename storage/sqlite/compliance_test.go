package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/sqlite"
	"github.com/parleychat/parley/storage/storagetest"
)

// TestComplianceConformance runs the compliance database's conformance
// suite on a temporary SQLite file per subtest.
func TestComplianceConformance(t *testing.T) {
	storagetest.RunCompliance(t, func(t *testing.T) func() storage.ComplianceStore {
		path := filepath.Join(t.TempDir(), "compliance.db")
		return func() storage.ComplianceStore {
			s, err := sqlite.OpenCompliance(t.Context(), path)
			if err != nil {
				t.Fatalf("sqlite.OpenCompliance(%s): %v", path, err)
			}
			return s
		}
	})
}

// TestComplianceSharesFileWithContent: the two schemas keep their own
// version tables, so one file can hold both.
func TestComplianceSharesFileWithContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	content, err := sqlite.Open(t.Context(), path, contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	defer content.Close()
	comp, err := sqlite.OpenCompliance(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenCompliance on the content file: %v", err)
	}
	defer comp.Close()
	if _, held, err := comp.AcquireLease(t.Context(), "x", "me", 1e9); err != nil || !held {
		t.Fatalf("AcquireLease: %v, %v", held, err)
	}
	if err := content.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}
