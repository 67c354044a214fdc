package conventions

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docs/invariants.md lists each invariant under a heading "## N. Title",
// N counting from 1, with lines
//
//	- Held by: `pkg.Func` in path/file.go
//	- Test: `pkg.TestName` in path/file_test.go
//	- Also: further names, each `name` in path
//
// A name is pkg.Func, pkg.Type.Method or pkg.TestName, where pkg is the
// package clause of the file (an external test package pkg_test counts as
// pkg). Each invariant names exactly one function that holds it and at least
// one test.

var (
	headingRe = regexp.MustCompile(`^## (\d+)\. \S`)
	refRe     = regexp.MustCompile("`([A-Za-z_][A-Za-z0-9_]*(?:\\.[A-Za-z_][A-Za-z0-9_]*){1,2})` in ([A-Za-z0-9_./-]+\\.go)")
)

// ref is one name the document cites, with the file it names.
type ref struct {
	invariant int
	role      string // "Held by", "Test" or "Also"
	name      string
	file      string
}

// invariant is one section of the document.
type invariant struct {
	number int
	refs   []ref
}

// parseInvariants reads the document's sections and their references. It
// reports structural problems: numbers out of order, role lines outside a
// section, a role line without a reference.
func parseInvariants(doc string) ([]invariant, []error) {
	var out []invariant
	var errs []error
	for i, line := range strings.Split(doc, "\n") {
		lineNo := i + 1
		if m := headingRe.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			// Numbers increase; a gap is a range reserved for work on
			// another branch (the lead hands out ranges).
			prev := 0
			if len(out) > 0 {
				prev = out[len(out)-1].number
			}
			if (prev == 0 && n != 1) || n <= prev {
				errs = append(errs, fmt.Errorf("line %d: invariant %d follows %d: number them 1, 2, 3… in increasing order", lineNo, n, prev))
			}
			out = append(out, invariant{number: n})
			continue
		}
		role, rest, ok := strings.Cut(strings.TrimPrefix(line, "- "), ":")
		if !strings.HasPrefix(line, "- ") || !ok || (role != "Held by" && role != "Test" && role != "Also") {
			continue
		}
		if len(out) == 0 {
			errs = append(errs, fmt.Errorf("line %d: %q before the first invariant", lineNo, role))
			continue
		}
		inv := &out[len(out)-1]
		ms := refRe.FindAllStringSubmatch(rest, -1)
		if len(ms) == 0 {
			errs = append(errs, fmt.Errorf("line %d (invariant %d): %q names no `name` in file.go", lineNo, inv.number, role))
		}
		for _, m := range ms {
			inv.refs = append(inv.refs, ref{invariant: inv.number, role: role, name: m[1], file: m[2]})
		}
	}
	for _, inv := range out {
		held, tests := 0, 0
		for _, r := range inv.refs {
			switch r.role {
			case "Held by":
				held++
			case "Test":
				tests++
			}
		}
		if held != 1 {
			errs = append(errs, fmt.Errorf("invariant %d names %d functions that hold it, want exactly one", inv.number, held))
		}
		if tests == 0 {
			errs = append(errs, fmt.Errorf("invariant %d names no test that fails without it", inv.number))
		}
	}
	if len(out) == 0 {
		errs = append(errs, fmt.Errorf("no invariant found (want headings \"## N. Title\")"))
	}
	return out, errs
}

// declared lists what a Go file declares: its package name and every
// function as Func or Type.Method.
func declared(fset *token.FileSet, path string) (pkg string, names map[string]bool, err error) {
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return "", nil, err
	}
	names = map[string]bool{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		name := fd.Name.Name
		if fd.Recv != nil && len(fd.Recv.List) == 1 {
			t := fd.Recv.List[0].Type
			if st, ok := t.(*ast.StarExpr); ok {
				t = st.X
			}
			if ix, ok := t.(*ast.IndexExpr); ok { // generic receiver
				t = ix.X
			}
			if id, ok := t.(*ast.Ident); ok {
				name = id.Name + "." + name
			}
		}
		names[name] = true
	}
	return strings.TrimSuffix(f.Name.Name, "_test"), names, nil
}

