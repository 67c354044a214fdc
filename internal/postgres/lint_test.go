package postgres_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// This file keeps gustosync to one database layer: product code reaches
// PostgreSQL through the gorm handle of postgres.Open, with `?`
// placeholders, and opens every transaction with postgres.InTx. The checker
// parses the Go files of product packages (internal/ and cmd/, without test
// files and without the test and proof infrastructure) and reports each use
// of a database/sql or hand-rolled transaction idiom outside the files
// allowed to have it.

// notProduct are the directories under internal/ and cmd/ that hold test or
// proof infrastructure rather than product code.
var notProduct = []string{
	"internal/pgtest", "internal/redistest", "internal/devstack", "internal/rowcheck",
	"internal/gustosim", "internal/waitfor",
}

// A rule is one idiom product code must not have, and the files that may.
type rule struct {
	name    string
	allowed []string // slash paths relative to the module root
}

var (
	// ruleTx: a transaction opened, committed or rolled back by hand.
	ruleTx = rule{"transaction outside postgres.InTx (BeginTx, Begin, Transaction, SavePoint, Commit, Rollback)",
		[]string{"internal/postgres/tx.go"}}
	// ruleSQLAPI: database/sql beyond its Null* scan types (sql.DB, sql.Tx,
	// sql.Conn, sql.Open, sql.ErrNoRows…).
	ruleSQLAPI = rule{"database/sql API other than its Null* scan types",
		[]string{"internal/migrate/migrate.go"}} // goose takes a *sql.DB
	// ruleUnwrap: the database/sql pool taken from the gorm handle.
	ruleUnwrap = rule{"the database/sql pool unwrapped from the gorm handle (.DB())",
		[]string{"internal/postgres/postgres.go", "internal/postgres/tx.go", "internal/migrate/migrate.go"}}
	// ruleDollar: a $n placeholder in a string: gorm takes `?`.
	ruleDollar = rule{"$n placeholder in a string (gorm takes ?)",
		[]string{"internal/postgres/logger.go"}} // restores $n in logged SQL
	// rulePool: a second driver or pool.
	rulePool = rule{"a second PostgreSQL driver or pool", nil}
)

// secondPools are imports that would open a connection beside postgres.Open.
var secondPools = []string{
	"github.com/jackc/pgx/v5/pgxpool", "github.com/jackc/pgx/v5/stdlib", "github.com/lib/pq",
}

var dollar = regexp.MustCompile(`\$[0-9]`)

// finding is one forbidden idiom at a position.
type finding struct {
	pos  token.Position
	rule string
	what string
}

func (f finding) String() string { return fmt.Sprintf("%s: %s: %s", f.pos, f.rule, f.what) }

// checkFile returns the forbidden idioms of one parsed file; rel is its
// slash path relative to the module root, which decides the allowances.
func checkFile(fset *token.FileSet, rel string, f *ast.File) []finding {
	var out []finding
	report := func(r rule, pos token.Pos, what string) {
		if !slices.Contains(r.allowed, rel) {
			out = append(out, finding{fset.Position(pos), r.name, what})
		}
	}
	sqlName := ""
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if slices.Contains(secondPools, path) {
			report(rulePool, imp.Pos(), "import "+path)
		}
		if path == "database/sql" {
			sqlName = "sql"
			if imp.Name != nil {
				sqlName = imp.Name.Name
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BasicLit:
			if n.Kind == token.STRING && dollar.MatchString(n.Value) {
				report(ruleDollar, n.Pos(), clip(n.Value))
			}
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && sqlName != "" && x.Name == sqlName && !strings.HasPrefix(n.Sel.Name, "Null") {
				report(ruleSQLAPI, n.Pos(), sqlName+"."+n.Sel.Name)
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok {
				break
			}
			switch name := sel.Sel.Name; {
			case name == "BeginTx" || name == "Begin" || name == "Transaction" || name == "SavePoint" || name == "RollbackTo":
				report(ruleTx, n.Pos(), "."+name+"(…)")
			case (name == "Commit" || name == "Rollback") && len(n.Args) <= 1:
				// database/sql and gorm take no argument, pgx a context;
				// checkpoint's Attempt.Commit(ctx, batch) is not a transaction.
				report(ruleTx, n.Pos(), "."+name+"(…)")
			case name == "DB" && len(n.Args) == 0:
				report(ruleUnwrap, n.Pos(), ".DB()")
			}
		}
		return true
	})
	return out
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// moduleRoot walks up from the working directory to go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// productFiles lists the non-test Go files of product packages, as slash
// paths relative to root.
func productFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	for _, top := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				if slices.Contains(notProduct, rel) || d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") {
				files = append(files, rel)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	return files
}

