package scheduler

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Window is one company's sync window: [Start, End), End = Start + interval.
// Index numbers the windows of a given interval and offset; it is part of
// the task id, so two replicas that agree on the time agree on the task.
type Window struct {
	// Index counts intervals since the Unix epoch, shifted by the company's offset.
	Index int64
	// Start is when the window opens (the company becomes due).
	Start time.Time
	// End is when the next window opens.
	End time.Time
}

// Offset returns company's deterministic offset inside an interval: a hash of
// the company id mapped onto [0, jitter×interval), in whole milliseconds.
// The same company always gets the same offset, on every replica and across
// restarts.
func Offset(company string, interval time.Duration, jitter float64) time.Duration {
	if jitter <= 0 || interval <= 0 {
		return 0
	}
	sum := sha256.Sum256([]byte(company))
	frac := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53) // [0, 1)
	// Whole milliseconds: window starts survive PostgreSQL's microsecond
	// timestamps exactly.
	off := time.Duration(frac * jitter * float64(interval)).Truncate(time.Millisecond)
	if off >= interval { // jitter 1 and rounding at the very top
		off = 0
	}
	return off
}

// WindowAt returns the window of company that contains t, for the given
// interval and jitter fraction (0 to 1). interval must be positive.
func WindowAt(company string, interval time.Duration, jitter float64, t time.Time) Window {
	off := int64(Offset(company, interval, jitter))
	n := int64(interval)
	x := t.UnixNano() - off
	idx := x / n
	if x%n < 0 { // floor for times before the epoch
		idx--
	}
	start := time.Unix(0, idx*n+off)
	return Window{Index: idx, Start: start, End: start.Add(interval)}
}

// TaskID is the asynq task id of company's scheduled sync in window index:
// "sync:<company>:<index>". Two enqueues of the same id cannot both succeed
// while the first task is retained.
func TaskID(company string, index int64) string {
	return "sync:" + company + ":" + strconv.FormatInt(index, 10)
}

// manualTaskID is the task id of an operator's "sync now": one per company
// per second, so a double click enqueues once.
func manualTaskID(company string, at time.Time) string {
	return "sync:" + company + ":manual-" + strconv.FormatInt(at.Unix(), 10)
}

// runNamespace names the run ids derived from task ids (UUID v5).
var runNamespace = uuid.MustParse("6f1c3c0e-54a1-4d55-9a8e-0b5c1f3e2a77")

// RunID is the sync run id for a task id: a name-based UUID, so every
// replica that builds the task for the same window builds the same run.
func RunID(taskID string) uuid.UUID {
	return uuid.NewSHA1(runNamespace, []byte(taskID))
}
