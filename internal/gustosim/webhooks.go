package gustosim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// This file: webhook subscriptions and deliveries, as
// https://docs.gusto.com/app-integrations/docs/webhooks and the operations
// post-v1-webhook-subscription, get-v1-webhook-subscriptions and
// put-v1-verify-webhook-subscription-uuid describe them:
//
//   - POST /v1/webhook_subscriptions {url, subscription_types} (system
//     token) answers 201 with the subscription, status "pending", then POSTs
//     {"verification_token": "…"} to the url.
//     POST …/{uuid}/request_verification_token sends it again.
//   - PUT /v1/webhook_subscriptions/{uuid}/verify {verification_token}
//     makes it "verified" (a wrong token is a 422); only then are events
//     delivered to it.
//   - A delivery is a POST of the event's JSON with X-Gusto-Signature, the
//     hex HMAC-SHA256 of the raw body keyed with the verification token.
//     Any answer other than 2xx (or none within WebhookTimeout) is retried
//     after WebhookRetryDelay, doubling, WebhookMaxAttempts times in all.
//     company.provisioned and company.deprovisioned go to every verified
//     subscription ("always fired, regardless of whether your application
//     has a subscription to the Company entity type"); other events to the
//     subscriptions whose subscription_types hold their entity's type.
//   - Choices where Gusto is silent, each a Config knob, seeded by Seed:
//     WebhookDuplicateRate delivers an event twice, WebhookReorderRate holds
//     one back up to WebhookReorderDelay so a later event arrives first.

// Webhook defaults.
const (
	DefaultWebhookMaxAttempts = 8
	DefaultWebhookRetryDelay  = time.Second
	DefaultWebhookTimeout     = 5 * time.Second
)

// subscriptionTypes are the subscription_types Gusto accepts.
var subscriptionTypes = []string{"BankAccount", "Company", "CompanyBenefit", "Contractor", "ContractorPayment", "Employee",
	"EmployeeBenefit", "EmployeeJobCompensation", "ExternalPayroll", "Form", "Location", "Notification", "Payroll",
	"PayrollSync", "PaySchedule", "Signatory"}

// subscription is a webhook subscription.
type subscription struct {
	uuid  string
	url   string
	types []string
	mu    sync.Mutex
	state string // pending or verified
	token string // the verification token
}

// Subscription is a webhook subscription as Gusto represents it.
type Subscription struct {
	UUID              string   `json:"uuid"`
	URL               string   `json:"url"`
	Status            string   `json:"status"`
	SubscriptionTypes []string `json:"subscription_types"`
}

func (sub *subscription) view() Subscription {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return Subscription{UUID: sub.uuid, URL: sub.url, Status: sub.state, SubscriptionTypes: append([]string(nil), sub.types...)}
}

