package membudget

import (
	"context"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// heapLive is the runtime metric of the heap marked live by the last GC.
const heapLive = "/gc/heap/live:bytes"

// HeapPeak tracks the largest live heap of this process, sampled from
// runtime/metrics (/gc/heap/live:bytes, updated at the end of each GC).
// It is safe for concurrent use.
type HeapPeak struct{ peak atomic.Uint64 }

// Sample reads the live heap now, keeps the peak, and returns the reading.
func (h *HeapPeak) Sample() uint64 {
	s := []metrics.Sample{{Name: heapLive}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	v := s[0].Value.Uint64()
	for {
		p := h.peak.Load()
		if v <= p || h.peak.CompareAndSwap(p, v) {
			return v
		}
	}
}

// Peak returns the largest live heap sampled.
func (h *HeapPeak) Peak() uint64 { return h.peak.Load() }

// Run samples every interval until ctx ends.
func (h *HeapPeak) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		h.Sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Register exports b and h on reg: gustosync_page_budget_bytes, _in_use_bytes,
// _peak_bytes, _waits_total, _full_total, and gustosync_heap_live_bytes and
// gustosync_heap_live_peak_bytes (the process's live heap and its sampled
// peak, to compare with the budget).
func Register(reg prometheus.Registerer, b *Budget, h *HeapPeak) error {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	for _, c := range []prometheus.Collector{
		gauge("gustosync_page_budget_bytes", "The worker's budget of page bytes held at once (WORKER_PAGE_BYTES_BUDGET).", func() float64 { return float64(b.Size()) }),
		gauge("gustosync_page_budget_in_use_bytes", "Page bytes reserved now, read and not yet committed.", func() float64 { return float64(b.InUse()) }),
		gauge("gustosync_page_budget_peak_bytes", "The most page bytes ever reserved at once.", func() float64 { return float64(b.Peak()) }),
		counter("gustosync_page_budget_waits_total", "Page reservations that waited for the budget.", func() float64 { return float64(b.Waits()) }),
		counter("gustosync_page_budget_full_total", "Page reservations refused because the budget was full (the sync committed early).", func() float64 { return float64(b.Full()) }),
		gauge("gustosync_heap_live_bytes", "The live heap after the last GC (runtime/metrics /gc/heap/live:bytes).", func() float64 { return float64(h.Sample()) }),
		gauge("gustosync_heap_live_peak_bytes", "The largest live heap sampled since start.", func() float64 { return float64(h.Peak()) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
