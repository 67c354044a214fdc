// Command gustosim serves the Gusto simulator (package internal/gustosim)
// over HTTP: the same handler the tests run in-process, with a flag for
// every setting. It prints one line with its URL and admin endpoints, and
// serves until interrupted.
//
//	gustosim [flags]
//	gustosim --companies 50 --grants-out grants.json --token-lifetime 30s
//	gustosim --min-api-version 2026-06-15 --payroll-filter overlap --rate-limit-scope owner --companies-per-owner 10
//	gustosim --other-consumer 50   # another consumer spends 50 of every grant's 200 per window
//
// The defaults model Gusto as it is today (late 2026): minimum API version
// 2025-11-15 (older versions get 406), the literal payroll date filter,
// 200 requests per grant per minute, pages of at most 100 with Gusto's
// pagination headers.
//
// The OAuth application defaults to $GUSTO_CLIENT_ID, $GUSTO_CLIENT_SECRET
// and $GUSTO_REDIRECT_URI (the variables the worker reads), else to
// development values. The secret is never printed.
package main
