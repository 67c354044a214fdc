package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/membudget"
)

// This file is the one walk every resource of resources.go goes through.
// A resource's cursor (sync_checkpoints.cursor) is, by shape:
//   - paged: the next page, "3";
//   - windowed: the window and its next page, "pay_period:2021-01-01:2021-12-31/3";
//   - a substream: the parent under way and its next page, "<uuid>/3", or
//     the last parent done, "after:<uuid>".
//
// Every page walk carries a gusto.WalkState that is committed with each
// batch (checkpoint.Batch.Walk), so the check of its pages against Gusto's
// pagination headers goes on across retries, page-budget waits, resumed
// attempts and carried runs.

// run walks every selected resource not yet done, in order, then completes
// a full run (kind.go).
func (s *syncRun) run(ctx context.Context) error {
	s.kind = s.a.Kind()
	if s.kind != s.requested {
		s.log.LogAttrs(ctx, slog.LevelInfo, "sync kind kept from the run's first attempt, carried, or upgraded to full",
			slog.String("requested", string(s.requested)), slog.String("kind", string(s.kind)))
	}
	var walked []checkpoint.Resource
	for _, sel := range s.h.cfg.Resources {
		r := sel.Resource
		if !s.walks(r) {
			continue
		}
		pos := s.a.Position(r.Name())
		if pos.Done {
			walked = append(walked, r.Name())
			continue
		}
		if s.h.draining() {
			return errDraining
		}
		if r.Incremental == OnEvents && s.skipEmployees(ctx, pos) {
			continue
		}
		err := s.walkResource(ctx, r, pos)
		var scope *gusto.MissingScopeError
		if sel.Optional && errors.As(err, &scope) {
			if err := s.skipOptional(ctx, r, scope); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		walked = append(walked, r.Name())
	}
	return s.complete(ctx, walked)
}

// skipOptional drops what the attempt holds of an optional resource whose
// scope the grant lacks, and notes it on the run: the company is not
// marked, and the rest of the sync goes on.
func (s *syncRun) skipOptional(ctx context.Context, r *Resource, scope *gusto.MissingScopeError) error {
	clear(s.rows)
	s.rows, s.windows, s.parents, s.walk = s.rows[:0], nil, nil, ""
	membudget.HolderFrom(ctx).Release()
	note := string(r.Name()) + ": skipped, the grant lacks scope " + r.Scope + " (optional in SYNC_RESOURCES)"
	s.notes = append(s.notes, note)
	if err := s.a.Note(ctx, note); err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "optional resource skipped: scope not granted", slog.String("resource", string(r.Name())),
		slog.String("scope", r.Scope), slog.String("error", scope.Error()))
	return nil
}

// walkResource walks r from pos to its end and commits its last batch as
// done. A walk from the beginning is begun first (checkpoint.Attempt.BeginWalk:
// it counts as a read, and may reconcile, only if it runs from there to its
// end without being voided).
func (s *syncRun) walkResource(ctx context.Context, r *Resource, pos checkpoint.Position) error {
	if pos == (checkpoint.Position{}) {
		if err := s.a.BeginWalk(ctx, r.Name()); err != nil {
			return err
		}
	}
	s.walk = pos.Walk
	var err error
	switch {
	case r.Parent != nil:
		err = s.walkParents(ctx, r, pos)
	case r.Windows != nil:
		err = s.walkWindows(ctx, r, pos)
	default:
		page := 1
		if pos.Cursor != "" {
			if n, perr := strconv.Atoi(pos.Cursor); perr == nil && n >= 1 {
				page = n
			} else {
				s.unreadable(ctx, r, pos.Cursor)
			}
		}
		q := Query{Company: s.a.Company, Page: gusto.PageOptions{Page: page, Per: s.h.cfg.PageSize, Walk: s.walkState(ctx, r, page)}}
		err = s.pages(ctx, r, q, strconv.Itoa)
	}
	if err != nil {
		return err
	}
	s.walk = ""
	return s.commit(ctx, r.Name(), true)
}