// checkInvariants parses doc and checks every reference against the
// module: the file exists, its package is the name's package, it declares
// the function, and a test is a Test function in a _test.go file.
func checkInvariants(doc string) ([]invariant, []error) {
	invs, errs := parseInvariants(doc)
	fset := token.NewFileSet()
	type decls struct {
		pkg   string
		names map[string]bool
		err   error
	}
	cache := map[string]decls{}
	for _, inv := range invs {
		for _, r := range inv.refs {
			where := fmt.Sprintf("invariant %d, %s `%s` in %s", r.invariant, r.role, r.name, r.file)
			d, ok := cache[r.file]
			if !ok {
				d.pkg, d.names, d.err = declared(fset, filepath.Join(root, filepath.FromSlash(r.file)))
				cache[r.file] = d
			}
			if d.err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", where, d.err))
				continue
			}
			pkg, fn, _ := strings.Cut(r.name, ".")
			if pkg != d.pkg {
				errs = append(errs, fmt.Errorf("%s: the file is package %s, not %s", where, d.pkg, pkg))
				continue
			}
			if !d.names[fn] {
				errs = append(errs, fmt.Errorf("%s: no function %s in that file (renamed or moved? update docs/invariants.md)", where, fn))
				continue
			}
			isTest := strings.HasPrefix(fn, "Test") && !strings.Contains(fn, ".")
			if r.role == "Test" && (!isTest || !strings.HasSuffix(r.file, "_test.go")) {
				errs = append(errs, fmt.Errorf("%s: not a Test function of a _test.go file", where))
			}
			if r.role == "Held by" && strings.HasSuffix(r.file, "_test.go") {
				errs = append(errs, fmt.Errorf("%s: an invariant is held by product code, not by a test file", where))
			}
		}
	}
	return invs, errs
}

// TestInvariantsResolve: every function and test docs/invariants.md names
// exists where it says, and every invariant names one holder and a test.
func TestInvariantsResolve(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "docs", "invariants.md"))
	if err != nil {
		t.Fatal(err)
	}
	invs, errs := checkInvariants(string(doc))
	for _, err := range errs {
		t.Error(err)
	}
	// The design's nine are all there, and the checker saw their names.
	if len(invs) < 9 {
		t.Fatalf("%d invariants in docs/invariants.md, want at least the design's 9", len(invs))
	}
	refs := 0
	for _, inv := range invs {
		refs += len(inv.refs)
	}
	t.Logf("%d invariants, %d names resolved", len(invs), refs)
}

// TestInvariantCheckerCatches: the checker fails an entry whose function or
// test was renamed, one that points at the wrong file or package, one
// without a test, and numbers out of order; and passes a good entry.
func TestInvariantCheckerCatches(t *testing.T) {
	good := "## 1. Fenced refresh\n\n" +
		"- Held by: `tokens.Store.commitRefresh` in internal/tokens/store.go\n" +
		"- Test: `tokens.TestCommitRefreshIsFenced` in internal/tokens/store_test.go\n" +
		"- Also: `tokens.Manager.commit` in internal/tokens/refresh.go; `jobs.TestZombieAttemptIsFenced` in internal/jobs/handler_test.go\n"
	if _, errs := checkInvariants(good); len(errs) != 0 {
		t.Fatalf("a good entry fails: %v", errs)
	}
	for _, c := range []struct {
		name, doc, want string
	}{
		{"renamed function", strings.Replace(good, "Store.commitRefresh", "Store.commitRefreshed", 1), "no function Store.commitRefreshed"},
		{"renamed test", strings.Replace(good, "TestCommitRefreshIsFenced", "TestCommitIsFenced", 1), "no function TestCommitIsFenced"},
		{"renamed method in Also", strings.Replace(good, "Manager.commit`", "Manager.commitPair`", 1), "no function Manager.commitPair"},
		{"wrong file", strings.Replace(good, "internal/tokens/store.go", "internal/tokens/manager.go", 1), "no function Store.commitRefresh"},
		{"missing file", strings.Replace(good, "internal/tokens/store.go", "internal/tokens/gone.go", 1), "gone.go"},
		{"wrong package", strings.Replace(good, "`tokens.Store.commitRefresh`", "`jobs.Store.commitRefresh`", 1), "package tokens, not jobs"},
		{"no test", strings.Replace(good, "- Test:", "- Also:", 1), "names no test"},
		{"two holders", good + "- Held by: `tokens.Manager.exchange` in internal/tokens/refresh.go\n", "want exactly one"},
		{"test that is not a test", strings.Replace(good, "- Test: `tokens.TestCommitRefreshIsFenced` in internal/tokens/store_test.go",
			"- Test: `tokens.Manager.exchange` in internal/tokens/refresh.go", 1), "not a Test function"},
		{"held by a test", strings.Replace(good, "- Held by: `tokens.Store.commitRefresh` in internal/tokens/store.go",
			"- Held by: `tokens.TestStorm` in internal/tokens/manager_test.go", 1), "held by product code"},
		{"numbers out of order", strings.Replace(good, "## 1.", "## 2.", 1), "number them"},
		{"role without a name", good + "- Also: see the README\n", "names no `name`"},
	} {
		_, errs := checkInvariants(c.doc)
		found := false
		for _, err := range errs {
			found = found || strings.Contains(err.Error(), c.want)
		}
		if !found {
			t.Errorf("%s: errors %v, want one saying %q", c.name, errs, c.want)
		}
	}
}
