package gusto

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// invalidating is a TokenSource whose tokens a 401 invalidates.
type invalidating struct{ n atomic.Int32 }

func (s *invalidating) AccessToken(context.Context, string) (string, error) { return "tok", nil }
func (s *invalidating) Invalidate(context.Context, string, string) error {
	s.n.Add(1)
	return nil
}

// TestMetricsByRouteTemplate: requests are counted under their path
// template (never the company's uuid), by status class, with 401s, 429s
// and the client's own retry.
func TestMetricsByRouteTemplate(t *testing.T) {
	const company = "7b0a4c1e-64b4-4a7e-8d3f-3d3f6c1b2a90"
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusUnauthorized)
		case 2:
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, h, func(o *Options) { o.Metrics = m })
	src := &invalidating{}
	if _, err := c.Company(context.Background(), src, company); err == nil {
		t.Fatal("401 then 429: want an error")
	}
	if _, err := c.Company(context.Background(), src, company); err == nil {
		t.Fatal("502: want an error")
	}
	dead := newTestClient(t, h, func(o *Options) { o.Metrics = m; o.BaseURL = "http://127.0.0.1:1" })
	if _, err := dead.Company(context.Background(), src, company); err == nil {
		t.Fatal("no server: want an error")
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				if strings.Contains(l.GetValue(), company) {
					t.Errorf("%s carries the company uuid: %v", mf.GetName(), s.GetLabel())
				}
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := s.GetCounter().GetValue()
			if s.GetHistogram() != nil {
				v = float64(s.GetHistogram().GetSampleCount())
			}
			got[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	const route = "route=/v1/companies/{company_id}"
	want := map[string]float64{
		"gustosync_gusto_requests_total{method=GET," + route + ",status_class=4xx}":   2,
		"gustosync_gusto_requests_total{method=GET," + route + ",status_class=5xx}":   1,
		"gustosync_gusto_requests_total{method=GET," + route + ",status_class=error}": 1,
		"gustosync_gusto_request_duration_seconds{method=GET," + route + "}":          4,
		"gustosync_gusto_unauthorized_total{" + route + "}":                           1,
		"gustosync_gusto_rate_limited_total{" + route + "}":                           1,
		"gustosync_gusto_retries_total{reason=unauthorized," + route + "}":            1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if src.n.Load() != 1 {
		t.Errorf("invalidated %d times, want 1", src.n.Load())
	}
}
