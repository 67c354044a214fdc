package deploy

import (
	"bytes"
	"context"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/gustosync/gustosync/internal/dashboard"
)

// checkRelease: every apply re-runs the migrations without a hand-deleted
// Job (a Job's pod template is immutable, so none is rendered): the worker
// and the scheduler run `gustosync migrate` as an init container, with the
// DATABASE_URL of their main container; and every product binary's
// readiness probe is /readyz, which fails while the schema is older than
// the binary.
func checkRelease(t *testing.T, r *render) {
	for _, o := range r.objects {
		if j, ok := o.(*batchv1.Job); ok {
			t.Errorf("Job %s: its pod template is immutable, so the next release's apply fails; migrate from an init container", j.Name)
		}
	}
	components := map[string]bool{}
	for _, w := range r.workloads {
		comp := w.labels["app.kubernetes.io/component"]
		if !slices.Contains([]string{"worker", "scheduler", "dashboard"}, comp) || w.kind != "Deployment" {
			continue
		}
		components[comp] = true
		main := w.spec.Containers[0]
		if p := main.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
			t.Errorf("%s: readiness probe %+v; want httpGet /readyz (not ready on an older schema)", w.name, p)
		}
		if comp == "dashboard" {
			continue
		}
		var migrate *corev1.Container
		for i, c := range w.spec.InitContainers {
			if slices.Equal(c.Command, []string{"gustosync", "migrate"}) {
				migrate = &w.spec.InitContainers[i]
			}
		}
		if migrate == nil {
			t.Errorf("%s: no init container runs `gustosync migrate`", w.name)
			continue
		}
		if migrate.Image != main.Image {
			t.Errorf("%s: migrates with %s but runs %s: the migrations must be the binary's own", w.name, migrate.Image, main.Image)
		}
		src := func(c corev1.Container) string {
			for _, e := range c.Env {
				if e.Name == "DATABASE_URL" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					return e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
				}
			}
			return ""
		}
		if src(*migrate) == "" || src(*migrate) != src(main) {
			t.Errorf("%s: init container's DATABASE_URL from %q, the binary's from %q: want the same database", w.name, src(*migrate), src(main))
		}
		// The migrations may run as a role of their own: the init
		// container reads DATABASE_MIGRATE_URL from the same Secret, when
		// the key is there.
		var own bool
		for _, e := range migrate.Env {
			if ref := e.ValueFrom; e.Name == "DATABASE_MIGRATE_URL" && ref != nil && ref.SecretKeyRef != nil &&
				ref.SecretKeyRef.Name+"/"+ref.SecretKeyRef.Key == strings.Split(src(main), "/")[0]+"/DATABASE_MIGRATE_URL" &&
				ref.SecretKeyRef.Optional != nil && *ref.SecretKeyRef.Optional {
				own = true
			}
		}
		if !own {
			t.Errorf("%s: the migrate init container does not read DATABASE_MIGRATE_URL (optional) from the Secret of DATABASE_URL", w.name)
		}
	}
	for _, c := range []string{"worker", "scheduler", "dashboard"} {
		if !components[c] {
			t.Errorf("no %s Deployment", c)
		}
	}
}

// checkMonitoring: the PodMonitor and PrometheusRule carry the label the
// overlay's monitoring.yaml names, which kube-prometheus-stack's default
// selectors match (the NetworkPolicy side, the namespace, is evaluated by
// checkNetworkPolicies).
func checkMonitoring(t *testing.T, r *render) {
	objs := append(slices.Clone(r.custom["PodMonitor"]), r.custom["PrometheusRule"]...)
	if len(objs) == 0 {
		return
	}
	if r.monitoring == nil {
		t.Fatal("the overlay has the monitoring component but no monitoring.yaml (Prometheus's namespace and release label)")
	}
	want := r.monitoring.Data["release"]
	if want == "" || r.monitoring.Data["namespace"] == "" || r.monitoring.Data["prometheusURL"] == "" {
		t.Errorf("monitoring.yaml: want data.namespace, data.release and data.prometheusURL, got %v", r.monitoring.Data)
	}
	for _, o := range objs {
		if got := path(o, "metadata", "labels", "release"); got != want {
			t.Errorf("%v %v: label release=%v, want %q (monitoring.yaml)", o["kind"], path(o, "metadata", "name"), got, want)
		}
	}
}

// checkImagesPinned: production runs every image by digest; elsewhere
// every third-party image is pinned by digest (the demo's own images are
// built locally as :dev).
func checkImagesPinned(t *testing.T, r *render) {
	for _, w := range r.workloads {
		for _, c := range append(slices.Clone(w.spec.InitContainers), w.spec.Containers...) {
			local := strings.HasSuffix(c.Image, ":dev")
			if (r.name == "production" || !local) && !digestRE.MatchString(c.Image) {
				t.Errorf("%s/%s: image %q is not pinned by digest", w.name, c.Name, c.Image)
			}
		}
	}
}

