package checkpoint

import (
	"fmt"
	"time"
)

// FencedError is returned by an attempt's writes once a newer attempt holds
// the company: a re-run of the same run after its lease expired, or a newer
// run. The write changed nothing; the attempt must stop without retrying.
type FencedError struct {
	// Op is the write that was refused: "commit", "heartbeat" or "finish".
	Op string
	// RunID and Company identify the stale attempt.
	RunID, Company string
	// Epoch is the stale attempt's epoch.
	Epoch int64
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("checkpoint: %s: run %s (epoch %d) of company %s is fenced: a newer attempt holds the company", e.Op, e.RunID, e.Epoch, e.Company)
}

// BusyError is returned by Claim when another attempt of the same run is
// running and its heartbeat is fresh (asynq recovering a task whose run was
// re-driven meanwhile, or a duplicate task of the run), or when a full run
// is claimed while a live incremental run holds the company (a full walk
// is not absorbed by an incremental one). The claim changed nothing; try
// again after RetryIn, when the holder will have finished, or its attempt
// will have died and been taken over.
type BusyError struct {
	// Company is the company asked for.
	Company string
	// Holder is the run that holds it.
	Holder string
	// RetryIn is when the holder's heartbeat would go stale if it stopped now.
	RetryIn time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("checkpoint: company %s is being synced by run %s", e.Company, e.Holder)
}

// FinishedError is returned by Claim for a run that already ended
// (succeeded, failed, or stopped because a newer run superseded it), or that
// Claim just stopped because a live run of the company is syncing it
// (coalesced; Reason says so). There is nothing left to do for it.
type FinishedError struct {
	RunID string
	// Status is the run's final status.
	Status Status
	// Reason is the run's recorded error, if any.
	Reason string
}

func (e *FinishedError) Error() string {
	s := fmt.Sprintf("checkpoint: run %s already %s", e.RunID, e.Status)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// MismatchError is returned by Claim when the run id already belongs to a
// different company: the task is malformed and must not be retried.
type MismatchError struct {
	RunID string
	// Company is the company the caller named; RunCompany the run's own.
	Company, RunCompany string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("checkpoint: run %s belongs to company %s, not %s", e.RunID, e.RunCompany, e.Company)
}

// BatchError is a batch that cannot be committed as given (rows of another
// resource, an unknown resource, a uuid that is not one). It is a bug in the
// caller or malformed data, not a database failure.
type BatchError struct {
	Resource Resource
	Reason   string
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("checkpoint: batch of %s: %s", e.Resource, e.Reason)
}
