package gusto

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// listServer serves total employees and total payrolls with page/per, and
// records each query. failPage, when set, answers that page with a 500.
// capPer, when set, serves at most that many per page whatever is asked
// (Gusto may serve fewer than per). headers sends Gusto's pagination headers
// for the page size served; tweak, when set, may change a page's headers
// and the range of items it serves.
type listServer struct {
	total    int
	failPage int
	capPer   int
	headers  bool
	tweak    func(page int, h http.Header, from, to *int)
	mu       sync.Mutex
	queries  []url.Values
}

func (s *listServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
	page, _ := strconv.Atoi(q.Get("page"))
	per, _ := strconv.Atoi(q.Get("per"))
	if page == s.failPage {
		writeJSON(w, 500, `{"errors":[{"error_key":"base","category":"server_error","message":"boom"}]}`)
		return
	}
	if s.capPer > 0 {
		per = min(per, s.capPer)
	}
	from := min((page-1)*per, s.total)
	to := min(from+per, s.total)
	if s.headers {
		w.Header().Set("X-Page", strconv.Itoa(page))
		w.Header().Set("X-Per-Page", strconv.Itoa(per))
		w.Header().Set("X-Total-Count", strconv.Itoa(s.total))
		w.Header().Set("X-Total-Pages", strconv.Itoa((s.total+per-1)/per))
	}
	if s.tweak != nil {
		s.tweak(page, w.Header(), &from, &to)
	}
	f := employeeJSON
	if r.PathValue("kind") == "payrolls" {
		f = payrollJSON
	}
	writeJSON(w, 200, jsonArray(from, max(to-from, 0), f, r.PathValue("id")))
}

func (s *listServer) requests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.queries...)
}

func newListClient(t *testing.T, s *listServer, mod func(*Options)) *Client {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/companies/{id}/{kind}", s)
	return newTestClient(t, mux, mod)
}

type pageSummary struct {
	number, n int
	first     string
	last      bool
}

// walkEmployees walks every page and returns a summary of each, the
// errors, the mismatches reported and every employee uuid in order.
func walkEmployees(t *testing.T, c *Client, o PageOptions) (pages []pageSummary, errs []error, mismatches, ids []string) {
	t.Helper()
	for p, err := range c.Employees(context.Background(), StaticToken(testAccess), testCompany, o) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s := pageSummary{number: p.Number, n: len(p.Items), last: p.Last}
		if len(p.Items) > 0 {
			s.first = p.Items[0].UUID
		}
		for _, e := range p.Items {
			if e.UUID == "" || e.CompanyUUID != testCompany || len(e.Raw) == 0 || !e.Onboarded || e.Version == "" {
				t.Errorf("bad employee %+v", e)
			}
			ids = append(ids, e.UUID)
		}
		if p.Mismatch != "" {
			mismatches = append(mismatches, p.Mismatch)
		}
		pages = append(pages, s)
	}
	return pages, errs, mismatches, ids
}

// employeeIDs is the uuids of employees first..first+n-1.
func employeeIDs(first, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = employeeUUID(first + i)
	}
	return ids
}

