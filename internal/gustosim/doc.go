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
//     .../employees and .../payrolls with Gusto's page/per pagination, its
//     filters, its error bodies, strict per-company access and per-scope
//     checks.
//   - Gusto's clock (Now()+ClockOffset) in every Date header, in created_at
//     and in every expiry decision.
//   - Gusto's rate limit per grant (X-RateLimit-* headers, 429 with
//     Retry-After), an optional token-endpoint limit, and injected 5xx and
//     latency.
//   - Deterministic data: a company's records are a pure function of the
//     seed, its uuid, its sizes and its creation day, generated on demand
//     record by record, so a 200k-record company costs no memory until
//     served and never takes a global lock.
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
//     the only maximum page size Gusto's reference documents) is capped;
//     page or per that is not a positive integer is a 422. No total-count
//     or Link header is sent (the reference declares none).
//   - Payrolls are filtered by pay-period start date (or check date with
//     date_filter_by=check_date), so consecutive windows partition them.
//     Defaults follow the reference: processed regular payrolls whose pay
//     period starts in the last six months; end_date at most three months
//     ahead; a window of at most a year.
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
