package jobs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/jobs"
)

func TestNewSyncTask(t *testing.T) {
	company, run := uuid.NewString(), uuid.NewString()
	task, err := jobs.NewSyncTask(strings.ToUpper(company), run, checkpoint.KindIncremental)
	if err != nil {
		t.Fatal(err)
	}
	if task.Type() != jobs.TypeSyncCompany {
		t.Fatalf("type %q", task.Type())
	}
	want := fmt.Sprintf(`{"company_uuid":%q,"run_id":%q,"kind":"incremental"}`, company, run)
	if string(task.Payload()) != want {
		t.Fatalf("payload %s, want %s (canonical ids and the kind, nothing else)", task.Payload(), want)
	}
	p, err := jobs.ParsePayload(task.Payload())
	if err != nil || p.CompanyUUID != company || p.RunID != run || p.Kind != checkpoint.KindIncremental {
		t.Fatalf("round trip: %+v %v", p, err)
	}
	if _, err := jobs.NewSyncTask("acme", run, checkpoint.KindFull); err == nil {
		t.Fatal("NewSyncTask accepted a company that is not a uuid")
	}
	for _, k := range []checkpoint.Kind{"", "partial", "FULL"} {
		var pe *jobs.PayloadError
		if _, err := jobs.NewSyncTask(company, run, k); !errors.As(err, &pe) || pe.Field != "kind" {
			t.Errorf("NewSyncTask with kind %q: %v, want a *PayloadError on kind", k, err)
		}
	}
	// A payload from before kinds existed is a full run.
	p, err = jobs.ParsePayload(fmt.Appendf(nil, `{"company_uuid":%q,"run_id":%q}`, company, run))
	if err != nil || p.Kind != checkpoint.KindFull {
		t.Fatalf("payload without kind: %+v %v, want a full run", p, err)
	}
}

func TestParsePayloadRejects(t *testing.T) {
	good := uuid.NewString()
	cases := map[string]string{
		``:                                  "empty",
		`[]`:                                "want a",
		`{"company_uuid":`:                  "truncated",
		`{"run_id":"` + good + `"}`:         "company_uuid: missing",
		`{"company_uuid":"` + good + `"}`:   "run_id: missing",
		`{"company_uuid":"x","run_id":"y"}`: `company_uuid: "x" is not a uuid`,
		`{"company_uuid":"` + good + `","run_id":"` + good + `","token":"s3cr3t"}`: `unknown field "token"`,
		`{"company_uuid":"` + good + `","run_id":"` + good + `"} {}`:               "trailing data",
		`{"company_uuid":1,"run_id":"` + good + `"}`:                               "field company_uuid",
		`{"company_uuid":"{` + good + `}","run_id":"` + good + `"}`:                "is not a uuid",
		`{"company_uuid":"` + good + `","run_id":"` + good + `","kind":"partial"}`: `kind: "partial" is neither`,
		`{"company_uuid":"` + good + `","run_id":"` + good + `","kind":7}`:         "field kind",
		strings.Repeat(" ", 5000):                                                  "more than",
	}
	for in, want := range cases {
		_, err := jobs.ParsePayload([]byte(in))
		var pe *jobs.PayloadError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePayload(%.40q) = %v, want a *PayloadError containing %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error echoes the payload: %v", err)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	// A RetryError's delay and count are honoured.
	re := &jobs.RetryError{Err: errors.New("x"), Delay: 42 * time.Second}
	if d := jobs.RetryDelay(3, fmt.Errorf("wrapped: %w", re), nil); d != 42*time.Second {
		t.Fatalf("delay %s", d)
	}
	if jobs.IsFailure(re) {
		t.Fatal("a RetryError without Failure counted")
	}
	if !jobs.IsFailure(&jobs.RetryError{Err: re, Failure: true}) || !jobs.IsFailure(errors.New("plain")) {
		t.Fatal("failures not counted")
	}
	// A crashed worker's task is resumed without waiting.
	if d := jobs.RetryDelay(5, asynq.ErrLeaseExpired, nil); d != 0 {
		t.Fatalf("lease expired: delay %s, want 0", d)
	}
	// Otherwise exponential with jitter, capped.
	for n, bounds := range map[int][2]time.Duration{0: {time.Second, 2 * time.Second}, 3: {8 * time.Second, 16 * time.Second}, 30: {5 * time.Minute, 10 * time.Minute}} {
		for range 20 {
			if d := jobs.RetryDelay(n, errors.New("x"), nil); d < bounds[0] || d > bounds[1] {
				t.Fatalf("retry %d: delay %s outside [%s, %s]", n, d, bounds[0], bounds[1])
			}
		}
	}
}
