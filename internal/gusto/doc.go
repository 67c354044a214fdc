// Package gusto is the typed client for the parts of Gusto's API that
// gustosync uses: the OAuth token endpoint (refresh and authorization-code
// grants), /v1/token_info, /v1/me, and a company's record, employees and
// payrolls with Gusto's page/per pagination.
//
// The client owns the wire: it sends the configured API version
// (Options.APIVersion, default DefaultAPIVersion) as X-Gusto-API-Version on
// every request, bounds response sizes, measures clock skew from each
// response's Date header, follows Gusto's pagination headers (a list walk
// ends after X-Total-Pages, or on an empty page when they are absent, and
// reports pages that disagree with them in Page.Mismatch), and turns every
// failure into an error callers classify with errors.As (see errors.go): a
// refused API version is an *APIVersionError (fleet-wide configuration,
// never a company's fault), a missing scope a *MissingScopeError (see
// scope.go), neither of them transient nor a revoked grant. It never puts a token or a secret in an error, a log line or a
// URL. It knows nothing of storage, Redis or asynq: tokens come from a
// TokenSource, and the per-grant rate limit from a Limiter, both supplied by
// the caller.
//
// On a 401 from a data call the client asks the TokenSource to Invalidate the
// refused token (when it implements Invalidator) and retries once; it never
// retries anything else: token requests, 429s and 5xx are the caller's to
// back off. Messages taken from error bodies are truncated, stripped of the
// credentials the client holds and of any credential-shaped run of
// characters; a body that is not JSON is never echoed.
package gusto
