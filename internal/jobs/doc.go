// Package jobs runs gustosync's sync jobs on asynq: the task type
// sync:company (payload: a company uuid and a run id, never a secret), its
// handler, and the retry policy that asynq applies to it.
//
// A sync walks one company's resources (company, employees, payrolls) page
// by page and commits every batch with its checkpoint through package
// checkpoint, so memory stays at one batch whatever the company's size and a
// retried run resumes where its last batch committed. Before every request
// the Gusto client asks the token manager for a token and waits on the
// per-grant rate limiter shared through Redis.
//
// Errors are mapped once, in Handler.ProcessTask (outcome.go):
//   - a malformed payload is archived at once (asynq.SkipRetry);
//   - a company that needs a person (revoked grant, missing scope, paused,
//     no tokens) ends the task without retries, left needs_reauth where the
//     grant or a scope is at fault;
//   - transient failures (429, 5xx, timeouts) are retried inside the
//     attempt with backoff (honouring Retry-After), and hand the task back
//     to asynq when they persist, with a delay, counted against the task
//     only when the attempt made no progress;
//   - an attempt fenced by a newer one (a zombie whose run was taken over
//     or re-claimed) stops quietly;
//   - a run that finds another run of the company live is coalesced into it
//     and ends (nothing fetched); a run that finds an unfinished one
//     continues from its checkpoints (package checkpoint);
//   - a task whose run another attempt is driving (asynq recovering a task
//     that was re-driven meanwhile, RedriveTask) waits, uncounted, and ends
//     once the run has.
//
// The package knows asynq, and nothing of HTTP serving or process wiring
// (cmd/worker). It must never put a token in a payload, a log line or an
// error.
package jobs
