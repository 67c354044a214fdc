package jobs

import (
	"context"
	"errors"
	"log/slog"
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

	rows    []checkpoint.Row        // the batch being filled
	next    string                  // cursor after rows
	walk    string                  // the page walk's state after rows (checkpoint.Batch.Walk)
	windows []checkpoint.Window     // windows whose walk ended in rows
	parents []checkpoint.ParentRead // parents whose children rows complete
	batches int                     // committed by this attempt
	records int64                   // committed by this attempt
	changed int64
	notes   []string // noted on the run (sync_runs.notes) by this attempt
}

// mismatch notes a page whose item count disagrees with Gusto's pagination
// headers: every record is kept, the walk is counted and noted on the run,
// and voided (checkpoint.Attempt.VoidWalk): it is no read an incremental
// run may skip on, and no walk a full run may mark deletions after; the
// next run walks the resource again. One note per resource and attempt.
//
// It fails only when the walk could not be voided (a database error): the
// attempt then ends before the walk can count.
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
	// The walk may have missed a record: it counts for nothing.
	if err := s.a.VoidWalk(ctx, r); err != nil {
		return err
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
	res, err := s.a.Commit(cctx, checkpoint.Batch{Resource: r, Rows: s.rows, Next: s.next, Walk: s.walk, Windows: s.windows, ParentsRead: s.parents, Done: done})
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
	s.rows, s.windows, s.parents = s.rows[:0], nil, nil
	return nil
}

// commitPartial commits the rows fetched so far (a shutdown is under way,
// or the page budget is spent); nothing when the batch is empty.
func (s *syncRun) commitPartial(ctx context.Context, r checkpoint.Resource) error {
	if len(s.rows) == 0 && len(s.windows) == 0 && len(s.parents) == 0 {
		return nil
	}
	return s.commit(ctx, r, false)
}