// renderDir renders a kustomize directory.
func renderDir(t *testing.T, name, dir string) *render {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, needKubectl(t), "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return decodeRender(t, name, stdout.Bytes())
}

// copyTree copies the k8s tree into a temporary directory, to render it
// with one file changed.
func copyTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(repoRoot(t), "k8s")
	dst := filepath.Join(t.TempDir(), "k8s")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// Prometheus's namespace and selector label are set in one place, the
// overlay's monitoring.yaml: changed there, the PodMonitor, the
// PrometheusRule and the NetworkPolicies follow, and the old namespace is
// no longer admitted.
func TestMonitoringConfiguredInOnePlace(t *testing.T) {
	tree := copyTree(t)
	file := filepath.Join(tree, "overlays", "production", "monitoring.yaml")
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict([]byte(readFile(t, file)), &cm); err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"namespace": "observability", "release": "prom-stack",
		"prometheusURL": "http://prometheus-operated.observability.svc:9090"}
	b, err := yaml.Marshal(&cm)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := renderDir(t, "production", filepath.Join(tree, "overlays", "production"))
	r.monitoring = &cm
	checkMonitoring(t, r)
	// The dashboard queries the Prometheus named there, and only there.
	var dashboard *endpoint
	for i, w := range r.workloads {
		if w.labels["app.kubernetes.io/component"] == "dashboard" {
			dashboard = &endpoint{name: w.name, ns: r.namespace, labels: w.labels, spec: &r.workloads[i].spec}
			cfgMap := r.configMaps[w.spec.Containers[0].EnvFrom[0].ConfigMapRef.Name]
			if got := cfgMap.Data["DASHBOARD_PROMETHEUS_URL"]; got != cm.Data["prometheusURL"] {
				t.Errorf("DASHBOARD_PROMETHEUS_URL %q, want monitoring.yaml's prometheusURL %q", got, cm.Data["prometheusURL"])
			}
		}
	}
	if dashboard == nil {
		t.Fatal("no dashboard rendered")
	}
	for ns, want := range map[string]bool{"observability": true, "monitoring": false} {
		prom := prometheus
		prom.ns = ns
		if got := r.connects(*dashboard, prom, 9090, corev1.ProtocolTCP); got != want {
			t.Errorf("the dashboard reaches Prometheus in namespace %s on 9090: %v, want %v", ns, got, want)
		}
	}
	for _, kind := range []string{"PodMonitor", "PrometheusRule"} {
		if len(r.custom[kind]) == 0 {
			t.Errorf("no %s rendered", kind)
		}
	}
	scraped := 0
	for i, w := range r.workloads {
		// The port each serves /metrics on (the dashboard's "http" is
		// behind operator auth; its /metrics has a port of its own).
		portName := map[string]string{"worker": "http", "scheduler": "http", "dashboard": "metrics"}[w.labels["app.kubernetes.io/component"]]
		if portName == "" {
			continue
		}
		self := endpoint{name: w.name, ns: r.namespace, labels: w.labels, spec: &r.workloads[i].spec}
		var port int32
		for _, p := range w.spec.Containers[0].Ports {
			if p.Name == portName {
				port = p.ContainerPort
			}
		}
		if port == 0 {
			t.Errorf("%s declares no %q port", w.name, portName)
			continue
		}
		for ns, want := range map[string]bool{"observability": true, "monitoring": false} {
			prom := prometheus
			prom.ns = ns
			if got := r.allowed(networkingv1.PolicyTypeIngress, self, prom, port, corev1.ProtocolTCP); got != want {
				t.Errorf("%s: Prometheus in namespace %s admitted on %d: %v, want %v", w.name, ns, port, got, want)
			}
		}
		scraped++
	}
	if scraped != 3 {
		t.Errorf("checked %d scraped workloads, want the worker, the scheduler and the dashboard", scraped)
	}
}

// The demo's KEDA path works from KEDA's own namespace: the triggers name
// the demo's Redis by its fully qualified name, and a NetworkPolicy admits
// the keda namespace to it.
func TestDemoAutoscalingReachesRedis(t *testing.T) {
	r := renderDir(t, "demo-autoscaling", filepath.Join(repoRoot(t), "k8s", "overlays", "demo-autoscaling"))
	sos := r.custom["ScaledObject"]
	if len(sos) != 1 {
		t.Fatalf("%d ScaledObjects, want 1", len(sos))
	}
	var redis []endpoint
	for i, w := range r.workloads {
		if w.labels["app.kubernetes.io/component"] == "redis" {
			redis = append(redis, endpoint{name: w.name, ns: r.namespace, labels: w.labels, spec: &r.workloads[i].spec})
		}
	}
	if len(redis) != 1 {
		t.Fatalf("%d Redis workloads in the demo, want 1", len(redis))
	}
	kedaOperator := endpoint{name: "keda-operator", ns: "keda", labels: map[string]string{"app": "keda-operator"}}
	for _, tr := range list(path(sos[0], "spec", "triggers")) {
		addr, _ := path(tr, "metadata", "address").(string)
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "redis."+r.namespace+".svc.cluster.local" || port != "6379" {
			t.Errorf("trigger address %q: want redis.%s.svc.cluster.local:6379 (KEDA resolves names from its own namespace)", addr, r.namespace)
		}
	}
	if !r.allowed(networkingv1.PolicyTypeIngress, redis[0], kedaOperator, 6379, corev1.ProtocolTCP) {
		t.Error("no NetworkPolicy admits KEDA (namespace keda) to the demo's Redis")
	}
	if r.allowed(networkingv1.PolicyTypeIngress, redis[0], stranger, 6379, corev1.ProtocolTCP) {
		t.Error("the demo's Redis admits any namespace")
	}
}

