package jobs

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/membudget"
)

// syncRun is one attempt's state: the claim, the batch being filled, and
// what the attempt has committed. Only the attempt's goroutine touches it.
type syncRun struct {
	h       *Handler
	a       *checkpoint.Attempt
	log     *slog.Logger
	tracker *tracker

	requested checkpoint.Kind // the payload's kind
	kind      checkpoint.Kind // the run's kind (fixKind, kind.go)

	rows    []checkpoint.Row // the batch being filled
	next    string           // cursor after rows
	batches int              // committed by this attempt
	records int64            // committed by this attempt
	changed int64
	notes   []string // noted on the run (sync_runs.notes) by this attempt
}

// mismatch notes a page whose item count disagrees with Gusto's pagination
// headers: every record is kept, the walk is counted and noted on the run,
// and the next run walks the resource again (an employees walk with a
// mismatch is voided, so it is no read an incremental run may skip on;
// payroll history older than the incremental range is walked again by the
// next full run). One note per resource and attempt.
//
// It fails only when the employees walk could not be voided (a database
// error): the attempt then ends before the walk can count as a read.
func (s *syncRun) mismatch(ctx context.Context, r checkpoint.Resource, what string) error {
	prefix := string(r) + ": "
	for _, n := range s.notes {
		if strings.HasPrefix(n, prefix) {
			return nil
		}
	}
	note := prefix + "pagination disagrees with Gusto's headers (" + what + "); walked again by the next run"
	s.notes = append(s.notes, note)
	s.h.cfg.Metrics.mismatch(r)
	if r == checkpoint.ResourceEmployees {
		// The walk may have missed a record: it is no read to skip on.
		if err := s.a.VoidWalk(ctx, r); err != nil {
			return err
		}
	}
	if err := s.a.Note(ctx, note); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "recording a note on the run failed", slog.String("error", err.Error()))
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "pagination disagrees with Gusto's headers; records kept, resource walked again next run",
		slog.String("resource", string(r)), slog.String("mismatch", what))
	return nil
}

// runWithHeartbeat runs the sync while a goroutine heartbeats the claim;
// when the heartbeat learns the attempt was fenced it cancels the sync with
// the *checkpoint.FencedError as cause.
func (s *syncRun) runWithHeartbeat(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(s.h.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := s.a.Heartbeat(ctx)
			var fenced *checkpoint.FencedError
			switch {
			case errors.As(err, &fenced):
				cancel(err)
				return
			case err != nil && ctx.Err() == nil:
				s.log.LogAttrs(ctx, slog.LevelWarn, "sync heartbeat failed", slog.String("error", err.Error()))
			}
		}
	}()
	graceOver := make(chan struct{})
	go func() {
		defer close(graceOver)
		select {
		case <-done:
			return
		case <-s.h.drainCh:
		}
		t := time.NewTimer(s.h.cfg.DrainGrace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			cancel(errDraining) // abandon the request still in flight
		}
	}()
	err := s.run(ctx)
	close(done)
	<-stopped
	<-graceOver
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		// The heartbeat fenced the attempt, or the drain grace ran out,
		// while a request was in flight.
		var fenced *checkpoint.FencedError
		if errors.As(cause, &fenced) || errors.Is(cause, errDraining) {
			return cause
		}
	}
	return err
}

// run walks every resource not yet done, in order, then completes a full
// run (kind.go).
func (s *syncRun) run(ctx context.Context) error {
	if err := s.fixKind(ctx); err != nil {
		return err
	}
	for _, r := range checkpoint.Resources {
		pos := s.a.Position(r)
		if pos.Done || !s.walks(r) {
			continue
		}
		if s.h.draining() {
			return errDraining
		}
		var err error
		switch r {
		case checkpoint.ResourceCompany:
			err = s.company(ctx)
		case checkpoint.ResourceEmployees:
			if s.skipEmployees(ctx, pos) {
				continue
			}
			err = s.employees(ctx, pos)
		case checkpoint.ResourcePayrolls:
			err = s.payrolls(ctx, pos)
		}
		if err != nil {
			return err
		}
	}
	return s.complete(ctx)
}

