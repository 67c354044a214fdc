package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/tokens"
)

// finishTimeout bounds recording an attempt's outcome, which runs even when
// the task's context has ended.
const finishTimeout = 10 * time.Second

// claimFailed maps a failed claim to asynq.
func (h *Handler) claimFailed(ctx context.Context, log *slog.Logger, err error, started time.Time) error {
	var (
		busy *checkpoint.BusyError
		fin  *checkpoint.FinishedError
		mis  *checkpoint.MismatchError
	)
	took := h.now().Sub(started)
	switch {
	case errors.As(err, &busy):
		// Another attempt of this run is alive (this task is asynq's
		// recovery of an attempt that was taken over and re-driven, or a
		// duplicate): it does the work; this task looks again once that
		// attempt's lease would have run out, and finds the run finished,
		// or dead and re-driven already. Or this is a full run and a live
		// incremental run holds the company: it looks again until that
		// run has ended (a full walk is never absorbed by an incremental).
		delay := max(busy.RetryIn, 5*time.Second)
		log.LogAttrs(ctx, slog.LevelInfo, "company is being synced by another attempt; waiting",
			slog.String("holder_run", busy.Holder), slog.Duration("retry_in", delay))
		h.cfg.Metrics.attempt("busy", took)
		return &RetryError{Err: err, Delay: delay}
	case errors.As(err, &fin):
		// Ended already, or coalesced just now into a live run of the
		// company (fin.Reason says which).
		log.LogAttrs(ctx, slog.LevelInfo, "run already finished; nothing to do", slog.String("status", string(fin.Status)),
			slog.String("reason", fin.Reason))
		h.cfg.Metrics.attempt("finished", took)
		return nil
	case errors.As(err, &mis):
		log.LogAttrs(ctx, slog.LevelError, "run id belongs to another company; task archived", slog.String("error", err.Error()))
		h.cfg.Metrics.attempt("malformed", took)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	log.LogAttrs(ctx, slog.LevelWarn, "sync claim failed; retrying later", slog.String("error", err.Error()))
	h.cfg.Metrics.attempt("retry", took)
	return &RetryError{Err: err, Failure: true}
}

// outcome records how an attempt ended (sync_runs) and maps it to asynq.
// This is the one place where errors become retry decisions; it holds
// invariant 10 (a refused API version is fleet-wide; docs/invariants.md).
func (h *Handler) outcome(ctx context.Context, s *syncRun, err error, started time.Time) error {
	log := s.log.With(slog.Int("batches", s.batches), slog.Int64("records", s.records), slog.Int64("changed", s.changed))
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	took := h.now().Sub(started)
	// finish records the outcome; it reports false when the attempt turns
	// out to be fenced (a newer attempt holds the company), in which case
	// the outcome is the newer attempt's to record.
	finish := func(status checkpoint.Status, reason string) bool {
		ferr := s.a.Finish(fctx, status, reason)
		var fenced *checkpoint.FencedError
		switch {
		case errors.As(ferr, &fenced):
			return false
		case ferr != nil:
			log.LogAttrs(ctx, slog.LevelWarn, "recording the sync outcome failed", slog.String("status", string(status)), slog.String("error", ferr.Error()))
		}
		return true
	}
	fencedStop := func(cause error) error {
		log.LogAttrs(ctx, slog.LevelWarn, "attempt fenced by a newer one; stopping", slog.String("error", cause.Error()))
		h.cfg.Metrics.attempt("fenced", took)
		return nil
	}

	var (
		fenced  *checkpoint.FencedError
		unauth  *gusto.UnauthorizedError
		forbid  *gusto.ForbiddenError
		reauth  *tokens.ReauthRequiredError
		version *gusto.APIVersionError
		scope   *gusto.MissingScopeError
	)
	switch {
	case err == nil:
		finish(checkpoint.StatusSucceeded, "")
		log.LogAttrs(ctx, slog.LevelInfo, "sync succeeded", slog.Duration("took", took))
		h.cfg.Metrics.attempt("succeeded", took)
		if h.cfg.APIVersions != nil {
			if aerr := h.cfg.APIVersions.Accepted(fctx, h.cfg.APIVersion); aerr != nil {
				log.LogAttrs(ctx, slog.LevelWarn, "clearing a refusal of the API version failed", slog.String("error", aerr.Error()))
			}
		}
		return nil

	case errors.As(err, &version):
		// Gusto refuses the X-Gusto-API-Version we send: the whole fleet's
		// configuration is wrong, not this company. Nothing is marked; the
		// refusal is recorded (one alert per version), and the task waits
		// long without counting, so syncing resumes by itself once an
		// operator sets GUSTO_API_VERSION.
		h.cfg.Metrics.versionRejected(version.Version)
		if h.cfg.APIVersions != nil {
			if rerr := h.cfg.APIVersions.Rejected(fctx, version.Version, version.Message, h.cfg.WorkerID); rerr != nil {
				log.LogAttrs(ctx, slog.LevelWarn, "recording the refused API version failed", slog.String("error", rerr.Error()))
			}
		}
		reason := "Gusto refuses API version " + version.Version + ": set GUSTO_API_VERSION to a supported version"
		if !finish(checkpoint.StatusPending, reason) {
			return fencedStop(err)
		}
		delay := APIVersionRetryDelay + time.Duration(rand.Int64N(int64(APIVersionRetryDelay/5)))
		log.LogAttrs(ctx, slog.LevelError, reason, slog.String("api_version", version.Version),
			slog.String("error", err.Error()), slog.Duration("retry_in", delay))
		h.cfg.Metrics.attempt("api_version_rejected", took)
		return &RetryError{Err: err, Delay: delay}

	case errors.As(err, &fenced):
		// A newer attempt of this run (asynq re-ran it after our lease
		// expired) or a newer run holds the company; it does the work.
		return fencedStop(err)

	case errors.Is(err, errDraining):
		if !finish(checkpoint.StatusPending, "worker shut down; resuming from the checkpoint") {
			return fencedStop(err)
		}
		log.LogAttrs(ctx, slog.LevelInfo, "sync stopped for shutdown; checkpoint committed")
		h.cfg.Metrics.attempt("drained", took)
		return &RetryError{Err: errDraining, Delay: time.Second}

	case errors.As(err, &reauth):
		// The token manager already marked the company (once, audited).
		finish(checkpoint.StatusFailed, err.Error())
		log.LogAttrs(ctx, slog.LevelError, "company needs re-authorization; sync ended", slog.String("error", err.Error()))
		h.cfg.Metrics.attempt("needs_reauth", took)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)

	case tokens.Terminal(err):
		// Paused by an operator, tokens sealed under a dropped key
		// (key_missing, marked once by the token manager), or no tokens stored.
		finish(checkpoint.StatusFailed, err.Error())
		log.LogAttrs(ctx, slog.LevelWarn, "company cannot be synced; sync ended", slog.String("error", err.Error()))
		h.cfg.Metrics.attempt("failed", took)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)

	case errors.As(err, &scope):
		// Gusto refused a call for a scope the grant lacks: not a
		// revocation and not retried; a person grants the scope.
		if _, merr := h.cfg.Reauth.MarkMissingScope(fctx, s.a.Company, scope.Scopes, err.Error()); merr != nil {
			finish(checkpoint.StatusPending, err.Error())
			log.LogAttrs(ctx, slog.LevelError, "marking missing_scope failed; retrying", slog.String("error", merr.Error()))
			h.cfg.Metrics.attempt("retry", took)
			return &RetryError{Err: fmt.Errorf("%w (and marking missing_scope failed: %v)", err, merr), Failure: true}
		}
		finish(checkpoint.StatusFailed, err.Error())
		log.LogAttrs(ctx, slog.LevelError, "gusto refused a call for a missing scope; company marked missing_scope",
			slog.String("error", err.Error()), slog.Any("scopes", scope.Scopes))
		h.cfg.Metrics.attempt("missing_scope", took)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)

	case errors.As(err, &unauth) || errors.As(err, &forbid):
		// Gusto refused a data call (a 401 that the client's invalidation
		// and retry did not cure, or a 403 in Gusto's words). That alone
		// marks nobody (invariant 4): the token endpoint decides. A refused
		// grant is marked needs_reauth there, once; a grant that refreshes
		// is alive, and the refusal is retried like any failure.
		verr := h.cfg.Reauth.VerifyGrant(fctx, s.a.Company)
		switch {
		case errors.As(verr, &reauth):
			finish(checkpoint.StatusFailed, verr.Error())
			log.LogAttrs(ctx, slog.LevelError, "gusto refused access and the grant is gone; company marked needs_reauth",
				slog.String("error", err.Error()))
			h.cfg.Metrics.attempt("needs_reauth", took)
			return fmt.Errorf("%w: %w", verr, asynq.SkipRetry)
		case tokens.Terminal(verr):
			finish(checkpoint.StatusFailed, verr.Error())
			log.LogAttrs(ctx, slog.LevelWarn, "company cannot be synced; sync ended", slog.String("error", verr.Error()))
			h.cfg.Metrics.attempt("failed", took)
			return fmt.Errorf("%w: %w", verr, asynq.SkipRetry)
		case verr != nil:
			err = fmt.Errorf("%w (and asking the token endpoint whether the grant is alive failed: %w)", err, verr)
		default:
			log.LogAttrs(ctx, slog.LevelWarn, "gusto refused a data call, but the grant refreshed: not a revocation; retrying",
				slog.String("error", err.Error()))
		}
	}

	// Everything else goes back to asynq. A transient failure (429, 5xx,
	// timeouts, the token endpoint or Redis lock being unavailable,
	// PostgreSQL) after an attempt that made progress does not count
	// against the task; neither does a 429.
	delay := tokens.RetryAfter(err)
	var rl *gusto.RateLimitedError
	failure := s.batches == 0 && !errors.As(err, &rl)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, ok := asynq.GetMaxRetry(ctx)
	if failure && ok && retried >= maxRetry {
		finish(checkpoint.StatusFailed, err.Error())
		log.LogAttrs(ctx, slog.LevelError, "sync failed; retries exhausted", slog.String("error", err.Error()), slog.Int("retried", retried))
		h.cfg.Metrics.attempt("failed", took)
		return &RetryError{Err: err, Failure: true}
	}
	if !finish(checkpoint.StatusPending, err.Error()) {
		// Typically a zombie whose lease expired: its context was cancelled
		// and a newer attempt claimed meanwhile.
		return fencedStop(err)
	}
	level := slog.LevelWarn
	if ctx.Err() != nil {
		level = slog.LevelInfo // lease lost or deadline: asynq decides
	}
	log.LogAttrs(ctx, level, "sync attempt failed; asynq retries it", slog.String("error", err.Error()),
		slog.Bool("counted", failure), slog.Duration("retry_after", delay))
	h.cfg.Metrics.attempt("retry", took)
	return &RetryError{Err: err, Delay: delay, Failure: failure}
}
