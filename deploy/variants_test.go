package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// editFile replaces old with new in the file at path, once; the test fails
// if old is not there (the variant would silently test nothing).
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	b := readFile(t, path)
	if strings.Count(b, old) != 1 {
		t.Fatalf("%s: want exactly one %q to replace", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(b, old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The production overlay with the Redis and PostgreSQL operators commonly
// run: Redis over TLS on 6380 (a rediss:// REDIS_URL, REDIS_TLS true) in
// database 3, and PostgreSQL behind PgBouncer on 6432. Set in the one place
// each lives (the overlay's ConfigMap patch, the Secret), everything
// follows: KEDA's triggers read the same Redis with TLS and fall back when
// they cannot, and every binary's NetworkPolicy lets it reach both.
func TestProductionWithTLSRedisAndPgBouncer(t *testing.T) {
	tree := copyTree(t)
	overlay := filepath.Join(tree, "overlays", "production")
	kz := filepath.Join(overlay, "kustomization.yaml")
	editFile(t, kz, "value: redis://redis.example.internal:6379/0", "value: rediss://redis.example.internal:6380/3")
	editFile(t, kz, "path: /data/REDIS_TLS\n        value: \"false\"", "path: /data/REDIS_TLS\n        value: \"true\"")
	editFile(t, filepath.Join(overlay, "secret.example.yaml"), "@postgres.example.internal:5432/", "@pgbouncer.example.internal:6432/")
	r := loadOverlay(t, needKubectl(t), overlay)
	if len(r.custom["ScaledObject"]) != 1 {
		t.Fatalf("%d ScaledObjects rendered, want 1", len(r.custom["ScaledObject"]))
	}
	for _, tr := range list(path(r.custom["ScaledObject"][0], "spec", "triggers")) {
		if a, tls := path(tr, "metadata", "address"), path(tr, "metadata", "enableTLS"); a != "redis.example.internal:6380" || tls != "true" {
			t.Fatalf("trigger address %v, enableTLS %v: the triggers did not follow REDIS_URL and REDIS_TLS", a, tls)
		}
	}
	checkComponents(t, r)
	checkBinaries(t, r)
	checkNetworkPolicies(t, r)
}

// A change of the shared settings rolls the pods: the ConfigMap's
// rendered name carries a hash of its values, so every pod template that
// loads it changes with it (a ConfigMap edited in place would leave the
// running pods on the old values until they happen to restart).
func TestConfigMapChangeRollsThePods(t *testing.T) {
	tree := copyTree(t)
	overlay := filepath.Join(tree, "overlays", "production")
	kubectl := needKubectl(t)
	refs := func(r *render) map[string]string {
		out := map[string]string{}
		for _, o := range r.objects {
			d, ok := o.(*appsv1.Deployment)
			if !ok {
				continue
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, ef := range c.EnvFrom {
					if ef.ConfigMapRef != nil {
						out[d.Name+"/"+c.Name] = ef.ConfigMapRef.Name
					}
				}
			}
		}
		if len(out) < 3 {
			t.Fatalf("found %d containers loading a ConfigMap, want the worker's, scheduler's and dashboard's", len(out))
		}
		return out
	}
	before := refs(loadOverlay(t, kubectl, overlay))
	editFile(t, filepath.Join(tree, "base", "gustosync.env"), "\nLOG_LEVEL=info\n", "\nLOG_LEVEL=debug\n")
	r := loadOverlay(t, kubectl, overlay)
	after := refs(r)
	for c, name := range after {
		if name == before[c] {
			t.Errorf("%s loads ConfigMap %s before and after LOG_LEVEL changed: its pods would not roll", c, name)
		}
		if cm, ok := r.configMaps[name]; !ok || cm.Data["LOG_LEVEL"] != "debug" {
			t.Errorf("%s loads ConfigMap %s, which does not hold the new LOG_LEVEL", c, name)
		}
	}
}