func (s *syncRun) company(ctx context.Context) error {
	var co gusto.Company
	err := s.retrying(ctx, func() error {
		var err error
		co, err = s.h.cfg.API.Company(ctx, s.h.cfg.Tokens, s.a.Company)
		return err
	})
	if err != nil {
		return err
	}
	s.rows = append(s.rows[:0], &checkpoint.CompanyRow{
		UUID: co.UUID, Name: co.Name, TradeName: co.TradeName, CompanyStatus: co.CompanyStatus, Payload: co.Raw,
	})
	s.next = ""
	return s.commit(ctx, checkpoint.ResourceCompany, true)
}

func (s *syncRun) employees(ctx context.Context, pos checkpoint.Position) error {
	start := 1
	if pos.Cursor != "" {
		n, err := strconv.Atoi(pos.Cursor)
		if err != nil || n < 1 {
			s.log.LogAttrs(ctx, slog.LevelWarn, "unreadable employees cursor; starting over", slog.String("cursor", pos.Cursor))
		} else {
			start = n
		}
	}
	if start == 1 {
		// The walk counts as a read of the company's employees from now
		// (checkpoint reads.go), before the first page is requested.
		if err := s.a.BeginWalk(ctx, checkpoint.ResourceEmployees); err != nil {
			return err
		}
	}
	fetch := func(ctx context.Context, page int) iter.Seq2[gusto.Page[gusto.Employee], error] {
		return s.h.cfg.API.Employees(ctx, s.h.cfg.Tokens, s.a.Company, gusto.PageOptions{Page: page, Per: s.h.cfg.PageSize})
	}
	toRow := func(e *gusto.Employee) checkpoint.Row {
		return &checkpoint.EmployeeRow{UUID: e.UUID, FirstName: e.FirstName, LastName: e.LastName, Email: e.Email,
			Terminated: e.Terminated, Version: e.Version, Payload: e.Raw}
	}
	if err := walk(ctx, s, checkpoint.ResourceEmployees, start, fetch, toRow, strconv.Itoa); err != nil {
		return err
	}
	return s.commit(ctx, checkpoint.ResourceEmployees, true)
}

// payrolls walks the payroll history (a full run) or the recent payrolls
// (an incremental run; payrollStart) in overlapping windows (windows.go),
// every processing status and payroll type, ascending. The cursor is
// "<window start>/<next page>".
func (s *syncRun) payrolls(ctx context.Context, pos checkpoint.Position) error {
	today := s.h.now().UTC()
	horizon := payrollHorizon(today)
	from := s.payrollStart(today)
	page := 1
	if pos.Cursor != "" {
		w, p, ok := parsePayrollCursor(pos.Cursor)
		if !ok {
			s.log.LogAttrs(ctx, slog.LevelWarn, "unreadable payrolls cursor; starting over", slog.String("cursor", pos.Cursor))
		} else {
			from, page = w, p
		}
	}
	for start := from; ; {
		w, last := windowAt(start, horizon)
		opts := gusto.PayrollOptions{
			StartDate:          w.Start.Format(time.DateOnly),
			EndDate:            w.End.Format(time.DateOnly),
			ProcessingStatuses: []string{"processed", "unprocessed"},
			PayrollTypes:       []string{"regular", "off_cycle", "external"},
			Include:            []string{"totals"},
			SortOrder:          "asc",
		}
		fetch := func(ctx context.Context, page int) iter.Seq2[gusto.Page[gusto.Payroll], error] {
			o := opts
			o.PageOptions = gusto.PageOptions{Page: page, Per: s.h.cfg.PageSize}
			return s.h.cfg.API.Payrolls(ctx, s.h.cfg.Tokens, s.a.Company, o)
		}
		toRow := func(p *gusto.Payroll) checkpoint.Row {
			return &checkpoint.PayrollRow{UUID: p.UUID, CheckDate: p.CheckDate, Processed: p.Processed, OffCycle: p.OffCycle,
				PayPeriodStart: p.PayPeriod.StartDate, PayPeriodEnd: p.PayPeriod.EndDate, Payload: p.Raw}
		}
		window := opts.StartDate
		cursor := func(page int) string { return window + "/" + strconv.Itoa(page) }
		if err := walk(ctx, s, checkpoint.ResourcePayrolls, page, fetch, toRow, cursor); err != nil {
			return err
		}
		if last {
			break
		}
		start, page = nextWindowStart(w), 1
		s.next = start.Format(time.DateOnly) + "/1"
		if len(s.rows) >= s.h.cfg.BatchSize {
			if err := s.commit(ctx, checkpoint.ResourcePayrolls, false); err != nil {
				return err
			}
		}
		if s.h.draining() {
			if err := s.commitPartial(ctx, checkpoint.ResourcePayrolls); err != nil {
				return err
			}
			return errDraining
		}
	}
	return s.commit(ctx, checkpoint.ResourcePayrolls, true)
}

