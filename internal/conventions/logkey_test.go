package conventions

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"
)

// logCalls are the log/slog functions and methods whose arguments hold
// keys: the Logger's level methods, Log and With, and the attribute
// constructors.
var logCalls = []string{
	"Debug", "Info", "Warn", "Error", "DebugContext", "InfoContext", "WarnContext", "ErrorContext",
	"Log", "LogAttrs", "With", "WithGroup",
	"String", "Any", "Group", "Int", "Int64", "Uint64", "Float64", "Bool", "Duration", "Time",
}

// badLogKeys returns the positions where f passes a log key "err" (the
// one key for an error is "error").
func badLogKeys(fset *token.FileSet, f *ast.File) []token.Position {
	var out []token.Position
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !slices.Contains(logCalls, sel.Sel.Name) {
			return true
		}
		for _, a := range call.Args {
			if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && s == "err" {
					out = append(out, fset.Position(lit.Pos()))
				}
			}
		}
		return true
	})
	return out
}

// TestOneLogKeyForErrors fails when product code logs an error under any
// key but "error".
func TestOneLogKeyForErrors(t *testing.T) {
	files := goFiles(t, false, "internal", "cmd")
	if !slices.Contains(files, "internal/alerts/dispatcher.go") || !slices.Contains(files, "cmd/worker/main.go") {
		t.Fatalf("the scan of product packages misses files (%d found)", len(files))
	}
	fset := token.NewFileSet()
	for _, rel := range files {
		for _, pos := range badLogKeys(fset, parse(t, fset, rel)) {
			t.Errorf("%s: log key \"err\": the key of an error is \"error\"", pos)
		}
	}
}

// TestLogKeyCheckerCatches: the checker flags "err" as a key in each form
// product code uses, and nothing else.
func TestLogKeyCheckerCatches(t *testing.T) {
	src := `package p
func f() {
	log.Error("a", "err", err)
	log.Warn("b", "company", c, "err", err)
	slog.String("err", err.Error())
	slog.Group("err", slog.String("msg", m))
	log.Info("ok", "error", err)
	fmt.Println("err")
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, p := range badLogKeys(fset, f) {
		lines = append(lines, p.Line)
	}
	if !slices.Equal(lines, []int{3, 4, 5, 6}) {
		t.Fatalf("flagged lines %v, want [3 4 5 6]", lines)
	}
}
