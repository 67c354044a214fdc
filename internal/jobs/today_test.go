package jobs_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/apiversion"
	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/ratelimit"
	"github.com/gustosync/gustosync/internal/tokens"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

// Tests of the client against today's Gusto, as the simulator models it by
// default (docs/gusto-api.md): a minimum API version, documented pagination,
// and every reading of the payroll date filter.

// clientWith is a Gusto client on the env's simulator, without limiter or
// skew hook; mod adjusts its options.
func (e *env) clientWith(mod func(*gusto.Options)) *gusto.Client {
	e.t.Helper()
	o := gusto.Options{BaseURL: e.url, ClientID: clientID, ClientSecret: clientSecret, RedirectURI: redirectURI}
	if mod != nil {
		mod(&o)
	}
	c, err := gusto.New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// requireExact fails unless the stored rows of company equal the
// simulator's records, as sets.
func (e *env) requireExact(company string) {
	e.t.Helper()
	sqlDB, err := e.db.Gorm.DB()
	if err != nil {
		e.t.Fatal(err)
	}
	rowcheck.Require(e.t.(*testing.T), sqlDB, e.sim, company)
}

func (e *env) scalar(q string, args ...any) string {
	e.t.Helper()
	var v string
	if err := e.db.Gorm.Raw(q, args...).Row().Scan(&v); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return v
}

// TestAPIVersionRefusedIsFleetWide: Gusto answering 406 to a retired
// X-Gusto-API-Version marks no company, alerts once however many attempts
// hit it, backs the task off for minutes without counting the attempt, and
// the same run completes once the workers send a supported version.
func TestAPIVersionRefusedIsFleetWide(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}}) // minimum version: the default, 2025-11-15
	ctx := testCtx(t, time.Minute)
	company := e.company(40, 30, nil)
	versions := apiversion.NewStore(e.db.Gorm, 0)
	const retired = "2025-06-15"
	stale := e.handler(func(c *jobs.Config) {
		c.API = e.clientWith(func(o *gusto.Options) { o.APIVersion = retired })
		c.APIVersions, c.APIVersion = versions, retired
	})
	run := uuid.NewString()
	for attempt := 1; attempt <= 3; attempt++ {
		err := stale.ProcessTask(ctx, task(t, company, run))
		var re *jobs.RetryError
		var ve *gusto.APIVersionError
		if !errors.As(err, &re) || re.Failure || re.Delay < jobs.APIVersionRetryDelay || !errors.As(err, &ve) || ve.Version != retired {
			t.Fatalf("attempt %d with a retired version: %v, want an uncounted retry after at least %s carrying *gusto.APIVersionError", attempt, err, jobs.APIVersionRetryDelay)
		}
	}
	if st := e.scalar(`SELECT status FROM gusto_auth_tokens WHERE company_uuid = ?`, company); st != "active" {
		t.Fatalf("company %s after 406s, want active: a refused API version is nobody's grant", st)
	}
	if n := e.scalar(`SELECT count(*) FROM alert_outbox WHERE kind = 'gusto.api_version_rejected'`); n != "1" {
		t.Fatalf("%s API-version alerts after 3 refused attempts, want 1", n)
	}
	if n := e.scalar(`SELECT count(*) FROM alert_outbox WHERE kind <> 'gusto.api_version_rejected'`); n != "0" {
		t.Fatalf("%s company alerts after 406s, want none", n)
	}
	if st := e.scalar(`SELECT status FROM sync_runs WHERE id = ?`, run); st != "pending" {
		t.Fatalf("run %s, want pending (it resumes once the version is fixed)", st)
	}
	cur, err := versions.Current(ctx)
	if err != nil || len(cur) != 1 || cur[0].Version != retired || cur[0].Rejections != 3 {
		t.Fatalf("recorded refusals %+v, %v; want %s refused 3 times", cur, err, retired)
	}
	if c := e.sim.Counters(); c.VersionRejected == 0 {
		t.Fatal("the simulator refused no request: the test did not exercise a 406")
	}

	// The operator sets GUSTO_API_VERSION to a supported version; the next
	// attempt of the same task finishes the run.
	fixed := e.handler(func(c *jobs.Config) {
		c.API = e.clientWith(nil)
		c.APIVersions, c.APIVersion = versions, gusto.DefaultAPIVersion
	})
	if err := fixed.ProcessTask(ctx, task(t, company, run)); err != nil {
		t.Fatalf("after the version was fixed: %v", err)
	}
	if st := e.scalar(`SELECT status FROM sync_runs WHERE id = ?`, run); st != "succeeded" {
		t.Fatalf("run %s after the fix, want succeeded", st)
	}
	e.requireExact(company)
}

// TestServerCappingPerLosesNothing: a server that serves 25 per page while
// 100 are asked must not end the walk at the first short page.
func TestServerCappingPerLosesNothing(t *testing.T) {
	t.Parallel()
	for _, headers := range []bool{true, false} {
		t.Run(fmt.Sprintf("headers=%v", headers), func(t *testing.T) {
			e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1, MaxPer: 25, OmitPaginationHeaders: !headers}})
			ctx := testCtx(t, time.Minute)
			company := e.company(260, 140, nil)
			h := e.handler(func(c *jobs.Config) { c.PageSize = 100 })
			if err := h.ProcessTask(ctx, task(t, company, uuid.NewString())); err != nil {
				t.Fatal(err)
			}
			e.requireExact(company)
		})
	}
}

