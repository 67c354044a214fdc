// Command worker runs gustosync's sync jobs: an asynq server over the
// sync:company task (internal/jobs), wired to the token manager, the Gusto
// client, the per-grant rate limiter shared through Redis and the
// checkpoint store in PostgreSQL.
//
//	worker            run until SIGTERM or SIGINT
//	worker --help     print the configuration it reads
//
// It serves /healthz (the process is up), /readyz (Redis and PostgreSQL
// answer, the database schema holds every migration this binary embeds,
// and the worker is not shutting down) and /metrics (Prometheus:
// sync metrics, asynq queues, token manager, Go runtime) on HTTP_ADDR, and
// logs JSON lines to stdout.
//
// Started on an older schema it takes no task until the migrations have
// run (it looks again every 2 s; docs/upgrading.md).
//
// On SIGTERM it stops taking tasks, lets every running sync commit the
// batch it has fetched with its checkpoint, and exits within
// WORKER_SHUTDOWN_TIMEOUT; the runs resume from their checkpoints on
// another worker. Exit status: 0 after a clean stop, 1 on a failure at
// start-up, 2 on bad configuration (one line on stderr naming the variable).
package main
