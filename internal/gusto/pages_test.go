package gusto

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
)

// listServer serves total employees and total payrolls with page/per, and
// records each query. failPage, when set, answers that page with a 500.
type listServer struct {
	total    int
	failPage int
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
	from := min((page-1)*per, s.total)
	to := min(from+per, s.total)
	f := employeeJSON
	if r.PathValue("kind") == "payrolls" {
		f = payrollJSON
	}
	writeJSON(w, 200, jsonArray(from, to-from, f, r.PathValue("id")))
}

func (s *listServer) requests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.queries...)
}

func newListClient(t *testing.T, s *listServer) *Client {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/companies/{id}/{kind}", s)
	return newTestClient(t, mux, nil)
}

type pageSummary struct {
	number, n int
	first     string
	last      bool
}

func walkEmployees(t *testing.T, c *Client, o PageOptions) ([]pageSummary, []error) {
	t.Helper()
	var pages []pageSummary
	var errs []error
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
		}
		pages = append(pages, s)
	}
	return pages, errs
}

func TestEmployeesPagination(t *testing.T) {
	t.Run("to the short last page", func(t *testing.T) {
		s := &listServer{total: 25}
		pages, errs := walkEmployees(t, newListClient(t, s), PageOptions{Per: 10})
		want := []pageSummary{{1, 10, employeeUUID(0), false}, {2, 10, employeeUUID(10), false}, {3, 5, employeeUUID(20), true}}
		if len(errs) != 0 || !equalPages(pages, want) {
			t.Errorf("pages %v errs %v, want %v", pages, errs, want)
		}
		if len(s.requests()) != 3 {
			t.Errorf("%d requests, want 3", len(s.requests()))
		}
	})
	t.Run("exact multiple ends on an empty page", func(t *testing.T) {
		s := &listServer{total: 20}
		pages, _ := walkEmployees(t, newListClient(t, s), PageOptions{Per: 10})
		want := []pageSummary{{1, 10, employeeUUID(0), false}, {2, 10, employeeUUID(10), false}, {3, 0, "", true}}
		if !equalPages(pages, want) {
			t.Errorf("pages %v, want %v", pages, want)
		}
	})
	t.Run("resume from a checkpointed page", func(t *testing.T) {
		s := &listServer{total: 25}
		pages, _ := walkEmployees(t, newListClient(t, s), PageOptions{Page: 2, Per: 10})
		want := []pageSummary{{2, 10, employeeUUID(10), false}, {3, 5, employeeUUID(20), true}}
		if !equalPages(pages, want) {
			t.Errorf("pages %v, want %v", pages, want)
		}
		if q := s.requests()[0]; q.Get("page") != "2" || q.Get("per") != "10" {
			t.Errorf("first query %v", q)
		}
	})
	t.Run("default per", func(t *testing.T) {
		s := &listServer{total: 3}
		pages, _ := walkEmployees(t, newListClient(t, s), PageOptions{})
		if len(pages) != 1 || !pages[0].last || s.requests()[0].Get("per") != strconv.Itoa(DefaultPer) || s.requests()[0].Get("page") != "1" {
			t.Errorf("pages %v queries %v", pages, s.requests())
		}
	})
	t.Run("break stops fetching", func(t *testing.T) {
		s := &listServer{total: 100}
		c := newListClient(t, s)
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
		pages, errs := walkEmployees(t, newListClient(t, s), PageOptions{Per: 10})
		if len(pages) != 1 || len(errs) != 1 || len(s.requests()) != 2 {
			t.Fatalf("pages %v errs %v requests %d", pages, errs, len(s.requests()))
		}
		as[*ServerError](t, errs[0])
	})
	t.Run("bad company id is an error, not a request", func(t *testing.T) {
		s := &listServer{total: 1}
		c := newListClient(t, s)
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
	s := &listServer{total: 7}
	c := newListClient(t, s)
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
