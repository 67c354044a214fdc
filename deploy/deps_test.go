package deploy

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gustosync/gustosync"

// testOnly are the packages no product binary may depend on: the
// simulator, the test infrastructure, and the proof tools' tree. A product
// binary that links one carries code made to fake Gusto, start servers or
// drop databases.
var testOnly = []string{
	module + "/internal/gustosim",
	module + "/internal/pgtest",
	module + "/internal/redistest",
	module + "/proof",
}

// forbidden returns the test-only packages among deps.
func forbidden(deps []string) []string {
	var out []string
	for _, d := range deps {
		for _, p := range testOnly {
			if d == p || strings.HasPrefix(d, p+"/") {
				out = append(out, d)
			}
		}
	}
	return out
}

// goListDeps runs `go list -deps` on one package.
func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command(needGo(t), "list", "-deps", "-f", "{{.ImportPath}}", pkg)
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
	}
	return strings.Fields(string(out))
}

// TestProductBinariesLeaveTestCodeOut: `go list -deps` of each product
// binary (the product image's, which TestDockerfile pins to
// productBinaries) names no package of the simulator, the test
// infrastructure or the proof tree.
func TestProductBinariesLeaveTestCodeOut(t *testing.T) {
	im := parseImages(t)
	if got := keys(im.product.Bins); len(got) != len(productBinaries) {
		t.Fatalf("the product image holds %v, want %v (TestDockerfile says more)", got, productBinaries)
	}
	for _, name := range productBinaries {
		pkg := im.product.Bins[name]
		deps := goListDeps(t, pkg)
		if !slices.Contains(deps, pkg) || !slices.Contains(deps, "fmt") {
			t.Errorf("%s: go list -deps gave %d packages without the binary itself or fmt: the list is not what the check assumes", pkg, len(deps))
		}
		if bad := forbidden(deps); len(bad) > 0 {
			t.Errorf("%s depends on %v: product binaries must not link the simulator, pgtest, redistest or anything under proof/", pkg, bad)
		}
	}
}

// TestForbiddenDepsSeen checks the check on binaries that do link test
// code: the demo driver (devstack, rowcheck, pgtest, redistest, gustosim)
// and the simulator.
func TestForbiddenDepsSeen(t *testing.T) {
	demo := forbidden(goListDeps(t, module+"/proof/demo"))
	for _, want := range []string{"/proof/devstack", "/proof/rowcheck", "/internal/pgtest", "/internal/redistest", "/internal/gustosim"} {
		if !slices.Contains(demo, module+want) {
			t.Errorf("proof/demo links %s, but the check saw only %v", module+want, demo)
		}
	}
	if sim := forbidden(goListDeps(t, module+"/cmd/gustosim")); len(sim) == 0 {
		t.Error("cmd/gustosim links internal/gustosim, but the check saw nothing")
	}
}
