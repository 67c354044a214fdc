package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// monitoringDir holds the PrometheusRule and the Grafana dashboard.
const monitoringDir = "k8s/components/monitoring"

// ruleGroups is the spec of the PrometheusRule: Prometheus's own rule file
// format.
type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"rules"`
	} `json:"groups"`
}

func loadRules(t *testing.T) ruleGroups {
	t.Helper()
	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       ruleGroups     `json:"spec"`
	}
	if err := yaml.UnmarshalStrict([]byte(readFile(t, filepath.Join(repoRoot(t), monitoringDir, "prometheusrule.yaml"))), &pr); err != nil {
		t.Fatalf("prometheusrule.yaml: %v", err)
	}
	if len(pr.Spec.Groups) == 0 {
		t.Fatal("prometheusrule.yaml: no rule groups")
	}
	return pr.Spec
}

// TestAlertRulesWithPromtool runs `promtool test rules` (Debian's
// prometheus package; `make setup` installs it) on the PrometheusRule's
// groups: deploy/testdata/alerts_test.yaml says when each alert fires
// (run on the rules without their annotations, so the cases compare
// labels), alerts_text_test.yaml what the humanized text says.
func TestAlertRulesWithPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not on PATH: `make setup` installs it (apt-get install prometheus)")
	}
	rules := loadRules(t)
	bare := rules
	bare.Groups = slices.Clone(rules.Groups)
	for i := range bare.Groups {
		bare.Groups[i].Rules = slices.Clone(bare.Groups[i].Rules)
		for j := range bare.Groups[i].Rules {
			bare.Groups[i].Rules[j].Annotations = nil
		}
	}
	for _, tc := range []struct {
		tests string
		rules ruleGroups
	}{{"alerts_test.yaml", bare}, {"alerts_text_test.yaml", rules}} {
		dir := t.TempDir()
		b, err := yaml.Marshal(tc.rules)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "rules.yml"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, tc.tests), []byte(readFile(t, filepath.Join(repoRoot(t), "deploy", "testdata", tc.tests))), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, promtool, "test", "rules", tc.tests)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err = cmd.Run()
		cancel()
		if err != nil {
			t.Errorf("promtool test rules %s: %v\n%s", tc.tests, err, out.String())
		}
	}
}

// promtoolTests is the part of a promtool test file the coverage check
// reads.
type promtoolTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// TestAvailabilityAlertsAreTested: every alert on `up` or absent() has a
// promtool case where it fires (its targets gone or down) and one where it
// does not (they are there), so "fires when its target disappears and only
// then" is checked for each.
func TestAvailabilityAlertsAreTested(t *testing.T) {
	var cases promtoolTests
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(repoRoot(t), "deploy", "testdata", "alerts_test.yaml"))), &cases); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range cases.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if !onTargets(t, r.Expr) {
				continue
			}
			n++
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("%s watches targets (up or absent()): alerts_test.yaml needs a case where it fires (%v) and one where it does not (%v)",
					r.Alert, fires[r.Alert], quiet[r.Alert])
			}
		}
	}
	if n < 4 {
		t.Fatalf("found %d alerts on up or absent(): the rules were not understood", n)
	}
}

// onTargets says whether expr reads `up` or calls absent().
func onTargets(t *testing.T, expr string) bool {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	found := false
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			found = found || n.Name == "up"
		case *parser.Call:
			found = found || n.Func.Name == "absent" || n.Func.Name == "absent_over_time"
		}
		return nil
	})
	return found
}

// ownJob is the matcher that selects gustosync's targets: the PodMonitors
// take the job from the pods' app.kubernetes.io/name.
const ownJob = "gustosync"

// checkSelectors: every selector of expr picks gustosync's own targets
// (job="gustosync"), and with needNamespace every one also matches the
// dashboard's namespace variable.
func checkSelectors(t *testing.T, where, expr string, needNamespace bool) {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		var job, ns bool
		for _, m := range vs.LabelMatchers {
			job = job || (m.Name == "job" && m.Type == labels.MatchEqual && m.Value == ownJob)
			ns = ns || (m.Name == "namespace" && strings.Contains(m.Value, "$namespace"))
		}
		if !job {
			t.Errorf("%s: selector %s does not pick gustosync's targets (job=%q): another application's series would count", where, vs, ownJob)
		}
		if needNamespace && !ns {
			t.Errorf("%s: selector %s ignores the dashboard's namespace variable", where, vs)
		}
		return nil
	})
}

// checkGrouping: every aggregation of an alert keeps the namespace (by
// (namespace, …)), so installations alert apart; the one exception is the
// right side of `unless on ()`, which only asks whether anything exists.
func checkGrouping(t *testing.T, where, expr string) {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return
	}
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		agg, ok := n.(*parser.AggregateExpr)
		if !ok {
			return nil
		}
		if !agg.Without && slices.Contains(agg.Grouping, "namespace") {
			return nil
		}
		if len(path) > 0 {
			if b, ok := path[len(path)-1].(*parser.BinaryExpr); ok && b.Op == parser.LUNLESS && b.RHS == parser.Node(agg) &&
				b.VectorMatching != nil && b.VectorMatching.On && len(b.VectorMatching.MatchingLabels) == 0 {
				return nil
			}
		}
		t.Errorf("%s: %s does not keep the namespace (want by (namespace, …))", where, agg)
		return nil
	})
}

// bareValue is $value printed as Prometheus stores it (0.1234567,
// 5400.000001) instead of through a humanize function.
var bareValue = regexp.MustCompile(`\{\{\s*\$value\s*\}\}`)

// TestAlertsSelectGustosyncByNamespace: the alerts read gustosync's own
// series (job="gustosync"), not any container named worker in the
// cluster; they keep the namespace; their severity is one Alertmanager
// routes (critical pages, warning, ticket); their text humanizes values.
func TestAlertsSelectGustosyncByNamespace(t *testing.T) {
	n := 0
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			n++
			where := "alert " + r.Alert
			checkSelectors(t, where, r.Expr, false)
			checkGrouping(t, where, r.Expr)
			if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" && sev != "ticket" {
				t.Errorf("%s: severity %q, want critical, warning or ticket", where, sev)
			}
			for k, v := range r.Annotations {
				if bareValue.MatchString(v) {
					t.Errorf("%s: annotation %s prints $value raw: pipe it through humanize, humanizeDuration or humanizePercentage", where, k)
				}
			}
		}
	}
	if n < 15 {
		t.Fatalf("read %d alerts: the rule file was not understood", n)
	}
}

// TestDashboardSelectsGustosyncByNamespace: every panel of the Grafana
// dashboard reads gustosync's own series of the namespace chosen in its
// namespace variable, which lists the namespaces gustosync is scraped in.
func TestDashboardSelectsGustosyncByNamespace(t *testing.T) {
	var dash struct {
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(repoRoot(t), monitoringDir, "grafana-dashboard.json"))), &dash); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(dash.Templating.List, func(v struct {
		Name       string `json:"name"`
		Definition string `json:"definition"`
	}) bool {
		return v.Name == "namespace"
	})
	if i < 0 || !strings.Contains(dash.Templating.List[i].Definition, `job="`+ownJob+`"`) {
		t.Errorf("the dashboard has no namespace variable listing the namespaces of job=%q", ownJob)
	}
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			n++
			checkSelectors(t, "panel "+p.Title, tg.Expr, true)
		}
	}
	if n < 10 {
		t.Fatalf("read %d panel expressions: the dashboard was not understood", n)
	}
}
