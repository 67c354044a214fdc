package checkpoint_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/waitfor"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func employees(company string, from, n int, version string) []checkpoint.Row {
	rows := make([]checkpoint.Row, n)
	for i := range n {
		id := uuid.NewSHA1(uuid.MustParse(company), []byte(strconv.Itoa(from+i))).String()
		payload, _ := json.Marshal(map[string]any{"uuid": id, "company_uuid": company, "first_name": "F" + strconv.Itoa(from+i), "version": version})
		rows[i] = employeeRow(id, "F"+strconv.Itoa(from+i), "", "", version, payload)
	}
	return rows
}

// employeeRow is a row of gusto_employees (checkpoint.EmployeesTable).
func employeeRow(id, first, last, email, version string, payload json.RawMessage) checkpoint.Row {
	return checkpoint.Row{UUID: id, Values: checkpoint.Values{first, last, email, false, version}, Payload: payload}
}

// payrollRow is a row of gusto_payrolls (checkpoint.PayrollsTable).
func payrollRow(id, check string, processed bool, start, end string, payload json.RawMessage) checkpoint.Row {
	return checkpoint.Row{UUID: id, Values: checkpoint.Values{check, processed, false, start, end}, Payload: payload}
}

func count(t *testing.T, db *gorm.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// silence ages the company's fence heartbeat far past any lease: its
// attempt looks dead (a killed or frozen worker).
func silence(t *testing.T, db *gorm.DB, company string) {
	t.Helper()
	if err := db.Exec(`UPDATE sync_fences SET heartbeat_at = now() - interval '1 hour' WHERE company_uuid = ?`, company).Error; err != nil {
		t.Fatal(err)
	}
}

func TestClaimCommitResume(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company, run := uuid.NewString(), uuid.NewString()

	a, err := s.Claim(ctx, run, company, "w1", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if a.Epoch != 1 || a.Number != 1 || a.Resumed() {
		t.Fatalf("first claim: epoch %d number %d resumed %v", a.Epoch, a.Number, a.Resumed())
	}
	res, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 500, "v1"), Next: "6"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 500 || res.Changed != 500 || res.Position.Records != 500 || res.Position.Cursor != "6" {
		t.Fatalf("result %+v", res)
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM gusto_employees WHERE company_uuid = ?`, company); n != 500 {
		t.Fatalf("rows = %d, want 500", n)
	}

	// A retry of the same run (its first attempt died) resumes from the
	// checkpoint.
	silence(t, db.Gorm, company)
	b, err := s.Claim(ctx, run, company, "w2", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if b.Epoch != 2 || b.Number != 2 || !b.Resumed() {
		t.Fatalf("second claim: epoch %d number %d resumed %v", b.Epoch, b.Number, b.Resumed())
	}
	if p := b.Position(checkpoint.ResourceEmployees); p.Cursor != "6" || p.Records != 500 || p.Done {
		t.Fatalf("resumed position %+v", p)
	}
	if _, err := b.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 500, 20, "v1"), Done: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Finish(ctx, checkpoint.StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	var status string
	var records, changed int64
	var attempts int
	if err := db.Gorm.Raw(`SELECT status, records_synced, rows_changed, attempts FROM sync_runs WHERE id = ?`, run).Row().Scan(&status, &records, &changed, &attempts); err != nil {
		t.Fatal(err)
	}
	if status != "succeeded" || records != 520 || changed != 520 || attempts != 2 {
		t.Fatalf("run row: status %s records %d changed %d attempts %d", status, records, changed, attempts)
	}
	// A finished run cannot be claimed again.
	var fin *checkpoint.FinishedError
	if _, err := s.Claim(ctx, run, company, "w3", checkpoint.KindFull); !errors.As(err, &fin) || fin.Status != checkpoint.StatusSucceeded {
		t.Fatalf("claim of a finished run: %v", err)
	}
}

func TestUnchangedCompanyWritesNothing(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company := uuid.NewString()

	sync := func(version string, mutate int) checkpoint.Result {
		a, err := s.Claim(ctx, uuid.NewString(), company, "w", checkpoint.KindFull)
		if err != nil {
			t.Fatal(err)
		}
		rows := employees(company, 0, 300, "v1")
		if mutate >= 0 {
			rows[mutate] = employees(company, mutate, 1, version)[0]
		}
		res, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: rows, Done: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Finish(ctx, checkpoint.StatusSucceeded, ""); err != nil {
			t.Fatal(err)
		}
		return res
	}
	if r := sync("", -1); r.Changed != 300 {
		t.Fatalf("first sync changed %d, want 300", r.Changed)
	}
	var xmin string
	if err := db.Gorm.Raw(`SELECT string_agg(xmin::text, ',' ORDER BY uuid) FROM gusto_employees`).Row().Scan(&xmin); err != nil {
		t.Fatal(err)
	}
	if r := sync("", -1); r.Changed != 0 || r.Records != 300 {
		t.Fatalf("unchanged sync: %+v, want 300 records and 0 changed", r)
	}
	var xmin2 string
	if err := db.Gorm.Raw(`SELECT string_agg(xmin::text, ',' ORDER BY uuid) FROM gusto_employees`).Row().Scan(&xmin2); err != nil {
		t.Fatal(err)
	}
	if xmin != xmin2 {
		t.Fatal("an unchanged sync rewrote rows")
	}
	if r := sync("v2", 7); r.Changed != 1 {
		t.Fatalf("one changed record: changed %d, want 1", r.Changed)
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM gusto_employees WHERE version = 'v2'`); n != 1 {
		t.Fatalf("key column not updated: %d rows at v2", n)
	}
}

func TestZombieOfSameRunIsFenced(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company, run := uuid.NewString(), uuid.NewString()

	zombie, err := s.Claim(ctx, run, company, "old", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zombie.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 100, "v1"), Next: "2"}); err != nil {
		t.Fatal(err)
	}
	// While the first attempt heartbeats, a second attempt of the run (a
	// duplicate task) stands aside.
	var busy *checkpoint.BusyError
	if _, err := s.Claim(ctx, run, company, "dup", checkpoint.KindFull); !errors.As(err, &busy) || busy.Holder != run {
		t.Fatalf("claim of the run while its attempt is alive: %v, want *BusyError", err)
	}
	// The first attempt freezes (SIGSTOP) and its heartbeat goes stale;
	// asynq re-runs the task, and then the frozen attempt wakes.
	silence(t, db.Gorm, company)
	fresh, err := s.Claim(ctx, run, company, "new", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	var fenced *checkpoint.FencedError
	_, err = zombie.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 100, 100, "zombie"), Next: "3"})
	if !errors.As(err, &fenced) || fenced.Op != "commit" || fenced.Epoch != 1 {
		t.Fatalf("zombie commit: %v, want *FencedError", err)
	}
	if err := zombie.Heartbeat(ctx); !errors.As(err, &fenced) {
		t.Fatalf("zombie heartbeat: %v", err)
	}
	if err := zombie.Finish(ctx, checkpoint.StatusFailed, "x"); !errors.As(err, &fenced) {
		t.Fatalf("zombie finish: %v", err)
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM gusto_employees`); n != 100 {
		t.Fatalf("rows = %d after the fenced commit, want 100", n)
	}
	var cursor string
	var epoch int64
	if err := db.Gorm.Raw(`SELECT cursor, epoch FROM sync_checkpoints WHERE company_uuid = ? AND resource = 'employees'`, company).Row().Scan(&cursor, &epoch); err != nil {
		t.Fatal(err)
	}
	if cursor != "2" || epoch != 1 {
		t.Fatalf("checkpoint moved by a fenced commit: cursor %q epoch %d", cursor, epoch)
	}
	if p := fresh.Position(checkpoint.ResourceEmployees); p.Cursor != "2" || p.Records != 100 {
		t.Fatalf("re-run resumes at %+v", p)
	}
	if err := fresh.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOtherRunsOfTheCompany(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{Lease: time.Minute})
	company, runA, runB := uuid.NewString(), uuid.NewString(), uuid.NewString()
	status := func(run string) (string, string) {
		t.Helper()
		var st, reason string
		if err := db.Gorm.Raw(`SELECT status, error FROM sync_runs WHERE id = ?`, run).Row().Scan(&st, &reason); err != nil {
			t.Fatal(err)
		}
		return st, reason
	}

	a, err := s.Claim(ctx, runA, company, "wa", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 10, "v1"), Next: "2"}); err != nil {
		t.Fatal(err)
	}
	// While A's heartbeat is fresh, B is coalesced into it: B ends stopped,
	// and A is undisturbed.
	var fin *checkpoint.FinishedError
	if _, err := s.Claim(ctx, runB, company, "wb", checkpoint.KindFull); !errors.As(err, &fin) || fin.Status != checkpoint.StatusStopped || !strings.Contains(fin.Reason, runA) {
		t.Fatalf("claim while A runs: %v, want coalesced (stopped)", err)
	}
	if st, reason := status(runB); st != "stopped" || !strings.Contains(reason, "coalesced") {
		t.Fatalf("coalesced run: %s %q", st, reason)
	}
	if err := a.Heartbeat(ctx); err != nil {
		t.Fatalf("A was disturbed by a coalesced claim: %v", err)
	}
	// A goes silent (a crashed worker): its heartbeat ages past the lease.
	// The next run continues A's progress instead of starting over.
	silence(t, db.Gorm, company)
	runC := uuid.NewString()
	c, err := s.Claim(ctx, runC, company, "wc", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Resumed() || c.Continues != runA || c.Position(checkpoint.ResourceEmployees) != (checkpoint.Position{Cursor: "2", Records: 10}) {
		t.Fatalf("the next run must carry A's progress over: continues %q, position %+v", c.Continues, c.Position(checkpoint.ResourceEmployees))
	}
	// A's zombie cannot write; A's retry finds it superseded.
	var fenced *checkpoint.FencedError
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 10, 10, "zombie")}); !errors.As(err, &fenced) {
		t.Fatalf("old run's commit: %v", err)
	}
	if _, err := s.Claim(ctx, runA, company, "wa", checkpoint.KindFull); !errors.As(err, &fin) || fin.Status != checkpoint.StatusStopped {
		t.Fatalf("old run's re-claim: %v", err)
	}
	if st, reason := status(runA); st != "stopped" || reason != "superseded by run "+runC+", which carried its progress over" {
		t.Fatalf("superseded run: %s %q", st, reason)
	}
	if n := count(t, db.Gorm, `SELECT records_synced FROM sync_runs WHERE id = ?`, runC); n != 10 {
		t.Fatalf("the continuing run reports %d records, want A's 10 carried over", n)
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM gusto_employees`); n != 10 {
		t.Fatalf("rows = %d", n)
	}

	// A run that gives up for a retry (pending) lets another run in at
	// once, which continues from it too.
	if _, err := c.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 10, 10, "v1"), Next: "3"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(ctx, checkpoint.StatusPending, "gusto: 503"); err != nil {
		t.Fatal(err)
	}
	runD := uuid.NewString()
	d, err := s.Claim(ctx, runD, company, "wd", checkpoint.KindFull)
	if err != nil {
		t.Fatalf("claim after a pending finish: %v", err)
	}
	if d.Continues != runC || d.Position(checkpoint.ResourceEmployees) != (checkpoint.Position{Cursor: "3", Records: 20}) {
		t.Fatalf("run after a pending one: continues %q at %+v", d.Continues, d.Position(checkpoint.ResourceEmployees))
	}
	if st, _ := status(runC); st != "stopped" {
		t.Fatalf("superseded pending run is %s", st)
	}
	// After a run that succeeded, the next one starts from the beginning.
	if _, err := d.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Done: true}); err != nil {
		t.Fatal(err)
	}
	if err := d.Finish(ctx, checkpoint.StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	e, err := s.Claim(ctx, uuid.NewString(), company, "we", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if e.Resumed() || e.Continues != "" || e.Position(checkpoint.ResourceEmployees) != (checkpoint.Position{}) {
		t.Fatalf("a run after a complete sync must start over: continues %q at %+v", e.Continues, e.Position(checkpoint.ResourceEmployees))
	}

	// A run id reused for another company is refused.
	var mis *checkpoint.MismatchError
	if _, err := s.Claim(ctx, runC, uuid.NewString(), "w", checkpoint.KindFull); !errors.As(err, &mis) {
		t.Fatalf("run of another company: %v", err)
	}
}

// TestCommitRacesClaim runs a stream of commits against a claim of the same
// run: every commit lands entirely before the claim or changes nothing, so
// the re-claimed position always equals the rows stored.
func TestCommitRacesClaim(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	// The claimer takes any heartbeat for stale: the committing attempt is
	// a zombie that does not know it was presumed dead.
	claimer := checkpoint.NewStore(db.Gorm, checkpoint.Options{Lease: time.Microsecond})
	for round := range 5 {
		company, run := uuid.NewString(), uuid.NewString()
		old, err := s.Claim(ctx, run, company, "old", checkpoint.KindFull)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		commits := make(chan int, 100)
		wg.Go(func() {
			for i := 0; ; i++ {
				_, err := old.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, i*50, 50, "v"), Next: strconv.Itoa(i + 1)})
				var fenced *checkpoint.FencedError
				if errors.As(err, &fenced) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				select {
				case commits <- i:
				case <-ctx.Done():
					t.Error("commits never fenced")
					return
				}
			}
		})
		// Let some commits land, then claim in the middle of the stream.
		for range 3 + round {
			select {
			case <-commits:
			case <-ctx.Done():
				t.Fatal("no commits")
			}
		}
		fresh, err := claimer.Claim(ctx, run, company, "new", checkpoint.KindFull)
		if err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(commits)
		p := fresh.Position(checkpoint.ResourceEmployees)
		rows := count(t, db.Gorm, `SELECT count(*) FROM gusto_employees WHERE company_uuid = ?`, company)
		if p.Records != rows {
			t.Fatalf("round %d: checkpoint says %d records, table holds %d", round, p.Records, rows)
		}
		if p.Cursor != strconv.Itoa(int(rows/50)) {
			t.Fatalf("round %d: cursor %q for %d rows", round, p.Cursor, rows)
		}
	}
}

