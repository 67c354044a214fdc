package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// queueCollector exports asynq's queue state on every scrape, under the
// metric names of asynq's x/metrics collector (that module is not
// versioned, so this is a small copy over the Inspector): tasks per queue
// and state, queue size, latency, memory, processed and failed totals,
// paused. A scrape that cannot reach Redis exports nothing and counts the
// failure in asynq_queue_collect_errors_total. NewMetrics registers it.
type queueCollector struct {
	inspector *asynq.Inspector
	errors    prometheus.Counter
}

var (
	queueTasksDesc     = prometheus.NewDesc("asynq_tasks_enqueued_total", "Tasks in the queue, by state.", []string{"queue", "state"}, nil)
	queueSizeDesc      = prometheus.NewDesc("asynq_queue_size", "Tasks in the queue, every state.", []string{"queue"}, nil)
	queueLatencyDesc   = prometheus.NewDesc("asynq_queue_latency_seconds", "Age of the oldest pending task.", []string{"queue"}, nil)
	queueMemoryDesc    = prometheus.NewDesc("asynq_queue_memory_usage_approx_bytes", "Approximate Redis memory used by the queue.", []string{"queue"}, nil)
	queueProcessedDesc = prometheus.NewDesc("asynq_tasks_processed_total", "Tasks processed (succeeded or failed).", []string{"queue"}, nil)
	queueFailedDesc    = prometheus.NewDesc("asynq_tasks_failed_total", "Tasks that failed.", []string{"queue"}, nil)
	queuePausedDesc    = prometheus.NewDesc("asynq_queue_paused_total", "1 when the queue is paused.", []string{"queue"}, nil)
)

func newQueueCollector(inspector *asynq.Inspector) *queueCollector {
	return &queueCollector{inspector: inspector, errors: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "asynq_queue_collect_errors_total",
		Help: "Scrapes that could not read asynq's queues from Redis.",
	})}
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueTasksDesc, queueSizeDesc, queueLatencyDesc, queueMemoryDesc, queueProcessedDesc, queueFailedDesc, queuePausedDesc} {
		ch <- d
	}
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	defer c.errors.Collect(ch)
	queues, err := c.inspector.Queues()
	if err != nil {
		c.errors.Inc()
		return
	}
	for _, q := range queues {
		info, err := c.inspector.GetQueueInfo(q)
		if err != nil {
			c.errors.Inc()
			continue
		}
		for state, n := range map[string]int{
			"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled, "retry": info.Retry,
			"archived": info.Archived, "completed": info.Completed, "aggregating": info.Aggregating,
		} {
			ch <- prometheus.MustNewConstMetric(queueTasksDesc, prometheus.GaugeValue, float64(n), q, state)
		}
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(queueSizeDesc, prometheus.GaugeValue, float64(info.Size), q)
		ch <- prometheus.MustNewConstMetric(queueLatencyDesc, prometheus.GaugeValue, info.Latency.Seconds(), q)
		ch <- prometheus.MustNewConstMetric(queueMemoryDesc, prometheus.GaugeValue, float64(info.MemoryUsage), q)
		ch <- prometheus.MustNewConstMetric(queueProcessedDesc, prometheus.CounterValue, float64(info.ProcessedTotal), q)
		ch <- prometheus.MustNewConstMetric(queueFailedDesc, prometheus.CounterValue, float64(info.FailedTotal), q)
		ch <- prometheus.MustNewConstMetric(queuePausedDesc, prometheus.GaugeValue, paused, q)
	}
}

// AsynqLogger adapts log for asynq's Logger; asynq's messages become JSON
// log lines with component=asynq. Fatal logs at error level and exits 1, as
// asynq expects.
func AsynqLogger(log *slog.Logger) asynq.Logger {
	return asynqLogger{log.With(slog.String("component", "asynq"))}
}

type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Log(context.Background(), slog.LevelError, fmt.Sprint(args...), slog.Bool("fatal", true))
	os.Exit(1)
}
