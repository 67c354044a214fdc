// Command gustosim serves the Gusto simulator (package internal/gustosim)
// over HTTP: the same handler the tests run in-process, with a flag for
// every setting. It prints one line with its URL and admin endpoints, and
// serves until interrupted.
//
//	gustosim [flags]
//	gustosim --companies 50 --grants-out grants.json --token-lifetime 30s
//
// The OAuth application defaults to $GUSTO_CLIENT_ID, $GUSTO_CLIENT_SECRET
// and $GUSTO_REDIRECT_URI (the variables the worker reads), else to
// development values. The secret is never printed.
package main