// webhooks holds the subscriptions and the deliveries in flight.
type webhooks struct {
	mu     sync.Mutex
	subs   []*subscription
	rng    *rand.Rand
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (s *Sim) initWebhooks(seed int64) {
	s.hooks.rng = rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	s.hooks.ctx, s.hooks.cancel = context.WithCancel(context.Background())
}

// Close stops the webhook deliveries in flight and waits for them. The
// simulator keeps serving requests; new events are no longer delivered.
func (s *Sim) Close() error {
	s.hooks.mu.Lock() // no delivery starts after the cancel (see deliverEvent)
	s.hooks.cancel()
	s.hooks.mu.Unlock()
	s.hooks.wg.Wait()
	return nil
}

// Subscriptions returns the webhook subscriptions.
func (s *Sim) Subscriptions() []Subscription {
	s.hooks.mu.Lock()
	subs := append([]*subscription(nil), s.hooks.subs...)
	s.hooks.mu.Unlock()
	out := make([]Subscription, len(subs))
	for i, sub := range subs {
		out[i] = sub.view()
	}
	return out
}

func (s *Sim) subscriptionByUUID(id string) *subscription {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	for _, sub := range s.hooks.subs {
		if sub.uuid == strings.ToLower(id) {
			return sub
		}
	}
	return nil
}

// handleCreateSubscription is POST /v1/webhook_subscriptions.
func (s *Sim) handleCreateSubscription(w http.ResponseWriter, r *http.Request, cfg *Config) {
	var req struct {
		URL               string   `json:"url"`
		SubscriptionTypes []string `json:"subscription_types"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTokenBody))
	if err != nil || json.Unmarshal(body, &req) != nil {
		s.sendError(w, r, cfg, http.StatusUnprocessableEntity, "base", "invalid_attribute_value", "The body must be a JSON object with url and subscription_types.")
		return
	}
	if u, err := url.Parse(req.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		s.sendError(w, r, cfg, http.StatusUnprocessableEntity, "url", "invalid_attribute_value", "url must be an absolute http or https URL.")
		return
	}
	if len(req.SubscriptionTypes) == 0 {
		s.sendError(w, r, cfg, http.StatusUnprocessableEntity, "subscription_types", "invalid_attribute_value", "subscription_types must not be empty.")
		return
	}
	for _, t := range req.SubscriptionTypes {
		if !slices.Contains(subscriptionTypes, t) {
			s.sendError(w, r, cfg, http.StatusUnprocessableEntity, "subscription_types", "invalid_attribute_value", "Unknown subscription type "+t+".")
			return
		}
	}
	sub := &subscription{uuid: uuid.NewString(), url: req.URL, types: req.SubscriptionTypes, state: "pending", token: newTokenValue()}
	s.hooks.mu.Lock()
	s.hooks.subs = append(s.hooks.subs, sub)
	s.hooks.mu.Unlock()
	s.sendVerificationToken(cfg, sub)
	s.sendJSON(w, r, cfg, http.StatusCreated, sub.view())
}

// sendVerificationToken POSTs the subscription's verification token to its
// URL (once, unsigned, in the background).
func (s *Sim) sendVerificationToken(cfg *Config, sub *subscription) {
	sub.mu.Lock()
	body, _ := json.Marshal(map[string]string{"verification_token": sub.token})
	sub.mu.Unlock()
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	if s.hooks.ctx.Err() != nil {
		return
	}
	s.hooks.wg.Add(1)
	go func() {
		defer s.hooks.wg.Done()
		_, _ = s.post(cfg, sub.url, body, "")
	}()
}

// handleVerifySubscription is PUT /v1/webhook_subscriptions/{uuid}/verify.
func (s *Sim) handleVerifySubscription(w http.ResponseWriter, r *http.Request, cfg *Config) {
	sub := s.subscriptionByUUID(r.PathValue("uuid"))
	if sub == nil {
		s.sendError(w, r, cfg, http.StatusNotFound, "request", "not_found", "The requested resource was not found.")
		return
	}
	var req struct {
		VerificationToken string `json:"verification_token"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTokenBody))
	if err != nil || json.Unmarshal(body, &req) != nil || req.VerificationToken == "" {
		s.sendError(w, r, cfg, http.StatusUnprocessableEntity, "verification_token", "invalid_attribute_value", "verification_token is required.")
		return
	}
	sub.mu.Lock()
	ok := hmacEqual(req.VerificationToken, sub.token)
	if ok {
		sub.state = "verified"
	}
	sub.mu.Unlock()
	if !ok {
		s.sendError(w, r, cfg, http.StatusUnprocessableEntity, "verification_token", "invalid_attribute_value", "The verification_token does not match.")
		return
	}
	s.sendJSON(w, r, cfg, http.StatusOK, sub.view())
}

func hmacEqual(a, b string) bool {
	return Signature("k", []byte(a)) == Signature("k", []byte(b))
}

// entitySubscription is the subscription type covering an event type.
func entitySubscription(eventType string) string {
	prefix, _, _ := strings.Cut(eventType, ".")
	switch prefix {
	case "company":
		return "Company"
	case "employee":
		return "Employee"
	case "payroll":
		return "Payroll"
	case "external_payroll":
		return "ExternalPayroll"
	case "contractor":
		return "Contractor"
	case "contractor_payment":
		return "ContractorPayment"
	}
	return ""
}

// deliverEvent starts the deliveries of e to the verified subscriptions
// that cover it.
func (s *Sim) deliverEvent(cfg *Config, e Event) {
	always := e.EventType == EventCompanyProvisioned || e.EventType == EventCompanyDeprovisioned
	want := entitySubscription(e.EventType)
	body, _ := json.Marshal(e)
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	if s.hooks.ctx.Err() != nil { // Close ran: deliveries are over
		return
	}
	for _, sub := range s.hooks.subs {
		sub.mu.Lock()
		verified, token := sub.state == "verified", sub.token
		sub.mu.Unlock()
		if !verified || (!always && !slices.Contains(sub.types, want)) {
			continue
		}
		copies := 1
		if cfg.WebhookDuplicateRate > 0 && s.hooks.rng.Float64() < cfg.WebhookDuplicateRate {
			copies = 2
		}
		for range copies {
			var hold time.Duration
			if cfg.WebhookReorderRate > 0 && cfg.WebhookReorderDelay > 0 && s.hooks.rng.Float64() < cfg.WebhookReorderRate {
				hold = time.Duration(s.hooks.rng.Int64N(int64(cfg.WebhookReorderDelay))) + 1
			}
			s.hooks.wg.Add(1)
			go s.deliver(cfg, sub.url, token, body, hold)
		}
	}
}

