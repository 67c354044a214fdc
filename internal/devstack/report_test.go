package devstack

import (
	"strings"
	"testing"
)

func TestReportWrite(t *testing.T) {
	var r Report
	r.Title = "chaos"
	r.Check("correctness", "rows equal the simulator's", true, "100/100 companies", "all")
	r.Check("correctness", "401s on data calls", false, "2", "0", "company a: 2 (worker-1)")
	r.Info("load", "kills", "17", "")
	r.Note("logs: %s", "/tmp/run")
	var b strings.Builder
	r.Write(&b)
	out := b.String()
	for _, want := range []string{
		"chaos\n=====\n",
		"\ncorrectness\n",
		"  ok    rows equal the simulator's  100/100 companies  all\n",
		"  FAIL  401s on data calls          2                  0\n          - company a: 2 (worker-1)\n",
		"\nload\n        kills                       17\n",
		"\nlogs: /tmp/run\n",
		"\nFAIL: 1 of 2 checks failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("report lacks %q:\n%s", want, out)
		}
	}
	if f := r.Failures(); len(f) != 1 || f[0].Name != "401s on data calls" {
		t.Fatalf("failures %+v", f)
	}

	var ok Report
	ok.Check("", "x", true, "1", "1")
	b.Reset()
	ok.Write(&b)
	if !strings.HasSuffix(b.String(), "\nPASS: 1 checks\n") {
		t.Fatalf("passing report:\n%s", b.String())
	}
	if got := Firsts([]int{1, 2, 3}, 2, func(i int) string { return strings.Repeat("x", i) }); strings.Join(got, ",") != "x,xx,… and 1 more" {
		t.Fatalf("Firsts = %v", got)
	}
}
