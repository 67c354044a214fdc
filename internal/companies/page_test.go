package companies_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/tokens"
)

// walk follows Next from the first page to the last, then Prev back to the
// first, and returns the uuids seen each way.
func walk(t *testing.T, d *companies.Directory, q companies.PageQuery) (forward, backward []string) {
	t.Helper()
	ctx := context.Background()
	var pages []companies.CompanyPage
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatal("more than 100 pages: the walk does not end")
		}
		p, err := d.Page(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && p.Prev != "" {
			t.Fatalf("first page has a Prev %q", p.Prev)
		}
		if len(p.Companies) > max(q.Limit, 1) {
			t.Fatalf("page of %d, limit %d", len(p.Companies), q.Limit)
		}
		pages = append(pages, p)
		for _, c := range p.Companies {
			forward = append(forward, c.UUID)
		}
		if p.Next == "" {
			break
		}
		q.After, q.Before = p.Next, ""
	}
	last := pages[len(pages)-1]
	q.After, q.Before = "", last.Prev
	backward = append(backward, uuidsOf(last.Companies)...)
	for q.Before != "" {
		p, err := d.Page(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		backward = append(uuidsOf(p.Companies), backward...)
		q.Before = p.Prev
	}
	return forward, backward
}

func uuidsOf(cs []companies.Company) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.UUID
	}
	return out
}

// TestPageWalksEveryCompanyOnce: with any page size, Next walks every
// company exactly once in uuid order, and Prev walks back the same way;
// a status filter and a search narrow the walk to what they match.
func TestPageWalksEveryCompanyOnce(t *testing.T) {
	db := pgtest.New(t)
	d := companies.New(db.Gorm)
	active := addCompanies(t, db.Gorm, 23, tokens.StatusActive)
	reauth := addCompanies(t, db.Gorm, 7, tokens.StatusNeedsReauth)
	all := slices.Sorted(slices.Values(append(slices.Clone(active), reauth...)))
	for _, limit := range []int{1, 4, 10, 30, 31, 200} {
		fwd, back := walk(t, d, companies.PageQuery{Limit: limit})
		if !slices.Equal(fwd, all) || !slices.Equal(back, all) {
			t.Fatalf("limit %d: forward %d, backward %d companies, want each of %d once in order", limit, len(fwd), len(back), len(all))
		}
	}
	fwd, _ := walk(t, d, companies.PageQuery{Limit: 3, Status: tokens.StatusNeedsReauth})
	if want := slices.Sorted(slices.Values(reauth)); !slices.Equal(fwd, want) {
		t.Fatalf("needs_reauth walk %v, want %v", fwd, want)
	}

	// Search: by name (any case, wildcards literal) and by uuid prefix.
	exec(t, db.Gorm, `INSERT INTO gusto_companies (uuid, name, payload) VALUES (?, 'Acme Payroll Co', '{}'), (?, '100% Widgets_Ltd', '{}')`, active[0], active[1])
	for _, tc := range []struct {
		search string
		want   []string
	}{
		{"acme", []string{active[0]}},
		{"PAYROLL co", []string{active[0]}},
		{"100%", []string{active[1]}},
		{"%", []string{active[1]}},
		{"_", []string{active[1]}},
		{"s_l", []string{active[1]}},
		{"nothing like it", nil},
		{reauth[2][:8], []string{reauth[2]}},
		{strings.ToUpper(reauth[3][:13]), []string{reauth[3]}},
		{strings.ReplaceAll(reauth[4], "-", ""), []string{reauth[4]}},
	} {
		fwd, _ := walk(t, d, companies.PageQuery{Limit: 2, Search: tc.search})
		if !slices.Equal(fwd, tc.want) {
			t.Errorf("search %q: %v, want %v", tc.search, fwd, tc.want)
		}
	}
	// Every page is bounded; bad cursors and sizes are refused by name.
	ctx := context.Background()
	if p, err := d.Page(ctx, companies.PageQuery{}); err != nil || len(p.Companies) != companies.DefaultPageSize-20 || p.Next != "" {
		t.Fatalf("default page: %d companies, next %q, %v; want all 30 on one page", len(p.Companies), p.Next, err)
	}
	for _, q := range []companies.PageQuery{
		{Limit: companies.MaxPageSize + 1}, {Limit: -1}, {After: "x"}, {Before: "'; DROP TABLE sync_runs; --"},
		{After: all[0], Before: all[1]}, {Search: strings.Repeat("a", 101)},
	} {
		var qe *companies.QueryError
		if _, err := d.Page(ctx, q); !errors.As(err, &qe) {
			t.Errorf("%+v: %v, want a *QueryError", q, err)
		}
	}
}