func TestEmployeesPagination(t *testing.T) {
	t.Run("without headers a short page does not end the walk, an empty one does", func(t *testing.T) {
		s := &listServer{total: 25}
		pages, errs, mm, ids := walkEmployees(t, newListClient(t, s, nil), PageOptions{Per: 10})
		want := []pageSummary{{1, 10, employeeUUID(0), false}, {2, 10, employeeUUID(10), false}, {3, 5, employeeUUID(20), false}, {4, 0, "", true}}
		if len(errs) != 0 || len(mm) != 0 || !equalPages(pages, want) || !slices.Equal(ids, employeeIDs(0, 25)) {
			t.Errorf("pages %v errs %v mismatches %v, want %v", pages, errs, mm, want)
		}
		if len(s.requests()) != 4 {
			t.Errorf("%d requests, want 4", len(s.requests()))
		}
	})
	t.Run("with headers the walk ends after X-Total-Pages", func(t *testing.T) {
		s := &listServer{total: 25, headers: true}
		pages, errs, mm, ids := walkEmployees(t, newListClient(t, s, nil), PageOptions{Per: 10})
		want := []pageSummary{{1, 10, employeeUUID(0), false}, {2, 10, employeeUUID(10), false}, {3, 5, employeeUUID(20), true}}
		if len(errs) != 0 || len(mm) != 0 || !equalPages(pages, want) || !slices.Equal(ids, employeeIDs(0, 25)) {
			t.Errorf("pages %v errs %v mismatches %v, want %v", pages, errs, mm, want)
		}
		if len(s.requests()) != 3 {
			t.Errorf("%d requests, want 3", len(s.requests()))
		}
	})
	t.Run("with headers an exact multiple ends on its full last page", func(t *testing.T) {
		s := &listServer{total: 20, headers: true}
		pages, _, mm, _ := walkEmployees(t, newListClient(t, s, nil), PageOptions{Per: 10})
		want := []pageSummary{{1, 10, employeeUUID(0), false}, {2, 10, employeeUUID(10), true}}
		if !equalPages(pages, want) || len(mm) != 0 || len(s.requests()) != 2 {
			t.Errorf("pages %v mismatches %v requests %d, want %v", pages, mm, len(s.requests()), want)
		}
	})
	t.Run("with headers an empty collection is one empty last page", func(t *testing.T) {
		s := &listServer{total: 0, headers: true}
		pages, _, mm, _ := walkEmployees(t, newListClient(t, s, nil), PageOptions{Per: 10})
		if want := []pageSummary{{1, 0, "", true}}; !equalPages(pages, want) || len(mm) != 0 {
			t.Errorf("pages %v mismatches %v, want %v", pages, mm, want)
		}
	})
	t.Run("without headers an exact multiple ends on an empty page", func(t *testing.T) {
		s := &listServer{total: 20}
		pages, _, _, _ := walkEmployees(t, newListClient(t, s, nil), PageOptions{Per: 10})
		want := []pageSummary{{1, 10, employeeUUID(0), false}, {2, 10, employeeUUID(10), false}, {3, 0, "", true}}
		if !equalPages(pages, want) {
			t.Errorf("pages %v, want %v", pages, want)
		}
	})
	t.Run("unparsable headers count as absent", func(t *testing.T) {
		s := &listServer{total: 15, headers: true, tweak: func(_ int, h http.Header, _, _ *int) {
			h.Set("X-Total-Pages", "two")
			h.Set("X-Total-Count", "-4")
		}}
		var got []PageHeaders
		for p, err := range newListClient(t, s, nil).Employees(context.Background(), StaticToken(testAccess), testCompany, PageOptions{Per: 10}) {
			if err != nil {
				t.Fatal(err)
			}
			if p.HasTotals() {
				t.Errorf("page %d has totals %+v", p.Number, p.PageHeaders)
			}
			got = append(got, p.PageHeaders)
		}
		if len(got) != 3 || got[0] != (PageHeaders{ServedPage: 1, PerPage: 10, TotalCount: -1, TotalPages: -1}) {
			t.Errorf("headers %+v, want 3 pages ending on the empty one", got)
		}
	})
	t.Run("resume from a checkpointed page", func(t *testing.T) {
		s := &listServer{total: 25, headers: true}
		pages, _, mm, _ := walkEmployees(t, newListClient(t, s, nil), PageOptions{Page: 2, Per: 10})
		want := []pageSummary{{2, 10, employeeUUID(10), false}, {3, 5, employeeUUID(20), true}}
		if !equalPages(pages, want) || len(mm) != 0 {
			t.Errorf("pages %v mismatches %v, want %v", pages, mm, want)
		}
		if q := s.requests()[0]; q.Get("page") != "2" || q.Get("per") != "10" {
			t.Errorf("first query %v", q)
		}
	})
	t.Run("default per and clamped per", func(t *testing.T) {
		for _, per := range []int{0, 500} {
			s := &listServer{total: 3, headers: true}
			pages, _, _, _ := walkEmployees(t, newListClient(t, s, nil), PageOptions{Per: per})
			if len(pages) != 1 || !pages[0].last || s.requests()[0].Get("per") != strconv.Itoa(DefaultPer) || s.requests()[0].Get("page") != "1" {
				t.Errorf("per %d: pages %v queries %v", per, pages, s.requests())
			}
		}
	})
	t.Run("break stops fetching", func(t *testing.T) {
		s := &listServer{total: 100}
		c := newListClient(t, s, nil)
		for p, err := range c.Employees(context.Background(), StaticToken(testAccess), testCompany, PageOptions{Per: 10}) {
			if err != nil || p.Number != 1 {
				t.Fatalf("page %d err %v", p.Number, err)
			}
			break
		}
		if len(s.requests()) != 1 {
			t.Errorf("%d requests after break, want 1", len(s.requests()))
		}
	})
	t.Run("error is yielded once and ends the walk", func(t *testing.T) {
		s := &listServer{total: 100, failPage: 2}
		pages, errs, _, _ := walkEmployees(t, newListClient(t, s, nil), PageOptions{Per: 10})
		if len(pages) != 1 || len(errs) != 1 || len(s.requests()) != 2 {
			t.Fatalf("pages %v errs %v requests %d", pages, errs, len(s.requests()))
		}
		as[*ServerError](t, errs[0])
	})
	t.Run("bad company id is an error, not a request", func(t *testing.T) {
		s := &listServer{total: 1}
		c := newListClient(t, s, nil)
		var errs int
		for _, err := range c.Employees(context.Background(), StaticToken(testAccess), "../../v1/me", PageOptions{}) {
			if err == nil {
				t.Fatal("walk with a bad company id yielded a page")
			}
			errs++
		}
		if errs != 1 || len(s.requests()) != 0 {
			t.Errorf("errors %d requests %d", errs, len(s.requests()))
		}
	})
}