func parsePayrollCursor(c string) (time.Time, int, bool) {
	d, p, ok := strings.Cut(c, "/")
	if !ok {
		return time.Time{}, 0, false
	}
	w, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return time.Time{}, 0, false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 {
		return time.Time{}, 0, false
	}
	return w, n, true
}

// walk fetches pages from start until the last one, appending their rows
// to the batch and committing whenever it holds BatchSize records (at a
// page boundary, so the checkpoint is the next page). A transient failure
// is retried from the failed page without losing the batch. When the
// worker drains, walk commits what it has and returns errDraining. It
// returns nil after the last page, leaving the tail of the batch for the
// caller to commit.
func walk[T any](ctx context.Context, s *syncRun, r checkpoint.Resource, start int,
	fetch func(context.Context, int) iter.Seq2[gusto.Page[T], error], toRow func(*T) checkpoint.Row, cursor func(int) string) error {
	page := start
	var rs retryState
	for {
		var ferr error
		for p, err := range fetch(ctx, page) {
			if err != nil {
				ferr = err
				break
			}
			rs = retryState{}
			if p.Mismatch != "" {
				if err := s.mismatch(ctx, r, p.Mismatch); err != nil {
					return err
				}
			}
			for i := range p.Items {
				s.rows = append(s.rows, toRow(&p.Items[i]))
			}
			page = p.Number + 1
			s.next = cursor(page)
			if p.Last {
				return nil
			}
			if len(s.rows) >= s.h.cfg.BatchSize {
				if err := s.commit(ctx, r, false); err != nil {
					return err
				}
			}
			if s.h.draining() {
				if err := s.commitPartial(ctx, r); err != nil {
					return err
				}
				return errDraining
			}
		}
		if ferr == nil {
			return nil
		}
		if errors.Is(ferr, membudget.ErrFull) {
			// The worker's page budget is spent: commit what this attempt
			// holds (releasing it), then read the page again.
			if err := s.commitPartial(ctx, r); err != nil {
				return err
			}
			membudget.HolderFrom(ctx).Release()
			continue
		}
		if err := s.backoff(ctx, ferr, &rs); err != nil {
			if errors.Is(err, errDraining) || errors.Is(context.Cause(ctx), errDraining) {
				// Shutting down: keep what was fetched before the failed or
				// abandoned request.
				if cerr := s.commitPartial(ctx, r); cerr != nil {
					return cerr
				}
				return errDraining
			}
			return err
		}
	}
}

// retrying calls fn until it succeeds, fails for good, or the transient
// failures run out (see backoff).
func (s *syncRun) retrying(ctx context.Context, fn func() error) error {
	var rs retryState
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if err := s.backoff(ctx, err, &rs); err != nil {
			return err
		}
	}
}

