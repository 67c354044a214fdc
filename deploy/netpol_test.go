package deploy

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gustosync/gustosync/internal/config"
)

// endpoint is one end of a connection: a pod (of the overlay or a
// stand-in for one elsewhere, such as the cluster DNS) or an address
// outside the cluster.
type endpoint struct {
	name   string
	ns     string
	labels map[string]string
	spec   *corev1.PodSpec // nil for pods outside the overlay
	ip     net.IP          // set for addresses outside the cluster
}

func (e endpoint) String() string {
	if e.ip != nil {
		return e.ip.String()
	}
	return e.ns + "/" + e.name
}

var (
	kubeDNS    = endpoint{name: "kube-dns", ns: "kube-system", labels: map[string]string{"k8s-app": "kube-dns"}}
	prometheus = endpoint{name: "prometheus", ns: "monitoring", labels: map[string]string{"app.kubernetes.io/name": "prometheus"}}
	stranger   = endpoint{name: "stranger", ns: "other", labels: map[string]string{"app": "anything"}}
	internet   = endpoint{name: "internet", ip: net.ParseIP("203.0.113.9")}
)

// allowed evaluates the overlay's NetworkPolicies the way the API
// specifies them: a pod selected by no policy of a direction is open in
// that direction; otherwise some rule of a selecting policy must match the
// peer and the port. ipBlocks match only addresses outside the cluster
// (for pod addresses the behaviour is left to the network plugin, so the
// tests do not count on it).
func (r *render) allowed(dir networkingv1.PolicyType, subject, peer endpoint, port int32, proto corev1.Protocol) bool {
	if subject.ip != nil || subject.ns != r.namespace {
		return true // not governed by this overlay's policies
	}
	selected := false
	for _, p := range r.policies {
		if !applies(p, dir) || !matches(&p.Spec.PodSelector, subject.labels) {
			continue
		}
		selected = true
		// The port is resolved against the destination pod: the subject
		// for ingress, the peer for egress.
		dst := peer
		if dir == networkingv1.PolicyTypeIngress {
			dst = subject
		}
		if dir == networkingv1.PolicyTypeIngress {
			for _, rule := range p.Spec.Ingress {
				if r.peersMatch(rule.From, peer) && portsMatch(rule.Ports, dst, port, proto) {
					return true
				}
			}
		} else {
			for _, rule := range p.Spec.Egress {
				if r.peersMatch(rule.To, peer) && portsMatch(rule.Ports, dst, port, proto) {
					return true
				}
			}
		}
	}
	return !selected
}

// connects says whether src may open a connection to dst: egress on src's
// side and ingress on dst's.
func (r *render) connects(src, dst endpoint, port int32, proto corev1.Protocol) bool {
	return r.allowed(networkingv1.PolicyTypeEgress, src, dst, port, proto) &&
		r.allowed(networkingv1.PolicyTypeIngress, dst, src, port, proto)
}

func applies(p *networkingv1.NetworkPolicy, dir networkingv1.PolicyType) bool {
	if len(p.Spec.PolicyTypes) > 0 {
		return slices.Contains(p.Spec.PolicyTypes, dir)
	}
	return dir == networkingv1.PolicyTypeIngress || len(p.Spec.Egress) > 0
}

func matches(sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(set))
}

func (r *render) nsLabels(ns string) map[string]string {
	out := map[string]string{"kubernetes.io/metadata.name": ns}
	for _, o := range r.objects {
		if n, ok := o.(*corev1.Namespace); ok && n.Name == ns {
			for k, v := range n.Labels {
				out[k] = v
			}
		}
	}
	return out
}

func (r *render) peersMatch(peers []networkingv1.NetworkPolicyPeer, e endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			if e.ip == nil {
				continue
			}
			_, cidr, err := net.ParseCIDR(p.IPBlock.CIDR)
			if err != nil || !cidr.Contains(e.ip) {
				continue
			}
			excluded := false
			for _, ex := range p.IPBlock.Except {
				if _, c, err := net.ParseCIDR(ex); err == nil && c.Contains(e.ip) {
					excluded = true
				}
			}
			if !excluded {
				return true
			}
			continue
		}
		if e.ip != nil {
			continue
		}
		nsOK := e.ns == r.namespace
		if p.NamespaceSelector != nil {
			nsOK = matches(p.NamespaceSelector, r.nsLabels(e.ns))
		}
		podOK := p.PodSelector == nil || matches(p.PodSelector, e.labels)
		if nsOK && podOK {
			return true
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, dst endpoint, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.Int:
			end := p.Port.IntVal
			if p.EndPort != nil {
				end = *p.EndPort
			}
			if port >= p.Port.IntVal && port <= end {
				return true
			}
		case dst.spec != nil:
			if n, ok := podPort(*dst.spec, *p.Port); ok && n == port {
				return true
			}
		}
	}
	return false
}

