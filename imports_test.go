package parley_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/parleychat/parley"

// importRules are the directions of shared/DESIGN.md §3 and
// ARCHITECTURE.md ("Packages"): arrows point down only, cmd → admin →
// protocol/*, pool, compliance → interop → muc, roster, pep → storage.
// storage's own rule (it imports nothing of ours) is
// storage/imports_test.go. A rule names packages by their directory (and
// every package under it) and what none of their non-test files may
// import: a directory of this module, or an import path of another.
var importRules = []struct {
	from, forbidden []string
	why             string
}{
	{
		from:      []string{"muc", "roster", "pep"},
		forbidden: []string{"protocol", "pool", "compliance", "interop", "admin", "cmd"},
		why:       "muc (and roster, pep beside it) is protocol-neutral: it imports no protocol package and nothing above it",
	},
	{
		from:      []string{"interop"},
		forbidden: []string{"protocol", "pool", "compliance", "admin", "cmd"},
		why:       "interop is below the front doors and the pool: they use its routing interface, address mapping and error table, never the other way",
	},
	{
		from:      []string{"protocol/xmpp"},
		forbidden: []string{"protocol/sip"},
		why:       "the two protocol packages never import each other: XMPP↔SIP goes through interop's routing interface",
	},
	{
		from:      []string{"protocol/sip"},
		forbidden: []string{"protocol/xmpp"},
		why:       "the two protocol packages never import each other: XMPP↔SIP goes through interop's routing interface",
	},
	{
		from: []string{"protocol"},
		forbidden: []string{"storage/sqlite", "storage/mysql", "storage/backend",
			"database/sql", "github.com/go-sql-driver/mysql", "modernc.org/sqlite"},
		why: "a protocol package never touches SQL: it uses storage's interfaces",
	},
	{
		from:      []string{"protocol", "pool", "compliance"},
		forbidden: []string{"admin", "cmd"},
		why:       "arrows point down only: admin and cmd are above the front doors, the pool and compliance",
	},
	{
		from:      []string{"admin"},
		forbidden: []string{"protocol/xmpp", "protocol/sip", "cmd"},
		why:       "admin imports protocol/auth only of the protocol packages; parleyd hands it the node's sessions through admin.Node",
	},
	{
		from:      []string{"internal", "webclient", "webphone"},
		forbidden: []string{"cmd"},
		why:       "arrows point down only: nothing outside cmd imports cmd",
	},
}

// TestImportDirections holds every non-test file of the module to
// importRules, and says which file imports what against which rule.
func TestImportDirections(t *testing.T) {
	matched := make([]int, len(importRules)) // files each rule was checked on
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != "." && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		dir := path.Dir(filepath.ToSlash(p))
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for i, r := range importRules {
			if !under(dir, r.from...) {
				continue
			}
			matched[i]++
			for _, spec := range f.Imports {
				imp, err := strconv.Unquote(spec.Path.Value)
				if err != nil {
					return err
				}
				own, ours := strings.CutPrefix(imp, module+"/")
				if ours && under(own, r.forbidden...) || !ours && under(imp, r.forbidden...) {
					t.Errorf("%s imports %s: %s (DESIGN.md §3)", filepath.ToSlash(p), imp, r.why)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range importRules {
		if matched[i] == 0 {
			t.Errorf("no file in %v: the rule %q checks nothing; the walk went wrong or the packages moved", r.from, r.why)
		}
	}
}

// under reports whether the slash-separated path p is one of dirs or
// inside one.
func under(p string, dirs ...string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}