// walkWindows walks r's windows in order from where pos stands.
func (s *syncRun) walkWindows(ctx context.Context, r *Resource, pos checkpoint.Position) error {
	ww := s.windowWalk(r)
	cur, page, ok := parseWindowCursor(pos.Cursor)
	if !ok {
		if pos.Cursor != "" {
			s.unreadable(ctx, r, pos.Cursor)
		}
		first, more, err := r.Windows.Next(ctx, ww, checkpoint.Window{})
		if err != nil || !more {
			return err
		}
		cur, page = first, 1
	}
	for {
		q := Query{Company: s.a.Company, Window: cur, Page: gusto.PageOptions{Page: page, Per: s.h.cfg.PageSize, Walk: s.walkState(ctx, r, page)}}
		w := cur
		if err := s.pages(ctx, r, q, func(n int) string { return windowCursor(w, n) }); err != nil {
			return err
		}
		s.windows = append(s.windows, cur)
		next, more, err := r.Windows.Next(ctx, ww, cur)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		s.next, s.walk = windowCursor(next, 1), ""
		if next.Kind == checkpoint.WindowLongPeriod && cur.Kind != checkpoint.WindowLongPeriod {
			// Long-period windows are placed on the stored periods: store
			// what the walk has read so far first.
			if err := s.commit(ctx, r.Name(), false); err != nil {
				return err
			}
			if next, more, err = r.Windows.Next(ctx, ww, cur); err != nil || !more {
				return err
			}
			s.next = windowCursor(next, 1)
		}
		cur, page = next, 1
		if err := s.between(ctx, r); err != nil {
			return err
		}
	}
}

// windowWalk is what r's window policy knows of this run's walk.
func (s *syncRun) windowWalk(r *Resource) WindowWalk {
	today := s.h.now().UTC()
	return WindowWalk{
		Start: s.payrollStart(today), Horizon: payrollHorizon(today), Today: today,
		Periods: func(ctx context.Context, minDays int) ([]checkpoint.Period, error) {
			return s.h.cfg.Checkpoints.Periods(ctx, s.a.Company, r.Name(), minDays)
		},
	}
}

// parentsPerQuery is how many parent records one query reads.
const parentsPerQuery = 100

// walkParents walks r once per live record of its parent resource, by
// uuid. An incremental run skips a parent that is final and whose
// children were read at its current version.
func (s *syncRun) walkParents(ctx context.Context, r *Resource, pos checkpoint.Position) error {
	after, inclusive, page := "", false, 1
	switch c := pos.Cursor; {
	case c == "":
	case strings.HasPrefix(c, "after:"):
		after = strings.TrimPrefix(c, "after:")
	default:
		id, p, ok := strings.Cut(c, "/")
		n, err := strconv.Atoi(p)
		if !ok || err != nil || n < 1 {
			s.unreadable(ctx, r, c)
			break
		}
		after, inclusive, page = id, true, n
	}
	for {
		parents, err := s.h.cfg.Checkpoints.Parents(ctx, s.a.Company, r.Parent.Name(), r.Name(), after, inclusive, parentsPerQuery)
		if err != nil || len(parents) == 0 {
			return err
		}
		for _, p := range parents {
			after, inclusive = p.UUID, false
			if page == 1 && s.kind == checkpoint.KindIncremental && p.Final && p.ReadVersion == p.Version {
				s.next = "after:" + p.UUID
				continue // read once, unchanged since: not read again
			}
			id := p.UUID
			q := Query{Company: s.a.Company, Parent: id, Page: gusto.PageOptions{Page: page, Per: s.h.cfg.PageSize, Walk: s.walkState(ctx, r, page)}}
			if err := s.pages(ctx, r, q, func(n int) string { return id + "/" + strconv.Itoa(n) }); err != nil {
				return err
			}
			s.parents = append(s.parents, checkpoint.ParentRead{UUID: id, Version: p.Version})
			s.next, s.walk, page = "after:"+id, "", 1
			if err := s.between(ctx, r); err != nil {
				return err
			}
		}
	}
}

// between runs between two page walks of a resource: the batch is
// committed once full, and a drain stops the attempt with what it holds
// committed.
func (s *syncRun) between(ctx context.Context, r *Resource) error {
	if len(s.rows) >= s.h.cfg.BatchSize {
		if err := s.commit(ctx, r.Name(), false); err != nil {
			return err
		}
	}
	if s.h.draining() {
		if err := s.commitPartial(ctx, r.Name()); err != nil {
			return err
		}
		return errDraining
	}
	return nil
}