func TestCommitIsAtomic(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company, run := uuid.NewString(), uuid.NewString()
	a, err := s.Claim(ctx, run, company, "w", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint write fails after the rows were upserted.
	if err := db.Gorm.Exec(`
CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON sync_checkpoints FOR EACH ROW EXECUTE FUNCTION refuse();`).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 10, "v"), Next: "2"}); err == nil {
		t.Fatal("commit succeeded through a failing checkpoint write")
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM gusto_employees`); n != 0 {
		t.Fatalf("%d rows stored without their checkpoint", n)
	}
	if p := a.Position(checkpoint.ResourceEmployees); p != (checkpoint.Position{}) {
		t.Fatalf("in-memory position moved: %+v", p)
	}
	if err := db.Gorm.Exec(`DROP TRIGGER refuse ON sync_checkpoints`).Error; err != nil {
		t.Fatal(err)
	}
	// A payload PostgreSQL refuses (\u0000 in jsonb) fails the whole batch too.
	bad := employees(company, 0, 3, "v")
	bad[2].Payload = json.RawMessage(`{"x":"\u0000"}`)
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: bad, Next: "9"}); err == nil {
		t.Fatal("commit of a payload jsonb refuses succeeded")
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM sync_checkpoints`); n != 0 {
		t.Fatalf("checkpoint advanced without its rows: %d", n)
	}
}

