package conventions

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// root is the module root: a test runs in its package's directory,
// internal/conventions.
const root = "../.."

// notProduct are the directories under internal/ and cmd/ that hold test or
// proof infrastructure rather than product code.
var notProduct = []string{
	"internal/pgtest", "internal/redistest", "internal/gustosim", "internal/waitfor", "internal/conventions",
}

// goFiles lists the Go files below the module's top directories tops, as
// slash paths from the module root: with tests, every one; without, the
// non-test files of product packages only.
func goFiles(t *testing.T, tests bool, tops ...string) []string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root is not %s: %v", root, err)
	}
	var files []string
	module := os.DirFS(root)
	for _, top := range tops {
		err := fs.WalkDir(module, top, func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && (d.Name() == "testdata" || (!tests && slices.Contains(notProduct, p))):
				return fs.SkipDir
			case !d.IsDir() && path.Ext(p) == ".go" && (tests || !strings.HasSuffix(p, "_test.go")):
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// parse parses the module's file rel.
func parse(t *testing.T, fset *token.FileSet, rel string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(fset, filepath.Join(root, filepath.FromSlash(rel)), nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
