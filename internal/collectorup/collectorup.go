package collectorup

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReadFunc reads the outside system within ctx and returns the metrics to
// export, or an error. It must be safe for concurrent use (scrapes can
// overlap).
type ReadFunc func(ctx context.Context) ([]prometheus.Metric, error)

// Collector is a prometheus.Collector over a ReadFunc. Make it with New.
type Collector struct {
	name    string
	descs   []*prometheus.Desc
	read    ReadFunc
	timeout time.Duration
	log     *slog.Logger
	up      *prometheus.Desc
	errors  prometheus.Counter
}

// Options are New's optional settings; the zero value is valid.
type Options struct {
	// Timeout bounds one read. Default 5 s.
	Timeout time.Duration
	// Logger receives a warning per failed read (the error names what
	// failed, never a credential: pool errors are redacted by the driver).
	// Default: discard.
	Logger *slog.Logger
}

// New wraps read. name is the collector label value (a constant, e.g.
// "token_companies"); descs are the descriptions of what read exports.
func New(name string, descs []*prometheus.Desc, read ReadFunc, o Options) *Collector {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Collector{
		name: name, descs: descs, read: read, timeout: o.Timeout, log: o.Logger,
		up: prometheus.NewDesc("gustosync_collector_up",
			"1 when the collector's last read of its outside system (PostgreSQL) succeeded, 0 when it failed (its metrics are then absent).",
			nil, prometheus.Labels{"collector": name}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "gustosync_collector_errors_total",
			Help:        "Reads of a collector's outside system (PostgreSQL) that failed during a scrape.",
			ConstLabels: prometheus.Labels{"collector": name},
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- c.up
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector: the metrics of a successful
// read and up=1, or up=0 and one more error.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ms, err := c.read(ctx)
	up := 1.0
	if err != nil {
		up = 0
		c.errors.Inc()
		c.log.Warn("metrics collector could not read", slog.String("collector", c.name), slog.String("error", err.Error()))
	} else {
		for _, m := range ms {
			ch <- m
		}
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	c.errors.Collect(ch)
}
