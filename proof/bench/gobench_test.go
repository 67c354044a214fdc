package main

import "testing"

func TestParseGoBench(t *testing.T) {
	out := []byte(`goos: linux
goarch: amd64
pkg: github.com/gustosync/gustosync/internal/tokens
cpu: AMD EPYC
BenchmarkAccessToken/fast-2         	 5235466	       228.3 ns/op	         0 refreshes/op	      0 B/op	       0 allocs/op
BenchmarkAccessToken/slow-read-2    	    2013	    590123 ns/op	         0 refreshes/op
BenchmarkTick10k/workers=8-2        	       1	1234567890 ns/op	  8100 companies/s	  9500 raw-enqueues/s	 0.8526 ratio-to-raw
BenchmarkBroken-2 	 12 	 abc ns/op
--- FAIL: something
PASS
ok  	github.com/gustosync/gustosync/internal/tokens	12.3s
`)
	res := parseGoBench(out)
	if len(res) != 3 {
		t.Fatalf("parsed %+v", res)
	}
	fast, ok := find(res, "BenchmarkAccessToken/fast")
	if !ok || fast.N != 5235466 || fast.Metrics["ns/op"] != 228.3 || fast.Metrics["allocs/op"] != 0 {
		t.Fatalf("fast = %+v", fast)
	}
	tick, ok := find(res, "BenchmarkTick10k/workers=8")
	if !ok || tick.Metrics["ratio-to-raw"] != 0.8526 || tick.Metrics["companies/s"] != 8100 {
		t.Fatalf("tick = %+v", tick)
	}
	if trimProcs("BenchmarkX/a-b") != "BenchmarkX/a-b" || trimProcs("BenchmarkX-16") != "BenchmarkX" {
		t.Fatal("trimProcs")
	}
}
