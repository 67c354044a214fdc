// Package waitfor is test support: wait on a condition with a deadline
// instead of sleeping and hoping.
//
// A test that needs something to have happened (a process to listen, a row
// to be committed, a lock to expire) calls Condition with a bound and a
// description; the wait ends as soon as the condition holds, and the test
// fails with that description if it never does.
package waitfor
