package jobs_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
)

// TestShiftedWalkAfterA503MarksNothing (issue 19 item 2): a record of page
// 1 is deleted in Gusto while the request for page 2 fails with a 503; the
// retry's page 2 starts one record later, so the record that moved onto
// page 1 is never listed. The walk's state carried across the retry finds
// the headers changed, voids the walk, and the full run marks nothing
// deleted (today each iterator restarted the check, and the moved record
// was marked deleted).
func TestShiftedWalkAfterA503MarksNothing(t *testing.T) {
	t.Parallel()
	var armed atomic.Bool
	var company, victim string
	var sim *gustosim.Sim
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/employees") && r.URL.Query().Get("page") == "2" && armed.CompareAndSwap(true, false) {
				if err := sim.DeleteRecord(company, "employees", victim); err != nil {
					t.Error(err)
				}
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}, wrap: wrap})
	sim = e.sim
	ctx := testCtx(t, time.Minute)
	company = e.company(250, 10, nil)
	h := e.handler(nil)
	if err := h.ProcessTask(ctx, task(t, company, uuid.NewString())); err != nil {
		t.Fatal(err)
	}
	records, err := e.sim.Records(company, "employees")
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{}
	for i, raw := range records {
		var r struct{ UUID string }
		_ = json.Unmarshal(raw, &r)
		index[r.UUID] = i
	}
	deletable, err := e.sim.DeletableRecords(company, "employees")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range deletable {
		if index[id] < 100 {
			victim = id
			break
		}
	}
	var moved struct{ UUID string }
	_ = json.Unmarshal(records[100], &moved) // first of page 2: moves onto page 1
	if victim == "" {
		t.Fatal("no deletable employee on page 1")
	}

	armed.Store(true)
	run := uuid.NewString()
	if err := h.ProcessTask(ctx, task(t, company, run)); err != nil {
		t.Fatal(err)
	}
	if armed.Load() {
		t.Fatal("the 503 was never served")
	}
	if n := e.scalar(`SELECT count(*) FROM gusto_employees WHERE uuid = ? AND deleted_at IS NULL`, moved.UUID); n != "1" {
		t.Fatalf("the employee that moved onto page 1 between the 503 and its retry is marked deleted")
	}
	if n := e.scalar(`SELECT count(*) FROM gusto_employees WHERE company_uuid = ? AND deleted_at IS NOT NULL`, company); n != "0" {
		t.Fatalf("%s employees marked deleted after a walk Gusto's headers call unreliable, want 0", n)
	}
	if notes := e.scalar(`SELECT notes FROM sync_runs WHERE id = ?`, run); !strings.Contains(notes, "employees: pagination disagrees") {
		t.Fatalf("run notes %q, want the mismatch noted", notes)
	}
	if n := e.scalar(`SELECT count(*) FROM company_full_syncs WHERE company_uuid = ? AND run_id = ?`, company, run); n != "0" {
		t.Fatal("an unreliable full walk was recorded as the company's full sync")
	}
	// The next full walk is consistent: it marks the deleted one only.
	if err := h.ProcessTask(ctx, task(t, company, uuid.NewString())); err != nil {
		t.Fatal(err)
	}
	if n := e.scalar(`SELECT string_agg(uuid::text, ',') FROM gusto_employees WHERE company_uuid = ? AND deleted_at IS NOT NULL`, company); n != victim {
		t.Fatalf("after a consistent full walk, deleted %q, want the victim %s", n, victim)
	}
}

// testLinesTable is a substream's table: a made-up per-payroll collection
// of lines, each with derived parts (the shape of issue 20's pay
// statements and their earning/tax lines).
var testLinesTable = &checkpoint.Table{
	Resource: "test_lines", Name: "test_lines", Owned: true, Reconcile: checkpoint.ReconcileAll,
	Columns: []checkpoint.Column{{Name: "payroll_uuid", Kind: checkpoint.Text}, {Name: "amount", Kind: checkpoint.Numeric}},
	Children: []checkpoint.ChildTable{{Name: "test_line_parts", Parent: "line_uuid", Columns: []checkpoint.Column{
		{Name: "name", Kind: checkpoint.Text}, {Name: "amount", Kind: checkpoint.Numeric}}}},
}