// deliver POSTs body to url after hold, retrying non-2xx answers.
func (s *Sim) deliver(cfg *Config, to, token string, body []byte, hold time.Duration) {
	defer s.hooks.wg.Done()
	wait := func(d time.Duration) bool {
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-s.hooks.ctx.Done():
			return false
		}
	}
	if !wait(hold) {
		return
	}
	sig := Signature(token, body)
	delay := cfg.WebhookRetryDelay
	for attempt := 1; ; attempt++ {
		status, err := s.post(cfg, to, body, sig)
		if err == nil && status >= 200 && status <= 299 {
			s.n.webhookDeliveries.Add(1)
			return
		}
		s.n.webhookFailures.Add(1)
		if attempt >= cfg.WebhookMaxAttempts || !wait(delay) {
			return
		}
		delay *= 2
	}
}

// post sends one webhook request and returns the answer's status.
func (s *Sim) post(cfg *Config, to string, body []byte, signature string) (int, error) {
	ctx, cancel := context.WithTimeout(s.hooks.ctx, cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("X-Gusto-Signature", signature)
	}
	resp, err := webhookClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// webhookClient sends deliveries; it never follows redirects.
var webhookClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// handleRequestVerificationToken is POST
// /v1/webhook_subscriptions/{uuid}/request_verification_token.
func (s *Sim) handleRequestVerificationToken(w http.ResponseWriter, r *http.Request, cfg *Config) {
	sub := s.subscriptionByUUID(r.PathValue("uuid"))
	if sub == nil {
		s.sendError(w, r, cfg, http.StatusNotFound, "request", "not_found", "The requested resource was not found.")
		return
	}
	s.sendVerificationToken(cfg, sub)
	s.sendJSON(w, r, cfg, http.StatusOK, sub.view())
}

// handleListSubscriptions is GET /v1/webhook_subscriptions.
func (s *Sim) handleListSubscriptions(w http.ResponseWriter, r *http.Request, cfg *Config) {
	s.sendJSON(w, r, cfg, http.StatusOK, s.Subscriptions())
}

// systemRoutes registers the system endpoints.
func (s *Sim) systemRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/events", s.systemAPI("events:read", s.handleEvents))
	m.HandleFunc("POST /v1/webhook_subscriptions", s.systemAPI("webhook_subscriptions:write", s.handleCreateSubscription))
	m.HandleFunc("GET /v1/webhook_subscriptions", s.systemAPI("webhook_subscriptions:read", s.handleListSubscriptions))
	m.HandleFunc("PUT /v1/webhook_subscriptions/{uuid}/verify", s.systemAPI("webhook_subscriptions:write", s.handleVerifySubscription))
	m.HandleFunc("POST /v1/webhook_subscriptions/{uuid}/request_verification_token", s.systemAPI("webhook_subscriptions:read", s.handleRequestVerificationToken))
}

// normalizeWebhooks applies the webhook defaults and validates them.
func (c *Config) normalizeWebhooks() error {
	if c.WebhookMaxAttempts == 0 {
		c.WebhookMaxAttempts = DefaultWebhookMaxAttempts
	}
	if c.WebhookRetryDelay == 0 {
		c.WebhookRetryDelay = DefaultWebhookRetryDelay
	}
	if c.WebhookTimeout == 0 {
		c.WebhookTimeout = DefaultWebhookTimeout
	}
	switch {
	case c.WebhookMaxAttempts < 1:
		return &ConfigError{Field: "WebhookMaxAttempts", Reason: "must be at least 1"}
	case c.WebhookRetryDelay < 0 || c.WebhookTimeout < 0 || c.WebhookReorderDelay < 0:
		return &ConfigError{Field: "WebhookRetryDelay", Reason: "webhook delays must not be negative"}
	case !(c.WebhookDuplicateRate >= 0 && c.WebhookDuplicateRate <= 1):
		return &ConfigError{Field: "WebhookDuplicateRate", Reason: "must be a fraction between 0 and 1"}
	case !(c.WebhookReorderRate >= 0 && c.WebhookReorderRate <= 1):
		return &ConfigError{Field: "WebhookReorderRate", Reason: "must be a fraction between 0 and 1"}
	}
	return nil
}