// TestPayrollsExactUnderEveryFilterReading: whichever reading of
// start_date/end_date Gusto applies, the stored payrolls are exactly the
// simulator's set: none lost at a window seam, none stored twice.
func TestPayrollsExactUnderEveryFilterReading(t *testing.T) {
	t.Parallel()
	for _, reading := range []gustosim.PayrollFilter{gustosim.FilterWithin, gustosim.FilterStart, gustosim.FilterOverlap, gustosim.FilterCheckDate} {
		t.Run(string(reading), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1, PayrollFilter: reading}})
			ctx := testCtx(t, time.Minute)
			// Three years of biweekly and monthly payrolls: many pay periods
			// straddle the windows' seams.
			company := e.company(5, 300, nil)
			h := e.handler(nil)
			if err := h.ProcessTask(ctx, task(t, company, uuid.NewString())); err != nil {
				t.Fatal(err)
			}
			e.requireExact(company)
		})
	}
}

// overstateTotal adds one to X-Total-Count on employee pages, as a Gusto
// whose count and pages disagree would.
func overstateTotal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/employees") {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		if n, err := strconv.Atoi(rec.Header().Get("X-Total-Count")); err == nil {
			w.Header().Set("X-Total-Count", strconv.Itoa(n+1))
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// TestPaginationMismatchIsNotedNotAccepted: a walk whose record count
// disagrees with X-Total-Count keeps every record and leaves a note on the
// run saying the resource is walked again.
func TestPaginationMismatchIsNotedNotAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}, wrap: overstateTotal})
	ctx := testCtx(t, time.Minute)
	company := e.company(120, 10, nil)
	run := uuid.NewString()
	if err := e.handler(nil).ProcessTask(ctx, task(t, company, run)); err != nil {
		t.Fatal(err)
	}
	e.requireExact(company)
	notes := e.scalar(`SELECT notes FROM sync_runs WHERE id = ?`, run)
	if !strings.Contains(notes, "employees: pagination disagrees with Gusto's headers") || strings.Contains(notes, "payrolls:") {
		t.Fatalf("run notes %q, want one note on employees only", notes)
	}
}

// TestRateLimitKeyOwner: when Gusto's limit is per user-application pair
// (the simulator's owner scope), two companies authorized by one user share
// one budget. Keyed per resource owner (GUSTO_RATE_LIMIT_KEY=owner, the
// owner learned from GET /v1/token_info) the limiter keeps one budget for
// both and no request is refused; keyed per grant it keeps one per company
// (Gusto's shared X-RateLimit-Remaining then keeps each from spending a full
// budget, but the two race for what remains, so 429s are possible).
func TestRateLimitKeyOwner(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{config.RateLimitKeyGrant, config.RateLimitKeyOwner} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: 10, RateWindow: 4 * time.Second, RateLimitScope: gustosim.RateLimitPerOwner}})
			ctx := testCtx(t, 2*time.Minute)
			owner := uuid.NewString()
			var ids []string
			for range 2 {
				g, err := e.sim.CreateCompany(gustosim.CompanyOptions{Employees: 60, Payrolls: 12, ResourceOwner: owner})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.store.Put(ctx, tokens.Grant{CompanyUUID: g.CompanyUUID, AccessToken: g.Token.AccessToken,
					RefreshToken: g.Token.RefreshToken, ExpiresIn: g.Token.ExpiresIn, CreatedAt: g.Token.CreatedAt}, "test"); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, g.CompanyUUID)
			}
			opts := ratelimit.Options{Limit: 10, Window: 4 * time.Second}
			if mode == config.RateLimitKeyOwner {
				opts.Keys = tokens.NewOwnerKeys(e.store, e.manager, e.client, nil)
			}
			limiter, err := ratelimit.New(e.redis.Client(), opts)
			if err != nil {
				t.Fatal(err)
			}
			h := e.handler(func(c *jobs.Config) { c.API = e.clientWith(func(o *gusto.Options) { o.Limiter = limiter }) })
			errs := make(chan error, len(ids))
			for _, id := range ids {
				go func() { errs <- h.ProcessTask(ctx, task(t, id, uuid.NewString())) }()
			}
			for range ids {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range ids {
				e.requireExact(id)
			}
			refused := e.sim.Counters().RateLimited
			budgets := 0
			for _, key := range append([]string{"owner:" + owner}, ids...) {
				n, err := e.redis.Client().Exists(ctx, ratelimit.DefaultPrefix+key).Result()
				if err != nil {
					t.Fatal(err)
				}
				budgets += int(n)
			}
			switch mode {
			case config.RateLimitKeyOwner:
				if refused != 0 || budgets != 1 {
					t.Fatalf("%d × 429 and %d budgets with the limiter keyed per resource owner, want 0 and 1", refused, budgets)
				}
			default:
				if budgets != 2 {
					t.Fatalf("%d budgets with the limiter keyed per grant, want one per company", budgets)
				}
			}
		})
	}
}
