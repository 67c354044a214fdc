package tokens

import (
	"context"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// BenchmarkAccessToken measures AccessToken on its three paths:
//
//	fast          a fresh token from the in-process cache (no I/O)
//	fast-parallel the same from every core at once
//	slow-read     cache dropped before each call: one PostgreSQL read and decrypt
//	slow-refresh  token expired before each call: lock, re-read, refresh at
//	              the simulator, compare-and-swap commit
//
// Besides ns/op and allocs/op it reports refreshes/op (token requests that
// reached the simulator per call), which must be 0 on the fast paths.
func BenchmarkAccessToken(b *testing.B) {
	e := newEnv(b, gustosim.Config{TokenLifetime: time.Hour, RateLimit: -1}, nil)
	co := e.addCompany()
	m, rec, _ := e.manager("bench", nil)
	ctx := context.Background()
	if _, err := m.AccessToken(ctx, co); err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, before int64) {
		b.ReportMetric(float64(rec.calls.Load()-before)/float64(b.N), "refreshes/op")
	}

	b.Run("fast", func(b *testing.B) {
		before := rec.calls.Load()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.AccessToken(ctx, co); err != nil {
				b.Fatal(err)
			}
		}
		report(b, before)
	})
	b.Run("fast-parallel", func(b *testing.B) {
		before := rec.calls.Load()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := m.AccessToken(ctx, co); err != nil {
					b.Fatal(err)
				}
			}
		})
		report(b, before)
	})
	b.Run("slow-read", func(b *testing.B) {
		before := rec.calls.Load()
		b.ReportAllocs()
		for b.Loop() {
			m.forget(co, "")
			if _, err := m.AccessToken(ctx, co); err != nil {
				b.Fatal(err)
			}
		}
		report(b, before)
	})
	b.Run("slow-refresh", func(b *testing.B) {
		before := rec.calls.Load()
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			m.forget(co, "")
			e.expire(co)
			b.StartTimer()
			if _, err := m.AccessToken(ctx, co); err != nil {
				b.Fatal(err)
			}
		}
		report(b, before)
	})
}