func TestBatchValidation(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company := uuid.NewString()
	a, err := s.Claim(ctx, uuid.NewString(), company, "w", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	var be *checkpoint.BatchError
	cases := []checkpoint.Batch{
		{Resource: "invoices"},
		{Resource: checkpoint.ResourcePayrolls, Rows: employees(company, 0, 1, "v")},
		{Resource: checkpoint.ResourceEmployees, Rows: []checkpoint.Row{employeeRow("not-a-uuid", "", "", "", "", json.RawMessage(`{}`))}},
		{Resource: checkpoint.ResourceEmployees, Rows: []checkpoint.Row{employeeRow(uuid.NewString(), "", "", "", "", nil)}},
		{Resource: checkpoint.ResourceEmployees, Rows: []checkpoint.Row{{UUID: uuid.NewString(), Values: checkpoint.Values{"a"}, Payload: json.RawMessage(`{}`)}}},
	}
	for i, b := range cases {
		if _, err := a.Commit(ctx, b); !errors.As(err, &be) {
			t.Errorf("case %d: %v, want *BatchError", i, err)
		}
	}
	if _, err := s.Claim(ctx, "nope", company, "w", checkpoint.KindFull); err == nil {
		t.Error("claim with a malformed run id succeeded")
	}

	// Repeated records inside a batch keep the last one; bad dates become NULL.
	id := uuid.NewString()
	rows := []checkpoint.Row{
		payrollRow(id, "2024-01-31", false, "", "", json.RawMessage(`{"n":1}`)),
		payrollRow(id, "31/01/2024", true, "2024-01-01", "", json.RawMessage(`{"n":2}`)),
		{UUID: company, Values: checkpoint.Values{"", "", ""}, Payload: json.RawMessage(`{}`)},
	}
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourcePayrolls, Rows: rows[:2], Done: true}); err != nil {
		t.Fatal(err)
	}
	var check sql.NullString
	var start string
	var processed bool
	var n int
	if err := db.Gorm.Raw(`SELECT check_date::text, pay_period_start::text, processed, (payload->>'n')::int FROM gusto_payrolls WHERE uuid = ?`, id).Row().Scan(&check, &start, &processed, &n); err != nil {
		t.Fatal(err)
	}
	if check.Valid || start != "2024-01-01" || !processed || n != 2 {
		t.Fatalf("payroll row: check %v start %s processed %v n %d", check, start, processed, n)
	}
	res, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceCompany, Rows: rows[2:], Done: true})
	if err != nil || res.Changed != 1 {
		t.Fatalf("company commit: %+v %v", res, err)
	}
}

