// Package jobs runs gustosync's sync jobs on asynq: the task type
// sync:company (payload: a company uuid and a run id, never a secret), its
// handler, and the retry policy that asynq applies to it.
//
// A sync walks one company's resources page by page and commits every batch
// with its checkpoint through package checkpoint, so memory stays at one
// batch whatever the company's size and a retried run resumes where its
// last batch committed. Before every request the Gusto client asks the
// token manager for a token and waits on the per-grant rate limiter shared
// through Redis.
//
// # One descriptor, one walk
//
// What is synced is listed in one file, resources.go: each resource is a
// Resource descriptor (its checkpoint.Table, the OAuth scope it needs, its
// Fetch, a WindowPolicy for date windows, a Parent for a substream walked
// once per parent record, and what an incremental run does with it).
// Config.Resources selects them (SYNC_RESOURCES, ParseSelection: names,
// "?" for optional; an optional resource whose scope the grant lacks is
// skipped with a note on the run, never marking the company). One walk
// (walk.go) goes through every one the same way: BeginWalk from the first
// page, pages committed in batches with their cursor and the page walk's
// header state (gusto.WalkState), any mismatch voiding the walk, windows
// and parents recorded in the batch that completes them, and a full run
// reconciled by CompleteFull over the resources it walked. Payroll windows
// are windows.go's.
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
// # Employees on Gusto's word
//
// Gusto documents no updated-since filter on GET
// /v1/companies/{id}/employees, so a sync reads every employee or none. A
// full run always reads them. An incremental run skips them (invariant 27,
// syncRun.skipEmployees) only when, on PostgreSQL's clock:
//
//  1. the company has a complete employees read, begun less than
//     Config.EmployeesMaxAge ago (SYNC_EMPLOYEES_MAX_AGE, 24h): the safety
//     net for changes Gusto sends no event for (a compensation reaching its
//     effective date, a department renamed, an event lost to Gusto's own
//     faults);
//  2. the events feed is healthy: its last complete poll (one that read
//     GET /v1/events to its end) began less than SYNC_EVENTS_FEED_STALE
//     ago, so every event Gusto listed before then is in gusto_events;
//  3. no employee event (gustoevents.EmployeeEventPrefixes), nor a
//     reconnection (company.provisioned: while the grant was gone Gusto
//     listed nothing of the company for us), about the company was
//     recorded (gusto_events.claimed_at) after the read began, less a
//     margin (gustoevents.DefaultEventMargin, 2 min).
//
// A read's time is its start, taken before its first page was requested
// (checkpoint.Attempt.BeginWalk): a change made while the walk ran may be
// missing from the pages already read, and its event, recorded after that
// time, forces the next read. A walk that ends with a page disagreeing
// with Gusto's pagination headers is no read (checkpoint.Attempt.VoidWalk).
//
// Why late events are safe, and what the margin is for. An event is
// compared by when we recorded it (C), never by Gusto's timestamp, so the
// two clocks never meet; a read begun at S is taken to cover the event only
// when C < S - margin. A change made at T is missed only by reads that
// began before it was visible in Gusto's list, and its event is recorded at
// C >= T. An event arriving late (webhook retries over hours, the feed
// polled every 30 s, a feed outage drained when it recovers) has a later C:
// it can only force one read more, never hide one, and until it arrives the
// change is as unknown as it was before events existed; it is read by the
// sync the event itself starts (package gustoevents) or at the max age.
// While the feed is stale nothing is skipped (2), so the feed's lag only
// delays, by at most SYNC_EVENTS_FEED_STALE. What lateness cannot cover is
// the other order: Gusto emitting the event before the change is visible
// in its list (a replica behind its primary), the event recorded before a
// read that then misses the change. The margin covers that: an event
// recorded up to 2 min before a read began still forces the next read, far
// more than such lags (seconds) and a small part of an hourly interval.
// Its price: the sync an event starts (seconds after the event) is always
// followed by one more read, at the next hourly sync.
//
// Payroll windows are not reduced the same way: payroll.* events announce
// a payroll created, updated, processed or cancelled, but an unprocessed
// payroll in the incremental range also changes with no payroll event (its
// totals and employee compensations follow employee and compensation
// changes, its deadline fields follow the calendar), and Gusto documents
// nothing that would say when. So an incremental run still reads the
// recent payroll window every time; it is one request for most companies.
//
// The package knows asynq, and nothing of HTTP serving or process wiring
// (cmd/worker). It must never put a token in a payload, a log line or an
// error.
package jobs