// TestHistory: a company's runs, refresh attempts and status transitions,
// newest first; the status history is written by the database whoever
// changes the status, onboarding included, and holds no token.
func TestHistory(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	d := companies.New(db.Gorm)
	co := addCompanies(t, db.Gorm, 1, tokens.StatusActive)[0]
	other := addCompanies(t, db.Gorm, 1, tokens.StatusActive)[0]
	exec(t, db.Gorm, `
		INSERT INTO sync_runs (id, company_uuid, status, kind, records_synced, error, created_at, finished_at) VALUES
		(gen_random_uuid(), ?, 'succeeded', 'full', 40, '', now() - interval '2 hours', now() - interval '2 hours'),
		(gen_random_uuid(), ?, 'failed', 'incremental', 3, 'gusto: 503 Service Unavailable', now(), now()),
		(gen_random_uuid(), ?, 'succeeded', 'full', 9, '', now(), now())`, co, co, other)
	exec(t, db.Gorm, `
		INSERT INTO token_refresh_events (company_uuid, worker, trigger, outcome, detail, old_version, new_version, started_at) VALUES
		(?, 'w1', 'expiry', 'refreshed', '', 1, 2, now() - interval '1 hour'),
		(?, 'w2', 'unauthorized', 'revoked', 'invalid_grant', 2, NULL, now())`, co, co)
	for _, s := range []struct{ status, reason string }{
		{"needs_reauth", "refresh token refused (invalid_grant)"}, {"needs_reauth", "again"}, {"active", ""}, {"paused", "holiday"},
	} {
		exec(t, db.Gorm, `UPDATE gusto_auth_tokens SET status = ?, status_reason = ? WHERE company_uuid = ?`, s.status, s.reason, co)
	}

	h, err := d.History(ctx, co, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Runs) != 2 || h.Runs[0].Status != "failed" || h.Runs[0].Kind != "incremental" || h.Runs[0].Error != "gusto: 503 Service Unavailable" ||
		h.Runs[1].Records != 40 || h.Runs[1].FinishedAt == nil {
		t.Fatalf("runs %+v", h.Runs)
	}
	if len(h.Refreshes) != 2 || h.Refreshes[0].Outcome != "revoked" || h.Refreshes[0].NewVersion != nil ||
		h.Refreshes[1].NewVersion == nil || *h.Refreshes[1].NewVersion != 2 {
		t.Fatalf("refreshes %+v", h.Refreshes)
	}
	want := []companies.StatusChange{
		{From: "active", To: "paused", Reason: "holiday"},
		{From: "needs_reauth", To: "active"},
		{From: "active", To: "needs_reauth", Reason: "refresh token refused (invalid_grant)"},
		{From: "", To: "active"},
	}
	if len(h.Statuses) != len(want) {
		t.Fatalf("status history %+v, want %d transitions (a repeated status is none)", h.Statuses, len(want))
	}
	for i, w := range want {
		g := h.Statuses[i]
		if g.From != w.From || g.To != w.To || g.Reason != w.Reason || g.At.IsZero() {
			t.Errorf("transition %d: %+v, want %+v", i, g, w)
		}
	}
	if h, err := d.History(ctx, co, 1); err != nil || len(h.Runs) != 1 || len(h.Refreshes) != 1 || len(h.Statuses) != 1 {
		t.Fatalf("limit 1: %+v, %v", h, err)
	}
	var nf *companies.NotFoundError
	if _, err := d.History(ctx, "not-a-uuid", 10); !errors.As(err, &nf) {
		t.Fatalf("bad uuid: %v, want *NotFoundError", err)
	}
	var qe *companies.QueryError
	if _, err := d.History(ctx, co, companies.MaxPageSize+1); !errors.As(err, &qe) {
		t.Fatalf("limit too large: %v, want *QueryError", err)
	}
}
