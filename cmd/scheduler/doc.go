// Command scheduler enqueues a sync:company task for every company that is
// due, on every tick, until stopped; with ALERT_WEBHOOK_URL set it also
// delivers the alert outbox (one signed event per company entering
// needs_reauth). Run as many replicas as you like: each company gets one
// task per window.
//
//	scheduler                          run until SIGINT/SIGTERM
//	scheduler enqueue --company UUID   enqueue one company now and exit
//	scheduler enqueue --all            enqueue every active company now and exit
//
// Configuration is read from the environment: DATABASE_URL, REDIS_URL,
// SCHEDULER_TICK, SYNC_INTERVAL, SYNC_JITTER, HTTP_ADDR (/healthz,
// /readyz and /metrics; on a schema older than its own it is not ready and
// runs nothing until the migrations have run), ALERT_WEBHOOK_URL, ALERT_WEBHOOK_SECRET, LOG_LEVEL. Exit status:
// 0 success, 1 failure, 2 bad input (a one-line reason on stderr).
package main
