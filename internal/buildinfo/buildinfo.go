package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Set with -ldflags "-X github.com/gustosync/gustosync/internal/buildinfo.NAME=VALUE".
// Empty means: read it from debug.ReadBuildInfo (see Get).
var (
	// Version is the release, e.g. v1.2.3.
	Version string
	// Commit is the full git commit the binary was built from.
	Commit string
	// Date is the build time, RFC 3339 in UTC.
	Date string
)

// unknown stands for a value neither the linker nor the toolchain recorded.
const unknown = "unknown"

// Info is one build's identity. Every field is set: "unknown" when nothing
// recorded it.
type Info struct {
	Version   string // Version, else the main module's version ("(devel)" for a plain go build)
	Commit    string // Commit, else vcs.revision (with "-dirty" when vcs.modified)
	Date      string // Date, else vcs.time
	GoVersion string // the toolchain that built the binary
}

var (
	once sync.Once
	info Info
)

// Get returns this binary's Info, the linker's values first. It is safe
// for concurrent use.
func Get() Info {
	once.Do(func() {
		bi, ok := debug.ReadBuildInfo()
		info = resolve(Version, Commit, Date, bi, ok)
	})
	return info
}

// resolve applies the rule of Get: a value set at link time wins, then the
// toolchain's record, then "unknown".
func resolve(version, commit, date string, bi *debug.BuildInfo, ok bool) Info {
	out := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version()}
	if ok && bi != nil {
		if bi.GoVersion != "" {
			out.GoVersion = bi.GoVersion
		}
		if out.Version == "" {
			out.Version = bi.Main.Version
		}
		var revision, modified, at string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value
			case "vcs.time":
				at = s.Value
			}
		}
		if out.Commit == "" && revision != "" {
			out.Commit = revision
			if modified == "true" {
				out.Commit += "-dirty"
			}
		}
		if out.Date == "" {
			out.Date = at
		}
	}
	for _, f := range []*string{&out.Version, &out.Commit, &out.Date, &out.GoVersion} {
		if *f == "" {
			*f = unknown
		}
	}
	return out
}

// String is the --version line: "NAME VERSION (commit COMMIT, built DATE, GOVERSION)".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, built %s, %s)", i.Version, i.Commit, i.Date, i.GoVersion)
}

// Line is what `NAME --version` prints: the binary's name and Get().
func Line(name string) string { return name + " " + Get().String() + "\n" }

// IsVersionFlag reports whether arg asks for the version: --version,
// -version or -v is not included (it often means verbose).
func IsVersionFlag(arg string) bool { return arg == "--version" || arg == "-version" }

// Collector returns the gustosync_build_info gauge: always 1, labelled
// with version, commit and goversion, so a dashboard can join any series
// to the build that produced it and a rollout shows two versions at once.
func Collector() prometheus.Collector {
	i := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "gustosync_build_info",
		Help:        "Always 1; the labels say which build is running (version, commit, goversion).",
		ConstLabels: prometheus.Labels{"version": i.Version, "commit": i.Commit, "goversion": i.GoVersion},
	})
	g.Set(1)
	return g
}