// target is a server a binary talks to.
type target struct {
	what string
	url  string // host:port, with a scheme for the default port
	// public says the server is on the internet (Gusto, a webhook), not
	// in a private network (a managed database).
	public bool
}

// targetsOf lists the servers a binary's configuration points at.
func targetsOf(t *testing.T, cfg any) []target {
	t.Helper()
	var out []target
	add := func(what, hp string, public bool) { out = append(out, target{what, hp, public}) }
	db := func(d config.Database) { add("PostgreSQL", hostPort(t, d.URL, "5432"), false) }
	rd := func(r config.Redis) {
		for _, a := range redisAddrs(t, r) {
			add("Redis", a, false)
		}
	}
	gusto := func(g config.Gusto) { add("Gusto", hostPort(t, g.APIURL, "443"), true) }
	switch c := cfg.(type) {
	case *config.Worker:
		db(c.Database)
		rd(c.Redis)
		gusto(c.Gusto)
	case *config.Scheduler:
		db(c.Database)
		rd(c.Redis)
		if c.AlertWebhookURL != "" {
			add("alert webhook", hostPort(t, c.AlertWebhookURL, "443"), true)
		}
	case *config.Dashboard:
		db(c.Database)
		rd(c.Redis)
		gusto(c.Gusto)
		if c.PrometheusURL != "" {
			add("Prometheus", hostPort(t, c.PrometheusURL, "80"), false)
		}
	case *config.Database:
		db(*c)
	case *config.Migration:
		db(c.Database)
		if c.MigrateURL != "" {
			add("PostgreSQL (migrations)", hostPort(t, c.MigrateURL, "5432"), false)
		}
	case *companiesAdd:
		db(c.Database)
	}
	return out
}

// resolve turns host:port into the endpoints that would answer: the pods
// behind a Service of the overlay (with the Service port mapped to the
// container port), or sample addresses outside the cluster.
func (r *render) resolve(t *testing.T, tg target) ([]endpoint, int32) {
	t.Helper()
	host, portStr, err := net.SplitHostPort(tg.url)
	if err != nil {
		t.Fatalf("%s address %q: %v", tg.what, tg.url, err)
	}
	p, _ := strconv.Atoi(portStr)
	port := int32(p)
	if ip := net.ParseIP(host); ip != nil {
		return []endpoint{{name: host, ip: ip}}, port
	}
	for _, s := range r.services {
		names := []string{s.Name, s.Name + "." + r.namespace, s.Name + "." + r.namespace + ".svc", s.Name + "." + r.namespace + ".svc.cluster.local"}
		if !slices.Contains(names, host) {
			continue
		}
		var sp *corev1.ServicePort
		for i := range s.Spec.Ports {
			if s.Spec.Ports[i].Port == port {
				sp = &s.Spec.Ports[i]
			}
		}
		if sp == nil {
			t.Errorf("%s at %s: Service %s has no port %d", tg.what, tg.url, s.Name, port)
			return nil, port
		}
		var eps []endpoint
		var target int32
		for i, w := range r.workloads {
			if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(w.labels)) {
				n, ok := podPort(w.spec, sp.TargetPort)
				if !ok {
					t.Errorf("Service %s: targetPort %s not declared by %s", s.Name, sp.TargetPort.String(), w.name)
				}
				target = n
				eps = append(eps, endpoint{name: w.name, ns: r.namespace, labels: w.labels, spec: &r.workloads[i].spec})
			}
		}
		if len(eps) == 0 {
			t.Errorf("%s at %s: Service %s selects no pod", tg.what, tg.url, s.Name)
		}
		return eps, target
	}
	// A Service of another namespace (svc.ns.svc[.cluster.local]), such as
	// Prometheus's: a pod of that namespace answers.
	if cut, ok := strings.CutSuffix(strings.TrimSuffix(host, ".cluster.local"), ".svc"); ok {
		if svc, ns, ok := strings.Cut(cut, "."); ok && ns != r.namespace && !strings.Contains(ns, ".") {
			return []endpoint{{name: svc, ns: ns, labels: map[string]string{}}}, port
		}
	}
	if strings.HasSuffix(host, ".svc") || strings.HasSuffix(host, ".svc.cluster.local") || !strings.Contains(host, ".") {
		// A cluster-internal name that is not a Service of the overlay:
		// nothing would answer (or, short names, nothing in the namespace).
		t.Errorf("%s at %s: no Service of the overlay has that name", tg.what, tg.url)
		return nil, port
	}
	samples := []endpoint{{name: host, ip: net.ParseIP("198.51.100.7")}}
	if !tg.public {
		samples = append(samples, endpoint{name: host, ip: net.ParseIP("10.20.30.40")})
	}
	return samples, port
}

