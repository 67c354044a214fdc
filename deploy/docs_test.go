package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// displayName is how docs/deploy.md names a binary in its tables: the CLI
// is "gustosync" whichever of its commands reads the variable.
func displayName(b binary) string { return b.words[0] }

// TestDocsVariableTable checks docs/deploy.md's configuration table against
// the code: the same variables, read by the same binaries, with the same
// defaults and the same required ones.
func TestDocsVariableTable(t *testing.T) {
	doc := readFile(t, filepath.Join(repoRoot(t), "docs", "deploy.md"))
	row := regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]+)` \\| ([^|]*) \\| ([^|]*) \\| [^|]*\\|$")
	rows := map[string][2]string{}
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		if _, dup := rows[m[1]]; dup {
			t.Errorf("%s appears twice in the table", m[1])
		}
		rows[m[1]] = [2]string{strings.TrimSpace(m[2]), strings.TrimSpace(m[3])}
	}
	type facts struct {
		readers  []string
		defaults []string
		required bool
	}
	code := map[string]*facts{}
	for _, b := range binaries {
		for name, v := range knownVars(t, b) {
			f := code[name]
			if f == nil {
				f = &facts{}
				code[name] = f
			}
			if !slices.Contains(f.readers, displayName(b)) {
				f.readers = append(f.readers, displayName(b))
			}
			if v.HasDefault && v.Default != "" && !slices.Contains(f.defaults, v.Default) {
				f.defaults = append(f.defaults, v.Default)
			}
			f.required = f.required || v.Required
		}
	}
	if len(code) < 10 {
		t.Fatalf("found only %d variables in the code: the check would prove nothing", len(code))
	}
	for name, f := range code {
		r, ok := rows[name]
		if !ok {
			t.Errorf("docs/deploy.md's table lacks %s (read by %s)", name, strings.Join(f.readers, ", "))
			continue
		}
		got := strings.Split(r[0], ", ")
		sort.Strings(got)
		sort.Strings(f.readers)
		if !slices.Equal(got, f.readers) {
			t.Errorf("%s: the table says it is read by %v, the code by %v", name, got, f.readers)
		}
		switch {
		case f.required:
			if !strings.Contains(r[1], "required") {
				t.Errorf("%s is required; the table's default column says %q", name, r[1])
			}
		case len(f.defaults) == 0:
			if !strings.HasPrefix(r[1], "none") {
				t.Errorf("%s has no default; the table says %q", name, r[1])
			}
		default:
			for _, d := range f.defaults {
				if !strings.Contains(r[1], "`"+d+"`") {
					t.Errorf("%s defaults to %q; the table says %q", name, d, r[1])
				}
			}
		}
	}
	for name := range rows {
		if _, ok := code[name]; !ok {
			t.Errorf("the table documents %s, which no binary reads", name)
		}
	}
}

// TestDocsNameWhatExists checks the paths, overlays, compose services and
// commands docs/deploy.md tells a new user to use, the alerts it lists and
// the figures it quotes. The README's deploy section gets the same checks
// of paths (the deployment ones), overlays and compose commands.
func TestDocsNameWhatExists(t *testing.T) {
	root := repoRoot(t)
	doc := readFile(t, filepath.Join(root, "docs", "deploy.md"))
	p := loadCompose(t, true)
	bins := parseImages(t).product.Bins

	pathRE := regexp.MustCompile("`((?:k8s|deploy|docs|cmd|internal)/[A-Za-z0-9_./-]*|Dockerfile|docker-compose\\.yml|\\.env\\.example|\\.dockerignore)`")
	if n := checkCommands(t, root, "docs/deploy.md", doc, pathRE, p, bins); n < 5 {
		t.Errorf("found only %d paths in docs/deploy.md: the pattern is broken", n)
	}
	if readme, err := os.ReadFile(filepath.Join(root, "README.md")); err == nil {
		deployPaths := regexp.MustCompile("`((?:k8s|deploy|docs)/[A-Za-z0-9_./-]*|Dockerfile|docker-compose\\.yml|\\.env\\.example)`")
		checkCommands(t, root, "README.md", string(readme), deployPaths, p, bins)
	}

	// The quick start's service table lists every compose service.
	for name := range p.Services {
		if !regexp.MustCompile("(?m)^\\| [^|]*`" + regexp.QuoteMeta(name) + "`[^|]*\\|").MatchString(doc) {
			t.Errorf("docs/deploy.md's service table does not mention compose service %s", name)
		}
	}

	// The alert table matches the PrometheusRule.
	var alerts []string
	for _, r := range overlays(t) {
		for _, pr := range r.custom["PrometheusRule"] {
			for _, g := range list(path(pr, "spec", "groups")) {
				for _, rule := range list(path(g, "rules")) {
					if a, _ := path(rule, "alert").(string); a != "" && !slices.Contains(alerts, a) {
						alerts = append(alerts, a)
					}
				}
			}
		}
	}
	documented := regexp.MustCompile("(?m)^\\| `(Gustosync[A-Za-z]+)` \\|").FindAllStringSubmatch(doc, -1)
	var docAlerts []string
	for _, m := range documented {
		docAlerts = append(docAlerts, m[1])
	}
	sort.Strings(alerts)
	sort.Strings(docAlerts)
	if len(alerts) == 0 || !slices.Equal(alerts, docAlerts) {
		t.Errorf("alerts: PrometheusRule has %v, docs/deploy.md lists %v", alerts, docAlerts)
	}

	// Figures quoted in the text (line breaks do not matter).
	flat := strings.Join(strings.Fields(doc), " ")
	w := p.Services["worker"]
	if w.StopGracePeriod == nil {
		t.Fatal("worker has no stop_grace_period")
	}
	wcfg := mustWorker(t, envOf(w.Environment))
	for _, want := range []string{
		fmt.Sprintf("`stop_grace_period` (%v)", time.Duration(*w.StopGracePeriod)),
		fmt.Sprintf("`WORKER_SHUTDOWN_TIMEOUT` (%v)", wcfg.ShutdownTimeout),
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("docs/deploy.md does not say %q as the files do", want)
		}
	}
	for _, r := range overlays(t) {
		for _, wl := range r.workloads {
			if wl.name == "gustosync-worker" {
				if g := fmt.Sprintf("`terminationGracePeriodSeconds: %d`", ptrOr(wl.spec.TerminationGracePeriodSeconds, 30)); !strings.Contains(flat, g) {
					t.Errorf("%s: docs/deploy.md does not quote %s", r.name, g)
				}
			}
		}
	}
}

// checkCommands checks, in one document, the paths pathRE finds, the
// overlays `kubectl apply -k`/`kubectl kustomize` name, and the services
// and binaries `docker compose` commands name. It returns how many paths it
// checked.
func checkCommands(t *testing.T, root, name, doc string, pathRE *regexp.Regexp, p *types.Project, bins map[string]string) int {
	t.Helper()
	n := 0
	for _, m := range pathRE.FindAllStringSubmatch(doc, -1) {
		n++
		if !fileExists(filepath.Join(root, strings.TrimSuffix(m[1], "/"))) {
			t.Errorf("%s names %s, which does not exist", name, m[1])
		}
	}
	for _, m := range regexp.MustCompile(`kubectl (?:apply -k|kustomize) ([\w./-]+)`).FindAllStringSubmatch(doc, -1) {
		if !fileExists(filepath.Join(root, m[1], "kustomization.yaml")) {
			t.Errorf("%s applies %s, which has no kustomization.yaml", name, m[1])
		}
	}
	composeRE := regexp.MustCompile(`(?m)docker compose (logs|run|exec|up|restart|stop|down)((?: [^\s#]+)*)`)
	for _, m := range composeRE.FindAllStringSubmatch(doc, -1) {
		args := strings.Fields(m[2])
		var svc string
		var rest []string
		for i := 0; i < len(args); i++ {
			if args[i] == "--scale" {
				i++ // its value is SERVICE=N, checked below
				continue
			}
			if strings.HasPrefix(args[i], "-") {
				continue
			}
			svc, rest = args[i], args[i+1:]
			break
		}
		if svc == "" {
			continue
		}
		if _, ok := p.Services[svc]; !ok {
			t.Errorf("%s: `docker compose %s%s` names service %s, which docker-compose.yml lacks", name, m[1], m[2], svc)
		}
		if m[1] == "run" && len(rest) > 0 {
			if _, ok := bins[rest[0]]; !ok {
				t.Errorf("%s runs %v, not a binary of the image", name, rest)
			}
		}
	}
	for _, m := range regexp.MustCompile(`--scale (\w+)=`).FindAllStringSubmatch(doc, -1) {
		if _, ok := p.Services[m[1]]; !ok {
			t.Errorf("%s scales %s, which docker-compose.yml lacks", name, m[1])
		}
	}
	return n
}