// TestServerCapsPer: a server that serves 25 per page while 100 are asked
// (Gusto may serve fewer than per) must still give every row, with or
// without pagination headers. The old walk took the first short page for
// the last and kept 25 of 130 rows.
func TestServerCapsPer(t *testing.T) {
	for _, headers := range []bool{true, false} {
		t.Run(map[bool]string{true: "with headers", false: "without headers"}[headers], func(t *testing.T) {
			s := &listServer{total: 130, capPer: 25, headers: headers}
			pages, errs, mm, ids := walkEmployees(t, newListClient(t, s, nil), PageOptions{Per: 100})
			if len(errs) != 0 || len(mm) != 0 {
				t.Fatalf("errors %v mismatches %v", errs, mm)
			}
			if !slices.Equal(ids, employeeIDs(0, 130)) {
				t.Fatalf("got %d rows, want all 130 in order", len(ids))
			}
			wantPages := map[bool]int{true: 6, false: 7}[headers] // without headers, the empty page 7 ends it
			if len(pages) != wantPages || !pages[len(pages)-1].last || len(s.requests()) != wantPages {
				t.Errorf("pages %v, %d requests; want %d", pages, len(s.requests()), wantPages)
			}
			for _, q := range s.requests() {
				if q.Get("per") != "100" {
					t.Errorf("asked per %s, want 100", q.Get("per"))
				}
			}
		})
	}
	t.Run("payrolls", func(t *testing.T) {
		s := &listServer{total: 60, capPer: 25, headers: true}
		c := newListClient(t, s, nil)
		var n int
		for p, err := range c.Payrolls(context.Background(), StaticToken(testAccess), testCompany, PayrollOptions{}) {
			if err != nil || p.Mismatch != "" {
				t.Fatalf("page %d: %v %q", p.Number, err, p.Mismatch)
			}
			for _, pr := range p.Items {
				if pr.UUID != payrollUUID(n) {
					t.Fatalf("payroll %d is %s", n, pr.UUID)
				}
				n++
			}
		}
		if n != 60 {
			t.Errorf("%d payrolls, want 60", n)
		}
	})
}