// checkNetworkPolicies: each component reaches exactly what its
// configuration says it talks to, Prometheus reaches the metrics ports,
// and nothing else gets in.
func checkNetworkPolicies(t *testing.T, r *render) {
	for i, w := range r.workloads {
		self := endpoint{name: w.name, ns: r.namespace, labels: w.labels, spec: &r.workloads[i].spec}
		// Nothing from outside the cluster or from another namespace.
		for _, c := range w.spec.Containers {
			for _, p := range c.Ports {
				for _, from := range []endpoint{internet, stranger} {
					if r.allowed(networkingv1.PolicyTypeIngress, self, from, p.ContainerPort, corev1.ProtocolTCP) {
						t.Errorf("%s admits %s on port %d", w.name, from, p.ContainerPort)
					}
				}
			}
		}
		for _, c := range w.spec.Containers {
			b, ok := binaryOf(append(slices.Clone(c.Command), c.Args...))
			if !ok || b.config == nil || !strings.HasPrefix(c.Image, imageName(r)) {
				continue
			}
			env, _, _ := containerEnv(t, r, c, varIndex(b.config()))
			cfg, err := checkConfig(b, env)
			if err != nil {
				continue // checkBinaries reports it
			}
			needDNS := false
			for _, tg := range targetsOf(t, cfg) {
				if net.ParseIP(strings.Split(tg.url, ":")[0]) == nil {
					needDNS = true
				}
				dsts, port := r.resolve(t, tg)
				for _, dst := range dsts {
					if !r.connects(self, dst, port, corev1.ProtocolTCP) {
						t.Errorf("%s cannot reach %s (%s at %s, port %d)", w.name, tg.what, dst, tg.url, port)
					}
				}
			}
			if needDNS {
				for _, proto := range []corev1.Protocol{corev1.ProtocolUDP, corev1.ProtocolTCP} {
					if !r.connects(self, kubeDNS, 53, proto) {
						t.Errorf("%s cannot resolve names (DNS %s to kube-dns)", w.name, proto)
					}
				}
			}
			// Prometheus scrapes the workers and schedulers.
			var metricsAddr string
			switch c := cfg.(type) {
			case *config.Worker:
				metricsAddr = c.HTTPAddr
			case *config.Scheduler:
				metricsAddr = c.HTTPAddr
			}
			if metricsAddr != "" {
				_, ps, _ := net.SplitHostPort(metricsAddr)
				p, _ := strconv.Atoi(ps)
				prom := prometheus
				prom.ns = r.promNamespace()
				if !r.allowed(networkingv1.PolicyTypeIngress, self, prom, int32(p), corev1.ProtocolTCP) {
					t.Errorf("Prometheus (namespace %s) cannot scrape %s on port %d", prom.ns, w.name, p)
				}
			}
			// The dashboard admits only pods labelled for it.
			if d, ok := cfg.(*config.Dashboard); ok {
				_, ps, _ := net.SplitHostPort(d.Addr)
				p, _ := strconv.Atoi(ps)
				neighbour := endpoint{name: "neighbour", ns: r.namespace, labels: map[string]string{"app": "unrelated"}}
				if r.allowed(networkingv1.PolicyTypeIngress, self, neighbour, int32(p), corev1.ProtocolTCP) {
					t.Errorf("the dashboard admits any pod of the namespace on port %d", p)
				}
			}
		}
	}
}

// TestNetworkPolicyEvaluator checks the evaluator on a small policy set,
// so that a policy check passing means something.
func TestNetworkPolicyEvaluator(t *testing.T) {
	tcp := corev1.ProtocolTCP
	web := map[string]string{"app": "web"}
	db := map[string]string{"app": "db"}
	r := &render{namespace: "ns", policies: []*networkingv1.NetworkPolicy{
		{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Ingress", "Egress"}}},
		{Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: web},
			PolicyTypes: []networkingv1.PolicyType{"Egress"},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: db}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromInt32(5432))}},
			}, {
				To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8"}}}},
			}},
		}},
		{Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: db},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: web}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromString("pg"))}},
			}},
		}},
	}}
	dbSpec := corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "pg", ContainerPort: 5432}}}}}
	w := endpoint{name: "web", ns: "ns", labels: web}
	d := endpoint{name: "db", ns: "ns", labels: db, spec: &dbSpec}
	other := endpoint{name: "other", ns: "ns", labels: map[string]string{"app": "other"}}
	for _, tc := range []struct {
		src, dst endpoint
		port     int32
		want     bool
	}{
		{w, d, 5432, true},
		{w, d, 5433, false},
		{other, d, 5432, false}, // default deny egress for other
		{d, w, 80, false},
		{w, endpoint{ip: net.ParseIP("198.51.100.1")}, 443, true},
		{w, endpoint{ip: net.ParseIP("10.1.1.1")}, 443, false},
		{w, endpoint{ip: net.ParseIP("10.1.1.1")}, 5432, false}, // ipBlock rule excludes it; pod rule needs a pod
	} {
		if got := r.connects(tc.src, tc.dst, tc.port, tcp); got != tc.want {
			t.Errorf("%s → %s:%d = %v, want %v", tc.src, tc.dst, tc.port, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