// walkState is the state of the page walk that resumes at page: the one
// committed with the checkpoint (s.walk) when the walk is under way, a new
// one when it starts at its first page.
func (s *syncRun) walkState(ctx context.Context, r *Resource, page int) *gusto.WalkState {
	st := &gusto.WalkState{}
	if page == 1 || s.walk == "" {
		return st
	}
	if err := json.Unmarshal([]byte(s.walk), st); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "unreadable walk state; checking the walk from here", slog.String("resource", string(r.Name())))
		return &gusto.WalkState{}
	}
	return st
}

// unreadable logs a cursor that does not parse: the resource is walked
// from its beginning.
func (s *syncRun) unreadable(ctx context.Context, r *Resource, cursor string) {
	s.log.LogAttrs(ctx, slog.LevelWarn, "unreadable cursor; starting the resource over", slog.String("resource", string(r.Name())),
		slog.String("cursor", cursor))
}

// windowCursor is the cursor of page n of window w.
func windowCursor(w checkpoint.Window, n int) string {
	return w.Kind + ":" + w.Start.Format(dateOnly) + ":" + w.End.Format(dateOnly) + "/" + strconv.Itoa(n)
}

func parseWindowCursor(c string) (checkpoint.Window, int, bool) {
	head, p, ok := strings.Cut(c, "/")
	if !ok {
		return checkpoint.Window{}, 0, false
	}
	parts := strings.Split(head, ":")
	n, err := strconv.Atoi(p)
	if len(parts) != 3 || err != nil || n < 1 {
		return checkpoint.Window{}, 0, false
	}
	start, err1 := time.Parse(dateOnly, parts[1])
	end, err2 := time.Parse(dateOnly, parts[2])
	if err1 != nil || err2 != nil || end.Before(start) {
		return checkpoint.Window{}, 0, false
	}
	return checkpoint.Window{Kind: parts[0], Start: start, End: end}, n, true
}

// pages fetches the pages of one page walk from q.Page.Page until the
// last one, appending their rows to the batch and committing whenever it
// holds BatchSize records (at a page boundary, so the checkpoint is the
// next page, cursor(n), with the walk's state). A transient failure is
// retried from the failed page without losing the batch, under the same
// walk state. When the worker drains, pages commits what it has and
// returns errDraining. It returns nil after the last page, leaving the
// tail of the batch for the caller to commit.
func (s *syncRun) pages(ctx context.Context, r *Resource, q Query, cursor func(int) string) error {
	name := r.Name()
	src := Source{API: s.h.cfg.API, Tokens: s.h.cfg.Tokens}
	var rs retryState
	for {
		var ferr error
		for p, err := range r.Fetch(ctx, src, q) {
			if err != nil {
				ferr = err
				break
			}
			rs = retryState{}
			if p.Mismatch != "" {
				if err := s.mismatch(ctx, name, p.Mismatch); err != nil {
					return err
				}
			}
			s.rows = append(s.rows, p.Rows...)
			q.Page.Page = p.Number + 1
			s.next = cursor(q.Page.Page)
			if b, err := json.Marshal(q.Page.Walk); err == nil {
				s.walk = string(b)
			}
			if p.Last {
				return nil
			}
			if len(s.rows) >= s.h.cfg.BatchSize {
				if err := s.commit(ctx, name, false); err != nil {
					return err
				}
			}
			if s.h.draining() {
				if err := s.commitPartial(ctx, name); err != nil {
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
			if err := s.commitPartial(ctx, name); err != nil {
				return err
			}
			membudget.HolderFrom(ctx).Release()
			continue
		}
		if err := s.backoff(ctx, ferr, &rs); err != nil {
			if errors.Is(err, errDraining) || errors.Is(context.Cause(ctx), errDraining) {
				// Shutting down: keep what was fetched before the failed or
				// abandoned request.
				if cerr := s.commitPartial(ctx, name); cerr != nil {
					return cerr
				}
				return errDraining
			}
			return err
		}
	}
}