// TestPageMismatch: every way a page can disagree with its headers is
// reported on the page, and no served item is dropped because of it.
func TestPageMismatch(t *testing.T) {
	cases := []struct {
		name     string
		total    int
		start    int
		tweak    func(page int, h http.Header, from, to *int)
		pages    []pageSummary
		ids      []string
		mismatch []string // substrings, one per page with a mismatch, in order
	}{
		{name: "short non-final page", total: 25,
			tweak: func(page int, h http.Header, from, to *int) {
				if page == 2 {
					*to = *from + 7
				}
			},
			pages:    []pageSummary{{1, 10, employeeUUID(0), false}, {2, 7, employeeUUID(10), false}, {3, 5, employeeUUID(20), true}},
			ids:      append(employeeIDs(0, 17), employeeIDs(20, 5)...),
			mismatch: []string{"page 2 of 3 has 7 items, X-Per-Page is 10", "the walk listed 22 items, X-Total-Count is 25"}},
		{name: "long non-final page", total: 25,
			tweak: func(page int, h http.Header, from, to *int) {
				if page == 1 {
					*to = *from + 11
				}
			},
			pages:    []pageSummary{{1, 11, employeeUUID(0), false}, {2, 10, employeeUUID(10), false}, {3, 5, employeeUUID(20), true}},
			ids:      append(employeeIDs(0, 11), employeeIDs(10, 15)...),
			mismatch: []string{"page 1 of 3 has 11 items", "the walk listed 26 items"}},
		{name: "final page count disagrees with X-Total-Count", total: 25,
			tweak:    func(page int, h http.Header, from, to *int) { h.Set("X-Total-Count", "27") },
			pages:    []pageSummary{{1, 10, employeeUUID(0), false}, {2, 10, employeeUUID(10), false}, {3, 5, employeeUUID(20), true}},
			ids:      employeeIDs(0, 25),
			mismatch: []string{"last page 3 has 5 items, X-Total-Count 27 and X-Per-Page 10 make 7"}},
		{name: "empty page before X-Total-Pages ends the walk", total: 25,
			tweak: func(page int, h http.Header, from, to *int) {
				if page == 2 {
					*to = *from
				}
			},
			pages:    []pageSummary{{1, 10, employeeUUID(0), false}, {2, 0, "", true}},
			ids:      employeeIDs(0, 10),
			mismatch: []string{"page 2 is empty before X-Total-Pages 3"}},
		{name: "totals change between pages", total: 25,
			tweak: func(page int, h http.Header, from, to *int) {
				if page >= 2 {
					h.Set("X-Total-Count", "26")
				}
			},
			pages:    []pageSummary{{1, 10, employeeUUID(0), false}, {2, 10, employeeUUID(10), false}, {3, 5, employeeUUID(20), true}},
			ids:      employeeIDs(0, 25),
			mismatch: []string{"total count 25→26", "total count 25→26"}},
		{name: "X-Page is not the page asked for", total: 15,
			tweak:    func(page int, h http.Header, from, to *int) { h.Set("X-Page", "1") },
			pages:    []pageSummary{{1, 10, employeeUUID(0), false}, {2, 5, employeeUUID(10), true}},
			ids:      employeeIDs(0, 15),
			mismatch: []string{"X-Page is 1 for page 2"}},
		{name: "items past X-Total-Pages: the walk goes on to an empty page", total: 35, start: 3,
			tweak: func(page int, h http.Header, from, to *int) {
				h.Set("X-Total-Pages", "2")
				h.Set("X-Total-Count", "20")
			},
			pages:    []pageSummary{{3, 10, employeeUUID(20), false}, {4, 5, employeeUUID(30), false}, {5, 0, "", true}},
			ids:      employeeIDs(20, 15),
			mismatch: []string{"page 3 has 10 items past X-Total-Pages 2", "page 4 has 5 items past X-Total-Pages 2"}},
		{name: "resumed past the end: an empty page is consistent", total: 15, start: 3,
			pages: []pageSummary{{3, 0, "", true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &listServer{total: tc.total, headers: true, tweak: tc.tweak}
			pages, errs, mm, ids := walkEmployees(t, newListClient(t, s, nil), PageOptions{Page: tc.start, Per: 10})
			if len(errs) != 0 || !equalPages(pages, tc.pages) || !slices.Equal(ids, tc.ids) {
				t.Fatalf("pages %v errs %v ids %d; want pages %v ids %d", pages, errs, len(ids), tc.pages, len(tc.ids))
			}
			all := strings.Join(mm, " | ")
			for _, want := range tc.mismatch {
				if !strings.Contains(all, want) {
					t.Errorf("mismatches %q lack %q", all, want)
				}
			}
			if len(mm) != len(tc.mismatch) {
				t.Errorf("%d pages with a mismatch (%q), want %d", len(mm), all, len(tc.mismatch))
			}
		})
	}
}

// TestMaxPages: a server that never ends a listing (always a full page, no
// headers) cannot make a walk endless.
func TestMaxPages(t *testing.T) {
	s := &listServer{total: 1 << 30}
	c := newListClient(t, s, func(o *Options) { o.MaxPages = 5 })
	pages, errs, _, ids := walkEmployees(t, c, PageOptions{Per: 10})
	if len(pages) != 5 || len(ids) != 50 || len(errs) != 1 || len(s.requests()) != 5 {
		t.Fatalf("pages %v errs %v requests %d", pages, errs, len(s.requests()))
	}
	e := as[*PageLimitError](t, errs[0])
	if e.Limit != 5 || e.NextPage != 6 || e.Op != opEmployees || Transient(errs[0]) {
		t.Errorf("PageLimitError %+v", e)
	}
	if !strings.Contains(e.Error(), "5 pages") {
		t.Errorf("error %q", e)
	}
	if c, _ := New(Options{BaseURL: "https://api.gusto.test"}); c.maxPages != DefaultMaxPages {
		t.Errorf("default MaxPages %d", c.maxPages)
	}
	if _, err := New(Options{BaseURL: "https://api.gusto.test", MaxPages: -1}); err == nil {
		t.Error("negative MaxPages accepted")
	}
}

func equalPages(a, b []pageSummary) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPayrollsFiltersAndPages(t *testing.T) {
	s := &listServer{total: 7, headers: true}
	c := newListClient(t, s, nil)
	o := PayrollOptions{PageOptions: PageOptions{Per: 5}, StartDate: "2025-01-01", EndDate: "2025-06-30",
		ProcessingStatuses: []string{"processed", "unprocessed"}, PayrollTypes: []string{"regular", "off_cycle"},
		Include: []string{"totals"}, DateFilterBy: "check_date", SortOrder: "asc"}
	var got []Payroll
	for p, err := range c.Payrolls(context.Background(), StaticToken(testAccess), testCompany, o) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Items...)
	}
	if len(got) != 7 || got[6].UUID != payrollUUID(6) {
		t.Fatalf("%d payrolls", len(got))
	}
	p := got[0]
	if p.UUID != payrollUUID(0) || p.CompanyUUID != testCompany || p.CheckDate != "2025-06-08" || !p.Processed || p.OffCycle ||
		p.PayPeriod.StartDate != "2025-05-20" || p.PayPeriod.EndDate != "2025-06-04" || p.ProcessedDate != "2025-06-11" || len(p.Raw) == 0 {
		t.Errorf("payroll %+v", p)
	}
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	want := map[string]string{"start_date": "2025-01-01", "end_date": "2025-06-30", "processing_statuses": "processed,unprocessed",
		"payroll_types": "regular,off_cycle", "include": "totals", "date_filter_by": "check_date", "sort_order": "asc", "per": "5"}
	for i, q := range reqs {
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, q.Get(k), v)
			}
		}
		if q.Get("page") != strconv.Itoa(i+1) {
			t.Errorf("request %d: page %q", i, q.Get("page"))
		}
	}
}

func TestPayrollIDFields(t *testing.T) {
	cases := map[string]string{
		`[{"uuid":"u1"}]`:                              "u1",
		`[{"payroll_uuid":"p1"}]`:                      "p1",
		`[{"payroll_uuid":"p1","uuid":"P1"}]`:          "p1",
		`[{"payroll_uuid":"p1","company_uuid":"C-1"}]`: "p1",
	}
	for body, want := range cases {
		ps, err := decodeList[Payroll]([]byte(body), "c-1")
		if err != nil || len(ps) != 1 || ps[0].UUID != want {
			t.Errorf("%s: %v %v", body, ps, err)
		}
	}
	for _, body := range []string{`[{"payroll_uuid":"p1","uuid":"p2"}]`, `[{"uuid":""}]`, `[{"payroll_uuid":"p1","company_uuid":"other"}]`} {
		if _, err := decodeList[Payroll]([]byte(body), "c-1"); err == nil {
			t.Errorf("%s decoded", body)
		}
	}
}