const testLinesSQL = `
CREATE TABLE test_lines (uuid uuid PRIMARY KEY, company_uuid uuid NOT NULL, payroll_uuid text NOT NULL, amount numeric,
    payload jsonb NOT NULL, synced_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz);
CREATE TABLE test_line_parts (line_uuid uuid NOT NULL, company_uuid uuid NOT NULL, position int NOT NULL, name text NOT NULL,
    amount numeric, PRIMARY KEY (line_uuid, position))`

// testLines is the descriptor: GET /v1/companies/{id}/payrolls/{payroll}/lines
// (served by linesServer), per payroll, paged, each line's parts derived.
var testLines = &jobs.Resource{
	Table:  testLinesTable,
	Scope:  "payrolls:read",
	Parent: jobs.PayrollsResource,
	Fetch: jobs.ListRows(func(q jobs.Query) gusto.ListRequest {
		return gusto.ListRequest{Op: "GET /v1/companies/{company_id}/payrolls/{payroll_id}/lines", Path: "/payrolls/" + q.Parent + "/lines", Field: "lines"}
	}, func(q jobs.Query, item json.RawMessage) (checkpoint.Row, error) {
		var l struct {
			UUID   string `json:"uuid"`
			Amount string `json:"amount"`
			Parts  []struct {
				Name   string `json:"name"`
				Amount string `json:"amount"`
			} `json:"parts"`
		}
		if err := json.Unmarshal(item, &l); err != nil {
			return checkpoint.Row{}, err
		}
		parts := make([]checkpoint.Values, len(l.Parts))
		for i, p := range l.Parts {
			parts[i] = checkpoint.Values{p.Name, p.Amount}
		}
		return checkpoint.Row{UUID: l.UUID, Values: checkpoint.Values{q.Parent, l.Amount}, Payload: item, Children: [][]checkpoint.Values{parts}}, nil
	}),
}

// linesServer serves testLines's endpoint in front of the simulator: three
// lines per payroll (pages of Gusto's shape and headers), each of two
// parts, or one part for the payrolls in short; it counts requests per
// payroll.
type linesServer struct {
	mu       sync.Mutex
	requests map[string]int
	short    map[string]bool
}