// retryState counts one request's consecutive failures: 429s that came
// with a Retry-After apart (Gusto said when to come back; they are bounded
// separately, at four times PageAttempts).
type retryState struct{ tries, waits int }

// backoff decides whether a failed request is tried again inside the
// attempt: only transient failures (429, 5xx, transport), at most
// PageAttempts times in a row (429s with a Retry-After are bounded apart),
// waiting Retry-After when Gusto sent one (up to MaxInlineWait) or
// exponential backoff with jitter. It returns nil after
// waiting, or the error that ends the attempt.
func (s *syncRun) backoff(ctx context.Context, err error, rs *retryState) error {
	if ctx.Err() != nil || !gusto.Transient(err) {
		return err
	}
	var rl *gusto.RateLimitedError
	wait := gusto.RetryAfter(err)
	if errors.As(err, &rl) && wait > 0 {
		rs.waits++
		if rs.waits > 4*s.h.cfg.PageAttempts || wait > s.h.cfg.MaxInlineWait {
			return err
		}
	} else {
		rs.tries++
		if rs.tries >= s.h.cfg.PageAttempts || wait > s.h.cfg.MaxInlineWait {
			return err
		}
	}
	wait = s.h.cfg.PageBackoff.Delay(max(rs.tries, 1), wait)
	tries := rs.tries + rs.waits
	reason := retryReason(err)
	s.h.cfg.Metrics.pageRetry(reason)
	s.log.LogAttrs(ctx, slog.LevelInfo, "gusto request failed; retrying", slog.String("reason", reason),
		slog.Int("try", tries), slog.Duration("wait", wait), slog.String("error", err.Error()))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return err
	case <-s.h.drainCh:
		// Shutting down: commit what we have rather than wait.
		return errors.Join(errDraining, err)
	case <-t.C:
		return nil
	}
}

func retryReason(err error) string {
	var rl *gusto.RateLimitedError
	var se *gusto.ServerError
	switch {
	case errors.As(err, &rl):
		return "rate_limited"
	case errors.As(err, &se):
		return "server_error"
	}
	return "transport"
}

// commit stores the batch with its checkpoint (done marks the resource
// finished) and empties it.
func (s *syncRun) commit(ctx context.Context, r checkpoint.Resource, done bool) error {
	n := s.batches + 1
	if hook := s.h.cfg.Hooks.BeforeCommit; hook != nil {
		hook(ctx, s.a.RunID, s.a.Epoch, r, n)
	}
	began := s.h.now()
	// A commit is short and must not be torn by a shutdown's cancellation:
	// it runs to its end (bounded) even when ctx ends meanwhile.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	res, err := s.a.Commit(cctx, checkpoint.Batch{Resource: r, Rows: s.rows, Next: s.next, Done: done})
	if err != nil {
		return err
	}
	membudget.HolderFrom(ctx).Release() // the batch's pages are in PostgreSQL now
	took := s.h.now().Sub(began)
	s.batches = n
	s.records += int64(res.Records)
	s.changed += res.Changed
	s.tracker.committed(s.h.now())
	s.h.cfg.Metrics.batch(r, res, took)
	s.log.LogAttrs(ctx, slog.LevelInfo, "batch committed", slog.Int("batch", n), slog.String("resource", string(r)),
		slog.Int("records", res.Records), slog.Int64("changed", res.Changed), slog.Int64("resource_records", res.Position.Records),
		slog.String("cursor", res.Position.Cursor), slog.Bool("done", done), slog.Duration("took", took))
	clear(s.rows)
	s.rows = s.rows[:0]
	return nil
}

// commitPartial commits the rows fetched so far (a shutdown is under way);
// nothing when the batch is empty.
func (s *syncRun) commitPartial(ctx context.Context, r checkpoint.Resource) error {
	if len(s.rows) == 0 {
		return nil
	}
	return s.commit(ctx, r, false)
}
