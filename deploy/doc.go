// Package deploy checks gustosync's packaging against the code, without a
// cluster or a Docker engine: the Dockerfile, docker-compose.yml with its
// .env.example, the kustomize tree under k8s/ and docs/deploy.md.
//
// It has no library code; its tests are the point. They derive what each
// binary reads from the env tags of the config structs (internal/config),
// so they stay true as the structs grow, and they fail, never skip, when a
// tool they need (go, kubectl) is missing. The image's health-check helper
// lives beside them in cmd/httpprobe.
package deploy