// The examples under k8s/examples (rendered by no overlay) decode strictly
// and agree with what they stand beside: the ExternalSecret fills exactly
// the keys of the production Secret example; the ingress example exposes
// the dashboard's webhook route and its policy admits the controller.
func TestExamples(t *testing.T) {
	root := repoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "k8s", "examples", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no k8s/examples")
	}
	var example corev1.Secret
	if err := yaml.UnmarshalStrict([]byte(readFile(t, filepath.Join(root, "k8s", "overlays", "production", "secret.example.yaml"))), &example); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(readFile(t, f), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var head struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			seen[head.Kind] = true
			switch head.Kind {
			case "ExternalSecret":
				var es map[string]any
				if err := yaml.UnmarshalStrict([]byte(doc), &es); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if es["apiVersion"] != "external-secrets.io/v1" || path(es, "spec", "target", "name") != "gustosync-secrets" {
					t.Errorf("%s: want external-secrets.io/v1 targeting gustosync-secrets, got %v → %v", f, es["apiVersion"], path(es, "spec", "target", "name"))
				}
				var keys []string
				for _, d := range list(path(es, "spec", "data")) {
					k, _ := path(d, "secretKey").(string)
					keys = append(keys, k)
					if path(d, "remoteRef", "key") == nil {
						t.Errorf("%s: %s has no remoteRef.key", f, k)
					}
				}
				slices.Sort(keys)
				if want := keys2(example.StringData); !slices.Equal(keys, want) {
					t.Errorf("%s fills %v; secret.example.yaml has %v", f, keys, want)
				}
			case "Ingress":
				var in networkingv1.Ingress
				if err := yaml.UnmarshalStrict([]byte(doc), &in); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				ok := false
				for _, rule := range in.Spec.Rules {
					for _, p := range rule.HTTP.Paths {
						ok = ok || (p.Path == dashboard.WebhookPath && p.Backend.Service != nil && p.Backend.Service.Name == "gustosync-dashboard")
					}
				}
				if !ok {
					t.Errorf("%s: no path %s to the gustosync-dashboard Service", f, dashboard.WebhookPath)
				}
			case "NetworkPolicy":
				var np networkingv1.NetworkPolicy
				if err := yaml.UnmarshalStrict([]byte(doc), &np); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				dash := endpoint{name: "dashboard", ns: np.Namespace, labels: map[string]string{"app.kubernetes.io/name": "gustosync", "app.kubernetes.io/component": "dashboard"}}
				controller := endpoint{name: "controller", ns: "ingress-nginx", labels: map[string]string{"app": "ingress-nginx"}}
				r := &render{namespace: np.Namespace, policies: []*networkingv1.NetworkPolicy{&np}}
				if !r.allowed(networkingv1.PolicyTypeIngress, dash, controller, 8082, corev1.ProtocolTCP) {
					t.Errorf("%s: NetworkPolicy %s does not admit the ingress controller to the dashboard's port", f, np.Name)
				}
			default:
				t.Errorf("%s: kind %s unknown to the tests", f, head.Kind)
			}
		}
	}
	for _, k := range []string{"ExternalSecret", "Ingress", "NetworkPolicy"} {
		if !seen[k] {
			t.Errorf("k8s/examples has no %s", k)
		}
	}
}

func keys2(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The production Secret example says one thing about TLS to PostgreSQL,
// everywhere it mentions sslmode: an encrypted mode (the same one in the
// comment and the value).
func TestProductionSecretTLS(t *testing.T) {
	text := readFile(t, filepath.Join(repoRoot(t), "k8s", "overlays", "production", "secret.example.yaml"))
	modes := regexp.MustCompile(`sslmode=([a-z-]+)`).FindAllStringSubmatch(text, -1)
	if len(modes) == 0 {
		t.Fatal("secret.example.yaml names no sslmode")
	}
	for _, m := range modes {
		if m[1] != modes[0][1] || !slices.Contains([]string{"require", "verify-ca", "verify-full"}, m[1]) {
			if m[1] == "disable" && strings.Contains(text, "Never sslmode=disable") {
				continue
			}
			t.Errorf("secret.example.yaml: sslmode=%s; want one encrypted mode throughout (first is %s)", m[1], modes[0][1])
		}
	}
}
