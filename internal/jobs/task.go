package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
)

// TypeSyncCompany is the asynq task type of a company sync.
const TypeSyncCompany = "sync:company"

// Queues, by priority. The worker serves them with the weights of Queues.
const (
	// QueueCritical is for syncs a person is waiting for (onboarding, manual).
	QueueCritical = "critical"
	// QueueDefault is for scheduled syncs.
	QueueDefault = "default"
	// QueueLow is for bulk backfills.
	QueueLow = "low"
)

// Queues maps each queue to its weight (asynq's weighted priority: critical
// is served six times as often as low, never starving it).
var Queues = map[string]int{QueueCritical: 6, QueueDefault: 3, QueueLow: 1}

// Defaults of NewSyncTask's options.
const (
	// DefaultMaxRetry bounds the retries counted against a task (attempts
	// that made no progress; see IsFailure).
	DefaultMaxRetry = 25
	// DefaultTaskTimeout is asynq's deadline for one attempt: long, since
	// multi-hour syncs are normal. The worker bounds a run with its own
	// SYNC_TASK_TIMEOUT too.
	DefaultTaskTimeout = 6 * time.Hour
)

// maxPayloadBytes bounds a payload that is parsed at all.
const maxPayloadBytes = 4 << 10

// Payload is the sync:company payload: which company, and which run of it.
// It never holds a secret.
type Payload struct {
	// CompanyUUID is the company to sync.
	CompanyUUID string `json:"company_uuid"`
	// RunID names the run (a uuid); the run's row in sync_runs and its
	// checkpoints are keyed by it, so every attempt of the task resumes the
	// same run.
	RunID string `json:"run_id"`
	// Kind is what the run walks: checkpoint.KindFull or
	// checkpoint.KindIncremental. A payload without it (enqueued before
	// kinds existed) is a full run. The run's first attempt fixes its kind
	// (checkpoint.Attempt.FixKind); later attempts keep that one.
	Kind checkpoint.Kind `json:"kind,omitempty"`
}

// PayloadError is a malformed sync:company payload. The handler archives
// such a task at once (asynq.SkipRetry).
type PayloadError struct {
	// Field is the JSON field at fault, or "" for the payload as a whole.
	Field string
	// Reason says what is wrong.
	Reason string
}

func (e *PayloadError) Error() string {
	if e.Field == "" {
		return "sync:company payload: " + e.Reason
	}
	return "sync:company payload: " + e.Field + ": " + e.Reason
}

// NewSyncTask returns the task that syncs company under run runID (both
// uuids; the scheduler makes a new run id per sync), walking kind. Its defaults: queue
// QueueDefault, MaxRetry DefaultMaxRetry, Timeout DefaultTaskTimeout, and
// TaskID "sync:<runID>", so enqueuing the same run twice (two scheduler
// replicas) is refused by asynq with ErrTaskIDConflict. opts are applied
// after the defaults and override them.
func NewSyncTask(company, runID string, kind checkpoint.Kind, opts ...asynq.Option) (*asynq.Task, error) {
	if kind == "" {
		return nil, &PayloadError{Field: "kind", Reason: "missing"}
	}
	p, err := validate(Payload{CompanyUUID: company, RunID: runID, Kind: kind})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("sync:company payload: %w", err)
	}
	all := append([]asynq.Option{
		asynq.Queue(QueueDefault),
		asynq.MaxRetry(DefaultMaxRetry),
		asynq.Timeout(DefaultTaskTimeout),
		asynq.TaskID("sync:" + p.RunID),
	}, opts...)
	return asynq.NewTask(TypeSyncCompany, b, all...), nil
}

// ParsePayload decodes and validates a sync:company payload: a JSON object
// with company_uuid and run_id, both uuids, and optionally kind ("full" or
// "incremental"; absent means full), nothing else. It returns the ids in
// canonical form and the kind, or a *PayloadError.
func ParsePayload(b []byte) (Payload, error) {
	if len(b) > maxPayloadBytes {
		return Payload{}, &PayloadError{Reason: fmt.Sprintf("%d bytes, more than %d", len(b), maxPayloadBytes)}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Payload
	if err := dec.Decode(&p); err != nil {
		return Payload{}, &PayloadError{Reason: describeJSON(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Payload{}, &PayloadError{Reason: "trailing data after the JSON object"}
	}
	return validate(p)
}

func validate(p Payload) (Payload, error) {
	for _, f := range []struct {
		name string
		v    *string
	}{{"company_uuid", &p.CompanyUUID}, {"run_id", &p.RunID}} {
		if *f.v == "" {
			return Payload{}, &PayloadError{Field: f.name, Reason: "missing"}
		}
		id, err := uuid.Parse(*f.v)
		if err != nil || len(*f.v) != 36 {
			return Payload{}, &PayloadError{Field: f.name, Reason: fmt.Sprintf("%q is not a uuid", clip(*f.v, 40))}
		}
		*f.v = id.String()
	}
	switch {
	case p.Kind == "":
		p.Kind = checkpoint.KindFull
	case !p.Kind.Valid():
		return Payload{}, &PayloadError{Field: "kind", Reason: fmt.Sprintf("%q is neither %q nor %q", clip(string(p.Kind), 40), checkpoint.KindFull, checkpoint.KindIncremental)}
	}
	return p, nil
}

// describeJSON names what was wrong without echoing the payload.
func describeJSON(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not JSON (syntax error at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %s: want a %s, got a JSON %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.EOF):
		return "empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	// "json: unknown field \"x\"" names only the field.
	return err.Error()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
