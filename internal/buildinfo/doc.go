// Package buildinfo says which build of gustosync is running: the version,
// the commit and the build date, set at link time with
//
//	go build -ldflags "-X github.com/gustosync/gustosync/internal/buildinfo.Version=v1.2.3 \
//	  -X github.com/gustosync/gustosync/internal/buildinfo.Commit=$(git rev-parse HEAD) \
//	  -X github.com/gustosync/gustosync/internal/buildinfo.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
//
// and, for what the linker did not set, read from the Go toolchain's own
// record (runtime/debug.ReadBuildInfo: the module version, vcs.revision and
// vcs.time). It owns the --version line of every binary and the
// gustosync_build_info gauge; it never reads anything at run time beyond
// the binary itself.
package buildinfo
