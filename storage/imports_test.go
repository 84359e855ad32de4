package storage_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsNothingOfOurs holds storage to shared/DESIGN.md §3: storage
// imports nothing of Parley's. Every non-test file under storage/ may
// import the standard library, third-party modules (the drivers, goose)
// and storage's own packages, nothing else of this module. What the
// content migrations need from elsewhere comes in through
// storage.ContentRules. Test files may use the test helpers (the rules
// themselves, internal/mysqltest).
func TestImportsNothingOfOurs(t *testing.T) {
	const module = "github.com/parleychat/parley/"
	const own = module + "storage"
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, spec := range f.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			if strings.HasPrefix(imp, module) && imp != own && !strings.HasPrefix(imp, own+"/") {
				t.Errorf("storage/%s imports %s; storage imports nothing of ours (DESIGN.md §3)", filepath.ToSlash(path), imp)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("read only %d files under storage/; the walk went wrong", files)
	}
}
