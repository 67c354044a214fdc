// Package collectorup wraps the collectors that read an outside system
// (PostgreSQL) at scrape time, so that system being down is reported as a
// metric instead of failing the whole scrape: /metrics stays 200 and keeps
// every process metric while PostgreSQL is unreachable. Each wrapped
// collector adds
//
//	gustosync_collector_up{collector}              1 when its last read succeeded, else 0
//	gustosync_collector_errors_total{collector}    reads that failed
//
// It owns that convention only: it never retries a read, and it never
// exports part of a failed read (a half-read gauge would lie).
package collectorup
