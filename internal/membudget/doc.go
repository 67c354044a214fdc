// Package membudget bounds the bytes of Gusto pages a worker holds at once,
// across all its concurrent syncs (WORKER_PAGE_BYTES_BUDGET): a page's
// bytes are reserved before its body is read, and released when the batch
// holding its rows is committed, or when the attempt ends (rows dropped).
//
// The rule that keeps attempts from deadlocking each other: an attempt
// that holds nothing waits for the budget; an attempt that already holds
// pages never waits, it takes what is free at once or gets ErrFull and
// commits (releases) what it holds before asking again. A page larger than
// the whole budget reserves the whole budget: it waits until every other
// page is released, then is read alone (the budget is exceeded by that
// page's excess, and only while it is the one page held).
//
// It owns the accounting only: it never reads a page. The gusto client
// reserves (gusto.Client's page walks, through the Holder in the request's
// context); internal/jobs releases after each commit and when an attempt
// ends.
package membudget
