package collectorup

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestUpAndErrors(t *testing.T) {
	d := prometheus.NewDesc("gustosync_test_value", "test", nil, nil)
	fail := false
	c := New("test", []*prometheus.Desc{d}, func(context.Context) ([]prometheus.Metric, error) {
		if fail {
			return nil, errors.New("connection refused")
		}
		return []prometheus.Metric{prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 7)}, nil
	}, Options{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	values := func() map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("gather: %v", err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				out[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
		return out
	}
	if v := values(); v["gustosync_test_value"] != 7 || v["gustosync_collector_up"] != 1 || v["gustosync_collector_errors_total"] != 0 {
		t.Fatalf("healthy read: %v", v)
	}
	fail = true
	v := values()
	if _, ok := v["gustosync_test_value"]; ok || v["gustosync_collector_up"] != 0 || v["gustosync_collector_errors_total"] != 1 {
		t.Fatalf("failed read: %v", v)
	}
}
