package alerts_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/alerts"
	"github.com/gustosync/gustosync/internal/apiversion"
	"github.com/gustosync/gustosync/internal/backoff"
	"github.com/gustosync/gustosync/internal/pgtest"
)

var secret = []byte("alert-signing-secret")

// clock is a settable clock shared by the dispatchers of one test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// addCompany stores a token row for a new company. The ciphertexts are
// placeholders: alerts never read them.
func addCompany(t *testing.T, db *gorm.DB) string {
	t.Helper()
	id := uuid.NewString()
	err := db.Exec(`INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration, scopes)
		VALUES (?, '\x00', '\x00', 'k1', now() + interval '2 hours', 'companies:read')`, id).Error
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func setStatus(t *testing.T, db *gorm.DB, company, status, reason string) {
	t.Helper()
	res := db.Exec(`UPDATE gusto_auth_tokens SET status = ?, status_reason = ?, status_changed_at = now() WHERE company_uuid = ?`,
		status, reason, company)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	if res.RowsAffected != 1 {
		t.Fatalf("status update changed %d rows", res.RowsAffected)
	}
}

// receipt is one request the test webhook accepted.
type receipt struct {
	event   alerts.Event
	attempt string
}

// receiver is a webhook that verifies signatures and can fail on demand.
type receiver struct {
	t  *testing.T
	mu sync.Mutex
	// fail maps a company to the statuses to answer its next requests with.
	fail     map[string][]int
	got      []receipt
	bad      int // requests with a bad signature or body
	requests int
	// hold, when set for a company, blocks its next request until the channel closes.
	hold    map[string]chan struct{}
	entered chan string
	// clock is the receiver's clock, the dispatchers' one.
	clock *clock
}

func newReceiver(t *testing.T, c *clock) (*receiver, *httptest.Server) {
	r := &receiver{t: t, fail: map[string][]int{}, hold: map[string]chan struct{}{}, entered: make(chan string, 16), clock: c}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var ev alerts.Event
	if alerts.Verify(secret, body, req.Header.Get(alerts.SignatureHeader), time.Minute, r.clock.Now()) != nil || json.Unmarshal(body, &ev) != nil ||
		req.Header.Get(alerts.EventIDHeader) != ev.ID {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	r.requests++
	hold := r.hold[ev.CompanyUUID]
	delete(r.hold, ev.CompanyUUID) // hold only the first request
	r.mu.Unlock()
	if hold != nil {
		r.entered <- ev.CompanyUUID
		<-hold
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.fail[ev.CompanyUUID]; len(f) > 0 {
		r.fail[ev.CompanyUUID] = f[1:]
		if f[0] == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "120")
		}
		w.WriteHeader(f[0])
		return
	}
	r.got = append(r.got, receipt{event: ev, attempt: req.Header.Get(alerts.AttemptHeader)})
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) receipts() []receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receipt(nil), r.got...)
}

