// Package gustosim is an in-process simulator of the parts of Gusto's API
// that gustosync uses, faithful enough to break a client that is wrong.
//
// A *Sim is an http.Handler: tests serve it with httptest.NewServer, and
// cmd/gustosim serves the same handler as a binary. It owns:
//
//   - OAuth: GET /oauth/authorize (auto-approve or deny, see SetAuthorize)
//     and POST /oauth/token (authorization_code and refresh_token grants,
//     JSON or form body, client credentials checked, any credential in the
//     URL query refused with 400). Every refresh rotates both tokens; what
//     happens to the previous refresh token is the configured Rule.
//   - The API: GET /v1/token_info, GET /v1/me, GET /v1/companies/{id},
//     .../employees and .../payrolls with Gusto's page/per pagination and
//     its X-Page, X-Per-Page, X-Total-Count and X-Total-Pages headers, its
//     filters and their limits, its error bodies, strict per-company access
//     and per-scope checks.
//   - Gusto's API versions (version.go): X-Gusto-API-Version older than
//     Config.MinAPIVersion, in the future or not a date is answered 406
//     with Gusto's {"name", "message"} body on every endpoint, the token
//     endpoint included; without the header the minimum applies; the version
//     served is passed back in the response header. What changed in
//     2026-06-15 and matters here is modelled: payrolls paginate by default,
//     and off-cycle payrolls' payroll_status_meta.initial_check_date and
//     .payroll_late are null.
//   - Gusto's clock (Now()+ClockOffset) in every Date header, in created_at,
//     in "today" (payroll filters, versions in the future) and in every
//     expiry decision.
//   - Gusto's rate limit per grant or per resource owner
//     (Config.RateLimitScope; X-RateLimit-* headers, 429 with Retry-After),
//     an optional token-endpoint limit, and injected 5xx and latency.
//   - Deterministic data: a company's records are a pure function of the
//     seed, its uuid, its sizes and its creation day, generated on demand
//     record by record, so a 200k-record company costs no memory until
//     served and never takes a global lock. Payrolls come from pay
//     schedules of Gusto's frequencies, weekly to annually (schedules.go;
//     by default a biweekly and/or a monthly one), reaching back
//     HistoryMonths (three years by default), with off-cycle payrolls and
//     the current periods unprocessed; Payrolls is their exact number (see
//     payrolls.go and Config.Payrolls). LongPayrolls adds half-year
//     off-cycle payrolls and quarter-long external ones.
//   - Events and webhooks (events.go, webhooks.go): the system_access
//     grant, GET /v1/events, webhook subscriptions with Gusto's verification
//     handshake, and deliveries signed with X-Gusto-Signature, retried,
//     optionally duplicated or reordered; Revoke emits
//     company.deprovisioned, a new grant company.provisioned, DeleteRecord
//     and RestoreRecord employee.* / payroll.* events, UpdateEmployee
//     employee.updated (edit.go), EmitEvent any.
//   - Counters of what happened (Counters, AccessTokenUses) and the datasets
//     served (Records, Checksum), for assertions.
//   - Admin endpoints under /admin/ (JSON, no authentication, for tests and
//     demos only) that do what the Go methods do; see admin.go. They can be
//     turned off with Config.DisableAdmin.
//
// # Choices where Gusto's reference is silent
//
//   - GET /v1/me answers {"uuid", "email", "first_name", "last_name",
//     "roles": {"payroll_admin": {"companies": [{"uuid", "name",
//     "trade_name"}]}}}, the shape of Gusto's app-integration docs.
//   - 401 answers carry WWW-Authenticate: Bearer error="invalid_token" and
//     {"errors":[{"error_key":"request","category":"invalid_token",…}]};
//     403 answers (missing scope, another company's token) use category
//     "missing_permissions". OAuth errors use {"error","error_description"}.
//   - The rate limit window opens at the first request and closes RateWindow
//     later, as Gusto's rate-limit page describes its "rolling" window;
//     X-RateLimit-Reset is that closing time on Gusto's clock, formatted as
//     in Gusto's changelog ("2006-01-02 15:04:05 -0700").
//   - Pages: page defaults to 1 and per to 25; per above MaxPer (default 100,
//     the maximum Gusto documents for payrolls since 2025-06-15) is capped
//     and X-Per-Page says what was served; page or per that is not a
//     positive integer is a 422. Employees are always paginated; payrolls
//     before 2026-06-15 only when page or per is given (otherwise every
//     matching payroll in one answer, without pagination headers). The
//     pagination headers are sent on every paginated answer (Gusto's page
//     says "if pagination parameters are provided"), X-Total-Pages is 0
//     for an empty collection, and no Link header is sent;
//     Config.OmitPaginationHeaders drops them all.
//   - Payroll date filters: each reading of "pay period after start_date,
//     before end_date" is a Config.PayrollFilter; the default is the
//     literal one (the whole pay period inside, bounds inclusive), under
//     which back-to-back windows lose the payrolls on their seams.
//     date_filter_by=check_date filters regular processed payrolls by check
//     date and the others by pay period, as the reference says it "applies
//     only to regular processed payrolls". Defaults and limits follow the
//     reference: processed regular payrolls of the last six months;
//     end_date at most three months ahead; at most a year between the
//     dates; a start after the end is a 422 too.
//   - A resource owner is a CompanyAdmin (the only fitting type in
//     Token-Info's enum), one per company unless CompanyOptions.ResourceOwner
//     makes companies share one; its companies are those of GET /v1/me.
//   - Injected 502/503 answers come "from the gateway", before
//     authentication (no token is used); injected 500s come from the
//     application, after the token was used. Injected latency is applied
//     after the request took effect and before the answer is written, so a
//     client that times out can lose a rotated token pair — the
//     crash-between-answer-and-store case.
//
// The simulator never logs; it never puts a token in an error string.
// Everything is safe for concurrent use.
package gustosim
