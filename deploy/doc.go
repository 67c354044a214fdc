// Package deploy checks gustosync's packaging against the code, without a
// cluster or a Docker engine: the Dockerfile (the product image holds the
// product binaries only, each named; the simulator has its own target),
// docker-compose.yml with its .env.example, the kustomize tree under k8s/,
// docs/deploy.md, and that no product binary depends on the simulator, the
// test infrastructure or the proof tools (go list -deps).
//
// It also runs `promtool test rules` on the PrometheusRule (testdata/),
// checks that the alerts and the Grafana dashboard select gustosync's own
// targets by namespace, and that `make test` sets up what the suite needs
// (scripts/services.sh --test-tools).
//
// It has no library code; its tests are the point. They derive what each
// binary reads from the env tags of the config structs (internal/config),
// so they stay true as the structs grow, and they fail, never skip, when a
// tool they need (go, kubectl, promtool, make) is missing. The image's
// health check is a product binary, cmd/httpprobe.
package deploy