func (l *linesServer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.URL.Path, "/") // "", v1, companies, id, payrolls, payroll, lines
		if len(parts) != 7 || parts[6] != "lines" {
			next.ServeHTTP(w, r)
			return
		}
		payroll := parts[5]
		l.mu.Lock()
		l.requests[payroll]++
		short := l.short[payroll]
		l.mu.Unlock()
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		per, _ := strconv.Atoi(r.URL.Query().Get("per"))
		const total = 3
		var items []string
		for i := (page - 1) * per; i < min(total, page*per); i++ {
			id := uuid.NewSHA1(uuid.MustParse(payroll), []byte(strconv.Itoa(i))).String()
			ps := `[{"name":"gross","amount":"100.10"},{"name":"tax","amount":"-20.02"}]`
			if short {
				ps = `[{"name":"gross","amount":"100.10"}]`
			}
			items = append(items, fmt.Sprintf(`{"uuid":%q,"amount":"80.08","parts":%s}`, id, ps))
		}
		w.Header().Set("X-Page", strconv.Itoa(page))
		w.Header().Set("X-Per-Page", strconv.Itoa(per))
		w.Header().Set("X-Total-Count", strconv.Itoa(total))
		w.Header().Set("X-Total-Pages", strconv.Itoa((total+per-1)/per))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"payroll_uuid":%q,"lines":[%s]}`, payroll, strings.Join(items, ","))
	})
}

func (l *linesServer) take() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.requests
	l.requests = map[string]int{}
	return out
}

// TestSubstreamPerParentWithChildRows: a resource declared as a substream
// of the payrolls, with derived child rows, goes through the one engine: a
// full run reads every payroll's lines (paged) and their parts; an
// incremental run reads again only the payrolls that are not final
// (unprocessed) or changed, and a line rewritten replaces its parts in the
// same commit; unchanged lines are not rewritten.
func TestSubstreamPerParentWithChildRows(t *testing.T) {
	t.Parallel()
	lines := &linesServer{requests: map[string]int{}, short: map[string]bool{}}
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}, wrap: lines.wrap})
	ctx := testCtx(t, time.Minute)
	if err := e.db.Gorm.Exec(testLinesSQL).Error; err != nil {
		t.Fatal(err)
	}
	company := e.company(5, 12, nil)
	cps := checkpoint.NewStore(e.db.Gorm, checkpoint.Options{Tables: []*checkpoint.Table{testLinesTable}})
	h := e.handler(func(c *jobs.Config) {
		c.Checkpoints = cps
		c.PageSize = 2
		c.Resources = append(jobs.DefaultSelection(), jobs.Selection{Resource: testLines})
	})
	if err := h.ProcessTask(ctx, task(t, company, uuid.NewString())); err != nil {
		t.Fatal(err)
	}
	e.requireExact(company)
	var payrolls []struct {
		UUID      string
		Processed bool
	}
	if err := e.db.Gorm.Raw(`SELECT uuid::text AS uuid, processed FROM gusto_payrolls WHERE company_uuid = ? ORDER BY uuid`, company).Scan(&payrolls).Error; err != nil {
		t.Fatal(err)
	}
	reqs := lines.take()
	var unprocessed []string
	for _, p := range payrolls {
		if reqs[p.UUID] != 2 { // 3 lines, 2 per page
			t.Fatalf("full run: payroll %s's lines requested %d times, want 2 pages", p.UUID, reqs[p.UUID])
		}
		if !p.Processed {
			unprocessed = append(unprocessed, p.UUID)
		}
	}
	if len(unprocessed) == 0 || len(unprocessed) == len(payrolls) {
		t.Fatalf("%d of %d payrolls unprocessed: the test needs both kinds", len(unprocessed), len(payrolls))
	}
	if n := e.scalar(`SELECT count(*) FROM test_lines WHERE company_uuid = ?`, company); n != strconv.Itoa(3*len(payrolls)) {
		t.Fatalf("%s lines, want %d", n, 3*len(payrolls))
	}
	if n := e.scalar(`SELECT count(*) FROM test_line_parts WHERE company_uuid = ?`, company); n != strconv.Itoa(6*len(payrolls)) {
		t.Fatalf("%s parts, want %d", n, 6*len(payrolls))
	}
	cents := 24024 * len(payrolls) // 3 lines of 100.10 and -20.02
	if sum := e.scalar(`SELECT sum(amount)::text FROM test_line_parts WHERE company_uuid = ?`, company); sum != fmt.Sprintf("%d.%02d", cents/100, cents%100) {
		t.Fatalf("parts sum to %s", sum)
	}

	// An unprocessed payroll's lines change in Gusto (one part each now).
	lines.mu.Lock()
	lines.short[unprocessed[0]] = true
	lines.mu.Unlock()
	inc := uuid.NewString()
	if err := h.ProcessTask(ctx, kindTask(t, company, inc, checkpoint.KindIncremental)); err != nil {
		t.Fatal(err)
	}
	reqs = lines.take()
	for _, p := range payrolls {
		want := 0
		if !p.Processed {
			want = 2
		}
		if reqs[p.UUID] != want {
			t.Fatalf("incremental run: payroll %s (processed %v) read %d times, want %d", p.UUID, p.Processed, reqs[p.UUID], want)
		}
	}
	if n := e.scalar(`SELECT count(*) FROM test_line_parts p JOIN test_lines l ON l.uuid = p.line_uuid WHERE l.payroll_uuid = ?`, unprocessed[0]); n != "3" {
		t.Fatalf("the changed payroll's lines have %s parts, want 3 (replaced with their line)", n)
	}
	if r := readRun(t, e.db.Gorm, inc); r.Status != "succeeded" || r.Changed != 3 {
		t.Fatalf("incremental run: %+v, want the 3 changed lines rewritten and nothing else", r)
	}
	// A full run reads every payroll's lines again.
	if err := h.ProcessTask(ctx, task(t, company, uuid.NewString())); err != nil {
		t.Fatal(err)
	}
	reqs = lines.take()
	for _, p := range payrolls {
		if reqs[p.UUID] != 2 {
			t.Fatalf("second full run: payroll %s's lines requested %d times, want 2", p.UUID, reqs[p.UUID])
		}
	}
}
