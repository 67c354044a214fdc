package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestResolveLinkerWins(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v0.0.1"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.time", Value: "2026-01-01T00:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	got := resolve("v1.2.3", "deadbeef", "2026-12-07T00:00:00Z", bi, true)
	want := Info{Version: "v1.2.3", Commit: "deadbeef", Date: "2026-12-07T00:00:00Z", GoVersion: "go1.99"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	got = resolve("", "", "", bi, true)
	want = Info{Version: "v0.0.1", Commit: "abc-dirty", Date: "2026-01-01T00:00:00Z", GoVersion: "go1.99"}
	if got != want {
		t.Fatalf("from the toolchain: got %+v, want %+v", got, want)
	}
	got = resolve("", "", "", nil, false)
	if got.Version != unknown || got.Commit != unknown || got.Date != unknown || got.GoVersion == unknown {
		t.Fatalf("nothing recorded: got %+v", got)
	}
}

func TestCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	i := Get()
	if len(mfs) != 1 || mfs[0].GetName() != "gustosync_build_info" || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v", mfs)
	}
	m := mfs[0].GetMetric()[0]
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	if m.GetGauge().GetValue() != 1 || got["version"] != i.Version || got["commit"] != i.Commit || got["goversion"] != i.GoVersion || len(got) != 3 {
		t.Fatalf("build_info %v = %v, want 1 with %+v", got, m.GetGauge().GetValue(), i)
	}
	if !strings.HasPrefix(Line("worker"), "worker "+i.Version+" (commit ") {
		t.Fatalf("Line: %q", Line("worker"))
	}
}