// A holder frozen inside a transaction (SIGSTOP mid-commit) must not block
// the attempt that replaces it: waits for the fence lock are bounded, and
// PostgreSQL ends the frozen session once it idles past TxIdleTimeout.
func TestFrozenHolderDoesNotBlockTheFence(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	company, run := uuid.NewString(), uuid.NewString()
	// A microsecond lease: the second claim takes the first attempt for dead.
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{Lease: time.Microsecond, LockTimeout: 300 * time.Millisecond, TxIdleTimeout: time.Second})
	if _, err := s.Claim(ctx, run, company, "w", checkpoint.KindFull); err != nil {
		t.Fatal(err)
	}
	// A transaction that took the fence lock, then froze.
	locked := make(chan error, 1)
	thaw := make(chan struct{})
	frozen := make(chan error, 1)
	go func() {
		frozen <- postgres.InTx(ctx, db.Gorm, postgres.TxOptions{IdleTimeout: time.Second}, func(tx *gorm.DB) error {
			err := tx.Exec(`UPDATE sync_fences SET heartbeat_at = now() WHERE company_uuid = ?`, company).Error
			locked <- err
			<-thaw
			return tx.Exec(`SELECT 1`).Error
		})
	}()
	if err := <-locked; err != nil {
		t.Fatal(err)
	}
	// The claim gives up after the lock timeout instead of hanging…
	if _, err := s.Claim(ctx, run, company, "w2", checkpoint.KindFull); err == nil || !strings.Contains(err.Error(), "lock timeout") {
		close(thaw)
		t.Fatalf("claim behind a frozen lock holder: %v, want a lock timeout", err)
	}
	// …and succeeds once PostgreSQL has ended the frozen session.
	waitfor.Condition(t, 20*time.Second, "a claim to succeed once the frozen session ended", func() bool {
		_, err := s.Claim(ctx, run, company, "w2", checkpoint.KindFull)
		return err == nil
	})
	close(thaw)
	if err := <-frozen; err == nil {
		t.Fatal("the frozen session survived its idle timeout")
	}
}

// A run that ended failed (a company that needed re-authorization) keeps
// its status, and the company's next run continues from its progress.
func TestFailedRunsProgressIsCarriedOver(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company, runA, runB := uuid.NewString(), uuid.NewString(), uuid.NewString()
	a, err := s.Claim(ctx, runA, company, "wa", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceCompany, Done: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 7, "v1"), Next: "2"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Finish(ctx, checkpoint.StatusFailed, "company needs re-authorization"); err != nil {
		t.Fatal(err)
	}
	b, err := s.Claim(ctx, runB, company, "wb", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if b.Continues != runA || !b.Position(checkpoint.ResourceCompany).Done ||
		b.Position(checkpoint.ResourceEmployees) != (checkpoint.Position{Cursor: "2", Records: 7}) {
		t.Fatalf("run after a failed one: continues %q, company %+v, employees %+v", b.Continues,
			b.Position(checkpoint.ResourceCompany), b.Position(checkpoint.ResourceEmployees))
	}
	var status string
	if err := db.Gorm.Raw(`SELECT status FROM sync_runs WHERE id = ?`, runA).Row().Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "failed" {
		t.Fatalf("the failed run is now %s", status)
	}
}
