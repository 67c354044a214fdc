package gusto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file: the system-level API, reached with a system access token
// rather than a company's: POST /oauth/token with grant_type=system_access
// (https://docs.gusto.com/app-integrations/docs/api-tokens), GET /v1/events
// (operation get-events) and the webhook subscriptions
// (https://docs.gusto.com/app-integrations/docs/webhooks).

const (
	opSystemToken   = "POST /oauth/token (system_access)"
	opEvents        = "GET /v1/events"
	opSubscribe     = "POST /v1/webhook_subscriptions"
	opSubscriptions = "GET /v1/webhook_subscriptions"
	opVerify        = "PUT /v1/webhook_subscriptions/{uuid}/verify"
)

// Event is one of Gusto's events, as GET /v1/events lists it and a webhook
// delivers it.
type Event struct {
	UUID         string `json:"uuid"`
	EventType    string `json:"event_type"`
	ResourceType string `json:"resource_type"`
	// ResourceUUID is the company (resource_type is always "Company").
	ResourceUUID string `json:"resource_uuid"`
	EntityType   string `json:"entity_type"`
	EntityUUID   string `json:"entity_uuid"`
	// Timestamp is when the event happened, unix seconds.
	Timestamp int64 `json:"timestamp"`
}

// WebhookSubscription is a webhook subscription.
type WebhookSubscription struct {
	UUID              string   `json:"uuid"`
	URL               string   `json:"url"`
	Status            string   `json:"status"`
	SubscriptionTypes []string `json:"subscription_types"`
}

// SystemTokens hands out a system access token, obtained with the client id
// and secret and reused until a minute before it expires. It is safe for
// concurrent use.
type SystemTokens struct {
	c       *Client
	mu      sync.Mutex
	token   string
	expires time.Time // local clock
}

// NewSystemTokens returns a system token source for c, which must have
// ClientID and ClientSecret.
func NewSystemTokens(c *Client) *SystemTokens { return &SystemTokens{c: c} }

// Token returns a live system access token. It never appears in an error.
func (s *SystemTokens) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.c.now()
	if s.token != "" && now.Before(s.expires) {
		return s.token, nil
	}
	c := s.c
	if c.opts.ClientID == "" || c.opts.ClientSecret == "" {
		return "", errors.New("gusto: " + opSystemToken + ": ClientID and ClientSecret are required")
	}
	body, err := json.Marshal(map[string]string{"grant_type": "system_access", "client_id": c.opts.ClientID, "client_secret": c.opts.ClientSecret})
	if err != nil {
		return "", err
	}
	r, err := c.do(ctx, request{op: opSystemToken, method: http.MethodPost, path: "/oauth/token", body: body})
	if err != nil {
		return "", err
	}
	if r.status < 200 || r.status > 299 {
		return "", c.statusError(opSystemToken, r, c.opts.ClientSecret)
	}
	var w struct {
		AccessToken string      `json:"access_token"`
		ExpiresIn   json.Number `json:"expires_in"`
	}
	if err := unmarshalObject(r.body, &w); err != nil || w.AccessToken == "" {
		return "", malformed(opSystemToken, r.status, errors.New("no access_token"))
	}
	life, err := strconv.ParseInt(w.ExpiresIn.String(), 10, 64)
	if err != nil || life <= 0 {
		life = 7200
	}
	s.token = w.AccessToken
	s.expires = now.Add(time.Duration(life)*time.Second - time.Minute)
	return s.token, nil
}

// Forget drops the cached token (after a 401).
func (s *SystemTokens) Forget() {
	s.mu.Lock()
	s.token = ""
	s.mu.Unlock()
}

// EventsQuery is a GET /v1/events request.
type EventsQuery struct {
	// StartingAfter is the uuid of the last event already seen; empty means
	// from the oldest event kept (30 days).
	StartingAfter string
	// Limit is 1 to 100; zero means Gusto's default (25).
	Limit int
	// EventType filters (exact, or with * wildcards).
	EventType string
}

// Events lists events after q.StartingAfter, oldest first, with a system
// access token from src.
func (c *Client) Events(ctx context.Context, src *SystemTokens, q EventsQuery) ([]Event, error) {
	v := url.Values{}
	if q.StartingAfter != "" {
		v.Set("starting_after_uuid", q.StartingAfter)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.EventType != "" {
		v.Set("event_type", q.EventType)
	}
	var out []Event
	err := c.system(ctx, src, request{op: opEvents, method: http.MethodGet, path: "/v1/events", query: v}, &out)
	return out, err
}

// Subscribe creates a webhook subscription to url for types (e.g.
// "Company", "Employee", "Payroll"). Gusto then POSTs a verification token
// to url; confirm it with VerifySubscription.
func (c *Client) Subscribe(ctx context.Context, src *SystemTokens, to string, types []string) (WebhookSubscription, error) {
	body, err := json.Marshal(map[string]any{"url": to, "subscription_types": types})
	if err != nil {
		return WebhookSubscription{}, err
	}
	var out WebhookSubscription
	err = c.system(ctx, src, request{op: opSubscribe, method: http.MethodPost, path: "/v1/webhook_subscriptions", body: body}, &out)
	return out, err
}

// Subscriptions lists the webhook subscriptions.
func (c *Client) Subscriptions(ctx context.Context, src *SystemTokens) ([]WebhookSubscription, error) {
	var out []WebhookSubscription
	err := c.system(ctx, src, request{op: opSubscriptions, method: http.MethodGet, path: "/v1/webhook_subscriptions"}, &out)
	return out, err
}

// VerifySubscription confirms subscription id with the verification token
// Gusto POSTed to its URL.
func (c *Client) VerifySubscription(ctx context.Context, src *SystemTokens, id, verificationToken string) (WebhookSubscription, error) {
	body, err := json.Marshal(map[string]string{"verification_token": verificationToken})
	if err != nil {
		return WebhookSubscription{}, err
	}
	var out WebhookSubscription
	err = c.system(ctx, src, request{op: opVerify, method: http.MethodPut, path: "/v1/webhook_subscriptions/" + url.PathEscape(id) + "/verify", body: body}, &out)
	return out, err
}

// system sends r with a system token and decodes a 2xx JSON answer into
// out; a 401 drops the cached token (the next call gets a new one).
func (c *Client) system(ctx context.Context, src *SystemTokens, r request, out any) error {
	tok, err := src.Token(ctx)
	if err != nil {
		return err
	}
	r.bearer = tok
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	if resp.status < 200 || resp.status > 299 {
		if resp.status == http.StatusUnauthorized {
			src.Forget()
		}
		return c.statusError(r.op, resp, tok)
	}
	if resp.tooLarge {
		return tooLarge(r.op, resp)
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return malformed(r.op, resp.status, fmt.Errorf("decode: %s", strings.TrimPrefix(err.Error(), "json: ")))
	}
	return nil
}
