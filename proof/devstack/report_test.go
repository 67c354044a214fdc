package devstack

import (
	"strings"
	"testing"
	"time"
)

func TestReportWrite(t *testing.T) {
	var r Report
	r.Title = "chaos"
	r.Check("correctness", "rows equal the simulator's", true, "100/100 companies", "all")
	r.Check("correctness", "401s on data calls", false, "2", "0", "company a: 2 (worker-1)")
	r.Info("load", "kills", "17", "")
	r.Check("correctness", "late line", true, "1", "") // joins its section
	r.Note("logs: %s", "/tmp/run")
	var b strings.Builder
	r.Write(&b)
	out := b.String()
	for _, want := range []string{
		"chaos\n=====\n",
		"\ncorrectness\n",
		"  ok    rows equal the simulator's  100/100 companies  all\n",
		"  FAIL  401s on data calls          2                  0\n          - company a: 2 (worker-1)\n",
		"  ok    late line                   1\n\nload\n        kills                       17\n",
		"\nlogs: /tmp/run\n",
		"\nFAIL: 1 of 3 checks failed\n",
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

func TestExpiryWindowsAndLatencies(t *testing.T) {
	if p := RefreshPeriod(30*time.Second, 5*time.Minute); p != 21*time.Second {
		t.Fatalf("period of a 30 s token = %s, want 21s", p)
	}
	if p := RefreshPeriod(7200*time.Second, 5*time.Minute); p != 6840*time.Second {
		t.Fatalf("period of a 2 h token = %s, want 6840s", p)
	}
	t0 := time.Unix(1000, 0)
	if n := ExpiryWindows(t0, t0.Add(41*time.Second), 21*time.Second); n != 2 {
		t.Fatalf("windows in 41 s of 21 s periods = %d, want 2 (a refresh may come a second early)", n)
	}
	if n := ExpiryWindows(t0, t0.Add(-time.Second), 21*time.Second); n != 0 {
		t.Fatalf("negative span gave %d windows", n)
	}
	issued := []IssuedPair{
		{Company: "a", Client: "w1", At: t0.Add(2 * time.Second)},
		{Company: "a", Client: "w1", At: t0},
		{Company: "a", Client: "w2", At: t0.Add(time.Second)},
	}
	commits := []RefreshCommit{
		{Company: "a", Worker: "w1", FinishedAt: t0.Add(2*time.Second + 3*time.Millisecond)},
		{Company: "a", Worker: "w1", FinishedAt: t0.Add(time.Millisecond)},
		{Company: "a", Worker: "w3", FinishedAt: t0.Add(time.Second)}, // no pair: left out
	}
	lat := CommitLatencies(issued, commits)
	if len(lat) != 2 || lat[0] != time.Millisecond || lat[1] != 3*time.Millisecond {
		t.Fatalf("latencies %v", lat)
	}
	if Quantile(lat, 1) != 3*time.Millisecond || Quantile(nil, 0.5) != 0 {
		t.Fatal("Quantile")
	}
}
