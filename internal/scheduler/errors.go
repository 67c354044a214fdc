package scheduler

import "fmt"

// UnknownCompanyError means no token row exists for the company: it was never
// onboarded (gustosync companies add, or the dashboard's /connect).
type UnknownCompanyError struct {
	// Company is the company uuid asked for.
	Company string
}

func (e *UnknownCompanyError) Error() string {
	return "scheduler: no company " + e.Company + " (onboard it first)"
}

// NotActiveError refuses to enqueue a company whose status is needs_reauth or
// paused: a sync could only fail.
type NotActiveError struct {
	// Company is the company uuid.
	Company string
	// Status is needs_reauth or paused.
	Status string
	// Reason is the stored status reason.
	Reason string
}

func (e *NotActiveError) Error() string {
	s := fmt.Sprintf("scheduler: company %s is %s", e.Company, e.Status)
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	switch e.Status {
	case "paused":
		s += "; resume it first"
	case "needs_reauth":
		s += "; reconnect it through the dashboard first"
	}
	return s
}

// EnqueueError reports a tick (or an --all enqueue) in which some enqueues
// failed. The companies that failed stay due and are tried again next tick.
type EnqueueError struct {
	// Failed is how many companies could not be enqueued.
	Failed int
	// Total is how many were tried.
	Total int
	// Err is the first failure.
	Err error
}

func (e *EnqueueError) Error() string {
	return fmt.Sprintf("scheduler: %d of %d enqueues failed, first: %v", e.Failed, e.Total, e.Err)
}

func (e *EnqueueError) Unwrap() error { return e.Err }