func newDispatcher(t *testing.T, db *gorm.DB, url string, c *clock) *alerts.Dispatcher {
	t.Helper()
	d, err := alerts.NewDispatcher(db, alerts.Config{
		URL: url, Secret: secret, Now: c.Now, Timeout: 10 * time.Second,
		Backoff: backoff.Policy{Base: time.Minute, Max: 2 * time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestWebhookOncePerTransition: each transition into needs_reauth, and each
// recovery from it, is received exactly once, with a valid signature,
// through failures and retries and with two dispatchers (two scheduler
// replicas) running at once.
func TestWebhookOncePerTransition(t *testing.T) {
	db := pgtest.New(t).Gorm
	c := &clock{t: time.Now()}
	rcv, srv := newReceiver(t, c)
	d1 := newDispatcher(t, db, srv.URL+"/hook", c)
	d2 := newDispatcher(t, db, srv.URL+"/hook", c)

	a, b, cc, quiet := addCompany(t, db), addCompany(t, db), addCompany(t, db), addCompany(t, db)
	rcv.fail[b] = []int{http.StatusInternalServerError, http.StatusBadGateway}
	rcv.fail[cc] = []int{http.StatusTooManyRequests}

	setStatus(t, db, a, "needs_reauth", "refresh token refused (invalid_grant)")
	setStatus(t, db, a, "needs_reauth", "still refused") // not a transition
	setStatus(t, db, b, "paused", "operator")            // not needs_reauth
	setStatus(t, db, b, "needs_reauth", "revoked in Gusto")
	setStatus(t, db, cc, "needs_reauth", "revoked")
	setStatus(t, db, a, "active", "reconnected")         // company.recovered
	setStatus(t, db, a, "needs_reauth", "revoked again") // a second transition: a second event
	setStatus(t, db, quiet, "paused", "")

	var outbox int
	if err := db.Raw(`SELECT count(*) FROM alert_outbox`).Row().Scan(&outbox); err != nil {
		t.Fatal(err)
	}
	if outbox != 5 {
		t.Fatalf("outbox holds %d events, want 5 (one per transition into needs_reauth, one recovery)", outbox)
	}

	// Hold a's first delivery in flight; the second dispatcher must skip the
	// locked row instead of sending it again.
	held := make(chan struct{})
	rcv.mu.Lock()
	rcv.hold[a] = held
	rcv.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := make(chan error, 1)
	go func() { _, err := d1.DeliverDue(ctx); first <- err }()
	select {
	case <-rcv.entered:
	case <-ctx.Done():
		t.Fatal("first delivery never reached the receiver")
	}
	st2, err := d2.DeliverDue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	close(held)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// d2 sent the other four events (a's recovery and second, b and c
	// failing) and skipped the row d1 held.
	if st2 != (alerts.Stats{Delivered: 2, Retrying: 2}) {
		t.Fatalf("second dispatcher while the first held a row: %+v, want 2 delivered, 2 retrying", st2)
	}

	// Retries: advance the clock past each backoff until nothing is pending.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var pending int
		if err := db.Raw(`SELECT count(*) FROM alert_outbox WHERE status = 'pending'`).Row().Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events still pending", pending)
		}
		c.Advance(3 * time.Minute)
		var wg sync.WaitGroup
		for _, d := range []*alerts.Dispatcher{d1, d2} {
			wg.Go(func() {
				if _, err := d.DeliverDue(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}

	got := rcv.receipts()
	seen := map[string]int{}
	perCompany := map[string]int{}
	for _, r := range got {
		seen[r.event.ID]++
		perCompany[r.event.CompanyUUID]++
		switch {
		case r.event.Type == alerts.KindNeedsReauth:
		case r.event.Type == alerts.KindRecovered && r.event.CompanyUUID == a:
			if r.event.PreviousStatus != "needs_reauth" || r.event.Reason != "reconnected" {
				t.Errorf("recovery: previous %q, reason %q; want needs_reauth, reconnected", r.event.PreviousStatus, r.event.Reason)
			}
		default:
			t.Errorf("event type %q for company %s", r.event.Type, r.event.CompanyUUID)
		}
	}
	if len(got) != 5 || len(seen) != 5 {
		t.Fatalf("received %d events (%d distinct), want 5 distinct: %+v", len(got), len(seen), got)
	}
	if perCompany[a] != 3 || perCompany[b] != 1 || perCompany[cc] != 1 || perCompany[quiet] != 0 {
		t.Fatalf("events per company: a=%d b=%d c=%d quiet=%d, want 3 1 1 0", perCompany[a], perCompany[b], perCompany[cc], perCompany[quiet])
	}
	for _, r := range got {
		if r.event.CompanyUUID == b {
			if r.attempt != "3" || r.event.PreviousStatus != "paused" || r.event.Reason != "revoked in Gusto" {
				t.Errorf("b's event: attempt %s, previous %q, reason %q; want attempt 3 after two failures, previous paused", r.attempt, r.event.PreviousStatus, r.event.Reason)
			}
		}
	}
	if rcv.bad != 0 {
		t.Fatalf("%d requests failed signature verification", rcv.bad)
	}
	var delivered int
	if err := db.Raw(`SELECT count(*) FROM alert_outbox WHERE status = 'delivered' AND delivered_at IS NOT NULL`).Row().Scan(&delivered); err != nil {
		t.Fatal(err)
	}
	if delivered != 5 {
		t.Fatalf("%d rows marked delivered, want 5", delivered)
	}
	// A further pass sends nothing.
	c.Advance(24 * time.Hour)
	if st, err := d1.DeliverDue(ctx); err != nil || st != (alerts.Stats{}) {
		t.Fatalf("after delivery: %+v, %v; want nothing to do", st, err)
	}
}

// TestRetryAfterHonoured: a 429's Retry-After schedules the next attempt.
func TestRetryAfterHonoured(t *testing.T) {
	db := pgtest.New(t).Gorm
	c := &clock{t: time.Now().Truncate(time.Second)}
	rcv, srv := newReceiver(t, c)
	d := newDispatcher(t, db, srv.URL, c)
	co := addCompany(t, db)
	rcv.fail[co] = []int{http.StatusTooManyRequests}
	setStatus(t, db, co, "needs_reauth", "revoked")
	ctx := context.Background()
	if st, err := d.DeliverDue(ctx); err != nil || st.Retrying != 1 {
		t.Fatalf("first pass: %+v %v", st, err)
	}
	var next time.Time
	if err := db.Raw(`SELECT next_attempt_at FROM alert_outbox`).Row().Scan(&next); err != nil {
		t.Fatal(err)
	}
	// Never before Retry-After, at most a tenth later (spread, so that a
	// fleet told the same instant does not return together).
	if lo, hi := c.Now().Add(120*time.Second), c.Now().Add(132*time.Second); next.Before(lo) || next.After(hi) {
		t.Fatalf("next attempt at %s, want within [%s, %s] (Retry-After: 120)", next, lo, hi)
	}
	c.Advance(119 * time.Second)
	if st, _ := d.DeliverDue(ctx); st != (alerts.Stats{}) {
		t.Fatalf("attempted before Retry-After passed: %+v", st)
	}
	c.Set(next.Add(-time.Microsecond))
	if st, _ := d.DeliverDue(ctx); st != (alerts.Stats{}) {
		t.Fatalf("attempted before the scheduled time: %+v", st)
	}
	c.Set(next)
	if st, err := d.DeliverDue(ctx); err != nil || st.Delivered != 1 {
		t.Fatalf("after Retry-After: %+v %v", st, err)
	}
}

// TestGivesUpAndExpires: an event that keeps failing is marked failed after
// MaxAttempts; an event older than Expire is not sent at all; and a stored
// error never repeats the webhook URL, which may embed a secret.
func TestGivesUpAndExpires(t *testing.T) {
	db := pgtest.New(t).Gorm
	// A port with nothing listening: the connection is refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/hooks/SECRETPATH?token=SECRETQUERY"
	_ = l.Close()

	c := &clock{t: time.Now()}
	d, err := alerts.NewDispatcher(db, alerts.Config{
		URL: dead, Secret: secret, Now: c.Now, MaxAttempts: 3,
		Backoff: backoff.Policy{Base: time.Second, Max: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	co := addCompany(t, db)
	setStatus(t, db, co, "needs_reauth", "revoked")
	old := addCompany(t, db)
	setStatus(t, db, old, "needs_reauth", "revoked long ago")
	if err := db.Exec(`UPDATE alert_outbox SET occurred_at = now() - interval '100 hours' WHERE company_uuid = ?`, old).Error; err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var total alerts.Stats
	for range 5 {
		st, err := d.DeliverDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total.Retrying += st.Retrying
		total.Failed += st.Failed
		total.Expired += st.Expired
		total.Delivered += st.Delivered
		c.Advance(2 * time.Second)
	}
	if total != (alerts.Stats{Retrying: 2, Failed: 1, Expired: 1}) {
		t.Fatalf("stats %+v, want 2 retries, 1 failed, 1 expired", total)
	}
	var status, lastErr string
	var attempts int
	if err := db.Raw(`SELECT status, last_error, attempts FROM alert_outbox WHERE company_uuid = ?`, co).Row().Scan(&status, &lastErr, &attempts); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || attempts != 3 || lastErr == "" {
		t.Fatalf("status %s after %d attempts, last error %q", status, attempts, lastErr)
	}
	if strings.Contains(lastErr, "SECRET") {
		t.Fatalf("stored error leaks the webhook URL: %q", lastErr)
	}
	if err := db.Raw(`SELECT status FROM alert_outbox WHERE company_uuid = ?`, old).Row().Scan(&status); err != nil || status != "expired" {
		t.Fatalf("old event: %s %v, want expired", status, err)
	}
}

// TestSignVerify: a signature covers the timestamp and the body; Verify
// refuses a stale or future timestamp, a changed body or timestamp, another
// secret, and every header that is not "t=…,v1=…" (the old "sha256=" form
// included).
func TestSignVerify(t *testing.T) {
	body := []byte(`{"id":"x"}`)
	at := time.Unix(1_800_000_000, 0)
	sig := alerts.Sign(secret, body, at)
	if !strings.HasPrefix(sig, "t=1800000000,v1=") || len(sig) != len("t=1800000000,v1=")+64 {
		t.Fatalf("signature %q", sig)
	}
	// The documented recipe, by hand: HMAC-SHA256 of "t.body".
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("1800000000." + string(body)))
	if want := "t=1800000000,v1=" + hex.EncodeToString(m.Sum(nil)); sig != want {
		t.Fatalf("Sign = %q, want %q", sig, want)
	}
	v1 := strings.TrimPrefix(sig, "t=1800000000,")
	other := alerts.Sign([]byte("other"), body, at)
	cases := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		now    time.Time
		want   error
	}{
		{"valid", secret, body, sig, at, nil},
		{"valid, receiver 4m59s ahead", secret, body, sig, at.Add(4*time.Minute + 59*time.Second), nil},
		{"valid, receiver 4m59s behind", secret, body, sig, at.Add(-4*time.Minute - 59*time.Second), nil},
		{"valid with spaces", secret, body, "t=1800000000, " + v1, at, nil},
		{"second v1 matches (secret rotation)", secret, body, other + "," + v1, at, nil},
		{"replayed 5m01s later", secret, body, sig, at.Add(5*time.Minute + time.Second), alerts.ErrStaleSignature},
		{"from 5m01s in the future", secret, body, sig, at.Add(-5*time.Minute - time.Second), alerts.ErrStaleSignature},
		{"tampered body", secret, []byte(`{"id":"y"}`), sig, at, alerts.ErrBadSignature},
		{"timestamp moved", secret, body, "t=1800000001," + v1, at, alerts.ErrBadSignature},
		{"other secret", []byte("other"), body, sig, at, alerts.ErrBadSignature},
		{"old sha256= form", secret, body, "sha256=" + strings.TrimPrefix(v1, "v1="), at, alerts.ErrMalformedSignature},
		{"no timestamp", secret, body, v1, at, alerts.ErrMalformedSignature},
		{"no v1", secret, body, "t=1800000000", at, alerts.ErrMalformedSignature},
		{"two timestamps", secret, body, "t=1800000000,t=1800000000," + v1, at, alerts.ErrMalformedSignature},
		{"v0 scheme", secret, body, "t=1800000000,v0=" + strings.TrimPrefix(v1, "v1="), at, alerts.ErrMalformedSignature},
		{"not hex", secret, body, "t=1800000000,v1=zz", at, alerts.ErrMalformedSignature},
		{"short", secret, body, "t=1800000000,v1=abcd", at, alerts.ErrMalformedSignature},
		{"timestamp not a number", secret, body, "t=soon," + v1, at, alerts.ErrMalformedSignature},
		{"empty", secret, body, "", at, alerts.ErrMalformedSignature},
	}
	for _, tc := range cases {
		if got := alerts.Verify(tc.secret, tc.body, tc.header, 0, tc.now); !errors.Is(got, tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A tolerance of its own.
	if err := alerts.Verify(secret, body, sig, time.Minute, at.Add(2*time.Minute)); !errors.Is(err, alerts.ErrStaleSignature) {
		t.Errorf("tolerance 1m, 2m late: %v, want ErrStaleSignature", err)
	}
}

// TestRecoveredOncePerReturn: one company.recovered per return to active
// from a status that raised an alert (needs_reauth, missing_scope); none
// for an unpause, or for an update that changes nothing.
func TestRecoveredOncePerReturn(t *testing.T) {
	db := pgtest.New(t).Gorm
	a, b, p := addCompany(t, db), addCompany(t, db), addCompany(t, db)
	setStatus(t, db, a, "needs_reauth", "revoked")
	setStatus(t, db, a, "active", "")
	setStatus(t, db, a, "active", "") // not a transition
	setStatus(t, db, b, "missing_scope", "lacks payrolls:read")
	setStatus(t, db, b, "active", "")
	setStatus(t, db, p, "paused", "operator")
	setStatus(t, db, p, "active", "") // an unpause is no recovery
	var rows []struct {
		CompanyUUID, PreviousStatus string
	}
	if err := db.Raw(`SELECT company_uuid::text, previous_status FROM alert_outbox WHERE kind = ? ORDER BY id`, alerts.KindRecovered).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].CompanyUUID != a || rows[0].PreviousStatus != "needs_reauth" ||
		rows[1].CompanyUUID != b || rows[1].PreviousStatus != "missing_scope" {
		t.Fatalf("recovered events %+v, want a from needs_reauth then b from missing_scope", rows)
	}
}

// TestFleetEventHasNoCompany: Gusto refusing the API version is one
// delivered event without a company uuid.
func TestFleetEventHasNoCompany(t *testing.T) {
	db := pgtest.New(t).Gorm
	c := &clock{t: time.Now()}
	rcv, srv := newReceiver(t, c)
	d := newDispatcher(t, db, srv.URL+"/hook", c)
	if err := apiversion.NewStore(db, 0).Rejected(context.Background(), "2025-06-15", "retired", "w1"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if st, err := d.DeliverDue(ctx); err != nil || st.Delivered != 1 {
		t.Fatalf("DeliverDue = %+v, %v; want 1 delivered", st, err)
	}
	got := rcv.receipts()
	if len(got) != 1 || got[0].event.Type != alerts.KindAPIVersionRejected || got[0].event.CompanyUUID != "" ||
		!strings.Contains(got[0].event.Reason, "GUSTO_API_VERSION") {
		t.Fatalf("received %+v, want one %s event without a company", got, alerts.KindAPIVersionRejected)
	}
}
