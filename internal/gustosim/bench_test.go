package gustosim_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
)

// Benchmarks print throughput figures; nothing here is an assertion on time.

func benchEnv(b *testing.B) *env {
	b.Helper()
	clock := newFakeClock()
	cfg := baseConfig(clock)
	cfg.RateLimit = -1
	sim, err := gustosim.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	e := &env{sim: sim, clock: clock}
	return e
}

// BenchmarkEmployeesPageHandler measures the handler alone (no network):
// pages of 100 employees from a 200k-employee company.
func BenchmarkEmployeesPageHandler(b *testing.B) {
	e := benchEnv(b)
	g, err := e.sim.CreateCompany(gustosim.CompanyOptions{Employees: 200_000, Payrolls: 0})
	if err != nil {
		b.Fatal(err)
	}
	var page atomic.Int64
	var bytes atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := page.Add(1)%2000 + 1
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("/v1/companies/%s/employees?page=%d&per=100", g.CompanyUUID, p), nil)
			req.Header.Set("Authorization", "Bearer "+g.Token.AccessToken)
			w := &discardWriter{h: http.Header{}}
			e.sim.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
			bytes.Add(w.n)
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(bytes.Load())/float64(b.N*100), "bytes/record")
}

// BenchmarkEmployeesOverHTTP walks pages through the real client and a
// loopback server, several walkers at once.
func BenchmarkEmployeesOverHTTP(b *testing.B) {
	e := benchEnv(b)
	srvEnv := newServer(b, e.sim)
	g, err := e.sim.CreateCompany(gustosim.CompanyOptions{Employees: 200_000, Payrolls: 0})
	if err != nil {
		b.Fatal(err)
	}
	c, err := gusto.New(gusto.Options{BaseURL: srvEnv})
	if err != nil {
		b.Fatal(err)
	}
	var page atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := int(page.Add(1)%2000) + 1
			for pg, err := range c.Employees(context.Background(), gusto.StaticToken(g.Token.AccessToken), g.CompanyUUID, gusto.PageOptions{Page: p, Per: 100}) {
				if err != nil || len(pg.Items) != 100 {
					b.Fatalf("page %d: %v", p, err)
				}
				break
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkEmployeesRawHTTP is the server over loopback HTTP, bodies
// discarded (no client-side decoding).
func BenchmarkEmployeesRawHTTP(b *testing.B) {
	e := benchEnv(b)
	base := newServer(b, e.sim)
	g, err := e.sim.CreateCompany(gustosim.CompanyOptions{Employees: 200_000, Payrolls: 0})
	if err != nil {
		b.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	hc := &http.Client{Transport: tr}
	var page atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := page.Add(1)%2000 + 1
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/v1/companies/%s/employees?page=%d&per=100", base, g.CompanyUUID, p), nil)
			req.Header.Set("Authorization", "Bearer "+g.Token.AccessToken)
			res, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkTokenInfoRawHTTP is the cheapest authenticated API call over
// loopback HTTP: the request-rate ceiling.
func BenchmarkTokenInfoRawHTTP(b *testing.B) {
	e := benchEnv(b)
	base := newServer(b, e.sim)
	g, err := e.sim.CreateCompany(gustosim.CompanyOptions{Employees: 0, Payrolls: 0})
	if err != nil {
		b.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	hc := &http.Client{Transport: tr}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, base+"/v1/token_info", nil)
			req.Header.Set("Authorization", "Bearer "+g.Token.AccessToken)
			res, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// BenchmarkRefresh measures refreshes over HTTP, one chain per goroutine.
func BenchmarkRefresh(b *testing.B) {
	e := benchEnv(b)
	base := newServer(b, e.sim)
	c, err := gusto.New(gusto.Options{BaseURL: base, ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g, err := e.sim.CreateCompany(gustosim.CompanyOptions{Employees: 0, Payrolls: 0})
		if err != nil {
			b.Error(err)
			return
		}
		rt := g.Token.RefreshToken
		for pb.Next() {
			tok, err := c.RefreshToken(context.Background(), rt)
			if err != nil {
				b.Error(err)
				return
			}
			rt = tok.RefreshToken
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refreshes/s")
}

// newServer serves h on loopback until the benchmark ends.
func newServer(b *testing.B, h http.Handler) string {
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return srv.URL
}

type discardWriter struct {
	h      http.Header
	status int
	n      int64
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	w.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*discardWriter)(nil)