// TestOneDatabaseLayer fails when product code opens, commits or rolls back
// a transaction by hand, uses database/sql beyond its Null* scan types,
// unwraps the pool, writes a $n placeholder, or brings a second driver.
func TestOneDatabaseLayer(t *testing.T) {
	root := moduleRoot(t)
	files := productFiles(t, root)
	// The scan must see the product: a walk that found nothing would pass.
	for _, want := range []string{"internal/checkpoint/store.go", "internal/tokens/store.go", "internal/postgres/tx.go", "cmd/worker/main.go"} {
		if !slices.Contains(files, want) {
			t.Fatalf("the scan of product packages misses %s (%d files found)", want, len(files))
		}
	}
	fset := token.NewFileSet()
	var found []string
	for _, rel := range files {
		f, err := parser.ParseFile(fset, filepath.Join(root, rel), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range checkFile(fset, rel, f) {
			found = append(found, fd.String())
		}
	}
	if len(found) > 0 {
		t.Fatalf("product code has %d database idioms outside the one layer (use the gorm handle with ? placeholders and postgres.InTx):\n%s",
			len(found), strings.Join(found, "\n"))
	}
}

// TestCheckerCatchesEachIdiom: the checker flags each idiom in a small bad
// file, lets the same code through where it is allowed, and passes the
// idioms product code is meant to use.
func TestCheckerCatchesEachIdiom(t *testing.T) {
	check := func(rel, body string) []finding {
		t.Helper()
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, rel, body, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		return checkFile(fset, rel, f)
	}
	bad := map[string]struct {
		body string
		rule rule
	}{
		"BeginTx": {`package p
import "context"
func f(ctx context.Context, db interface{ BeginTx(context.Context, any) (any, error) }) { db.BeginTx(ctx, nil) }`, ruleTx},
		"gorm Begin": {`package p
func f(db interface{ Begin() any }) { db.Begin() }`, ruleTx},
		"gorm Transaction": {`package p
func f(db interface{ Transaction(func(any) error) error }) { db.Transaction(nil) }`, ruleTx},
		"Rollback": {`package p
func f(tx interface{ Rollback() error }) { defer tx.Rollback() }`, ruleTx},
		"Commit": {`package p
func f(tx interface{ Commit() error }) error { return tx.Commit() }`, ruleTx},
		"pgx Commit": {`package p
import "context"
func f(ctx context.Context, tx interface{ Commit(context.Context) error }) error { return tx.Commit(ctx) }`, ruleTx},
		"sql.Tx": {`package p
import "database/sql"
var tx *sql.Tx`, ruleSQLAPI},
		"renamed database/sql": {`package p
import dbsql "database/sql"
func f(db *dbsql.DB) {}`, ruleSQLAPI},
		"sql.ErrNoRows": {`package p
import ("database/sql"; "errors")
func f(err error) bool { return errors.Is(err, sql.ErrNoRows) }`, ruleSQLAPI},
		"unwrap": {`package p
func f(g interface{ DB() (any, error) }) { g.DB() }`, ruleUnwrap},
		"$1": {"package p\nconst q = `UPDATE t SET a = $2 WHERE id = $1`", ruleDollar},
		"$1 fragment": {`package p
const tail = "AND next_due_at <= $1"`, ruleDollar},
		"pgxpool": {`package p
import _ "github.com/jackc/pgx/v5/pgxpool"`, rulePool},
		"stdlib": {`package p
import _ "github.com/jackc/pgx/v5/stdlib"`, rulePool},
	}
	for name, c := range bad {
		got := check("internal/somewhere/bad.go", c.body)
		if len(got) == 0 || got[0].rule != c.rule.name {
			t.Errorf("%s: findings %v, want one for %q", name, got, c.rule.name)
		}
		for _, allowed := range c.rule.allowed {
			if got := check(allowed, c.body); len(got) != 0 {
				t.Errorf("%s in %s, where it is allowed: %v", name, allowed, got)
			}
		}
	}
	good := `package p
import (
	"context"
	"database/sql"
	"gorm.io/gorm"
	"github.com/gustosync/gustosync/internal/postgres"
)
type attempt struct{}
func (attempt) Commit(ctx context.Context, b int) error { return nil }
var last sql.NullTime
func f(ctx context.Context, db *gorm.DB, a attempt) error {
	_ = a.Commit(ctx, 1) // a method that happens to be called Commit
	return postgres.InTx(ctx, db, postgres.TxOptions{}, func(tx *gorm.DB) error {
		return tx.Exec("UPDATE t SET a = ? WHERE id = ? AND price <> '$'", 1, 2).Error
	})
}`
	if got := check("internal/somewhere/good.go", good); len(got) != 0 {
		t.Errorf("the idioms product code should use were flagged: %v", got)
	}
}
