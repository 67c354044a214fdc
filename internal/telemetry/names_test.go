package telemetry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/redis/go-redis/v9"
	"sigs.k8s.io/yaml"

	"github.com/gustosync/gustosync/internal/membudget"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/tokens"
)

// monitoring is the folder of the PrometheusRule and the Grafana dashboard.
const monitoring = "../../k8s/components/monitoring"

// prometheusOwn are the series Prometheus itself makes for every target.
var prometheusOwn = map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true}

// recorder registers on a real registry (so that conflicts fail as they
// would in main) and keeps the names of every metric described.
type recorder struct {
	reg   *prometheus.Registry
	names map[string]bool
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *recorder) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

// registeredNames builds the three binaries' registries through the
// functions their mains call and returns every metric name they can export.
func registeredNames(t *testing.T) map[string]bool {
	t.Helper()
	db := pgtest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = rdb.Close() })
	budget, err := membudget.New(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	record := func(what string, register func(prometheus.Registerer) error) {
		base := NewRegistry()
		mfs, err := base.Gather()
		if err != nil {
			t.Fatalf("%s: gather the base registry: %v", what, err)
		}
		for _, mf := range mfs {
			names[mf.GetName()] = true
		}
		r := &recorder{reg: base, names: names}
		if err := register(r); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	record("worker", func(reg prometheus.Registerer) error {
		_, err := RegisterWorker(reg, WorkerSources{DB: db.Gorm, Tokens: tokens.NewStore(db.Gorm, nil),
			Queues: asynq.NewInspectorFromRedisClient(rdb), PageBudget: budget, Heap: &membudget.HeapPeak{}})
		return err
	})
	record("scheduler", func(reg prometheus.Registerer) error {
		_, err := RegisterScheduler(reg, SchedulerSources{DB: db.Gorm, Interval: time.Hour})
		return err
	})
	record("dashboard", func(reg prometheus.Registerer) error {
		_, err := RegisterDashboard(reg, DashboardSources{DB: db.Gorm})
		return err
	})
	return names
}

// metricNames parses expr with Prometheus's PromQL parser and returns the
// metric names its selectors use.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return nil
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			t.Errorf("%s: selector %s names no metric", where, vs)
			return nil
		}
		out = append(out, name)
		return nil
	})
	return out
}

// known says whether name is registered, counting a histogram's series.
func known(names map[string]bool, name string) bool {
	if names[name] || prometheusOwn[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && names[base] {
			return true
		}
	}
	return false
}

// TestRulesAndDashboardUseRegisteredMetrics: every expression of the
// PrometheusRule and of the Grafana dashboard parses as PromQL, and every
// metric it names is registered by the worker, the scheduler or the
// dashboard (built as their mains build them). Renaming a metric in the
// code without the rules and the dashboard fails here.
func TestRulesAndDashboardUseRegisteredMetrics(t *testing.T) {
	names := registeredNames(t)
	for _, must := range []string{"gustosync_build_info", "go_goroutines", "process_resident_memory_bytes", "go_sql_open_connections",
		"gustosync_collector_up", "gustosync_gusto_requests_total", "gustosync_companies_overdue", "asynq_queue_latency_seconds"} {
		if !names[must] {
			t.Errorf("the registries lack %s", must)
		}
	}

	used := map[string][]string{} // metric -> where
	check := func(where, expr string) {
		for _, n := range metricNames(t, where, expr) {
			used[n] = append(used[n], where)
		}
	}

	var rule struct {
		Spec struct {
			Groups []struct {
				Name  string
				Rules []struct {
					Alert       string
					Expr        string
					For         string
					Annotations map[string]string
				}
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(monitoring, "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rule); err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			alerts++
			if r.Annotations["runbook"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: want runbook and description annotations", r.Alert)
			}
			check("alert "+r.Alert, r.Expr)
		}
	}
	if alerts < 15 {
		t.Fatalf("read %d alerts: the rule file was not understood", alerts)
	}

	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	b, err = os.ReadFile(filepath.Join(monitoring, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	exprs := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs++
			check("panel "+p.Title, tg.Expr)
		}
	}
	if exprs < 10 {
		t.Fatalf("read %d panel expressions: the dashboard was not understood", exprs)
	}

	var missing []string
	for n, where := range used {
		if !known(names, n) {
			missing = append(missing, n+" (in "+strings.Join(where, ", ")+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("not registered by any binary: %s", m)
	}
}

// TestNamesCatchARename: the check above is not vacuous.
func TestNamesCatchARename(t *testing.T) {
	names := map[string]bool{"gustosync_gusto_request_duration_seconds": true}
	if !known(names, "gustosync_gusto_request_duration_seconds_bucket") || known(names, "gustosync_gusto_request_seconds_bucket") || !known(names, "up") {
		t.Fatal("known() is wrong")
	}
	got := metricNames(t, "test", `sum(rate(a_total{x="1"}[5m])) / clamp_min(sum(rate({__name__="b_total"}[5m])), 1)`)
	if strings.Join(got, ",") != "a_total,b_total" {
		t.Fatalf("metricNames: %v", got)
	}
}
