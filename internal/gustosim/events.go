package gustosim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// This file: Gusto's events, the system access grant and GET /v1/events.
//
//   - POST /oauth/token with grant_type=system_access and the client id and
//     secret returns a system access token (access_token, token_type,
//     created_at, expires_in; no refresh token), valid TokenLifetime; many
//     may be live at once. It opens the system endpoints only (events,
//     webhook subscriptions) and no company's data, as
//     https://docs.gusto.com/app-integrations/docs/api-tokens ("System
//     Access Tokens") says; a company token is refused on them (401).
//   - Every event is kept: company.provisioned when a grant is created
//     (CreateCompany, a code exchange; Gusto "always fired" it,
//     https://docs.gusto.com/app-integrations/docs/webhooks),
//     company.deprovisioned when the app is revoked (Revoke), employee.* and
//     payroll.* when a record is deleted or restored (DeleteRecord,
//     RestoreRecord), employee.updated when an employee is changed
//     (UpdateEmployee), and whatever EmitEvent is given. The body is Gusto's
//     Event object (operation get-events in Gusto's API reference): uuid,
//     event_type, resource_type "Company", resource_uuid (the company),
//     entity_type, entity_uuid, timestamp (unix seconds, Gusto's clock).
//   - GET /v1/events (system token, scope events:read) lists the events of
//     the last 30 days, sorted by timestamp (sort_order asc, the default, or
//     desc), after starting_after_uuid (exclusive), at most limit (1 to 100,
//     default 25), filtered by event_type (exact, or with * wildcards such
//     as employee.* or *.created) and resource_uuid. Choices where the
//     reference is silent: an unknown starting_after_uuid, a limit that is
//     not an integer in 1..100 and an unknown sort_order are 422s.

// EventRetention is how far back GET /v1/events reaches ("going back up to
// 30 days", operation get-events).
const EventRetention = 30 * 24 * time.Hour

// Event is one of Gusto's events (the Event object of Gusto's reference).
type Event struct {
	UUID         string `json:"uuid"`
	EventType    string `json:"event_type"`
	ResourceType string `json:"resource_type"`
	ResourceUUID string `json:"resource_uuid"`
	EntityType   string `json:"entity_type"`
	EntityUUID   string `json:"entity_uuid"`
	Timestamp    int64  `json:"timestamp"`
}

// Event types the simulator emits by itself.
const (
	EventCompanyProvisioned   = "company.provisioned"
	EventCompanyDeprovisioned = "company.deprovisioned"
)

// eventLog is every event emitted, in emission order (which is timestamp
// order: timestamps come from Gusto's clock at emission).
type eventLog struct {
	mu     sync.RWMutex
	events []Event
	index  map[string]int // uuid -> position
}

// systemToken is an issued system access token.
type systemToken struct {
	expiresAt time.Time // Gusto's clock
}

// systemScopes are the scopes of a system access token.
var systemScopes = map[string]bool{"events:read": true, "webhook_subscriptions:read": true, "webhook_subscriptions:write": true}

// systemGrant is grant_type=system_access.
func (s *Sim) systemGrant(w http.ResponseWriter, r *http.Request, cfg *Config) {
	v := newTokenValue()
	now := s.gustoNow(cfg)
	s.system.Store(v, &systemToken{expiresAt: now.Add(cfg.TokenLifetime)})
	s.n.systemTokens.Add(1)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	s.sendJSON(w, r, cfg, http.StatusOK, struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		CreatedAt   int64  `json:"created_at"`
		ExpiresIn   int64  `json:"expires_in"`
	}{v, "Bearer", now.Unix(), int64(cfg.TokenLifetime / time.Second)})
}

// systemAPI wraps h with the version check and system-token
// authentication; scope is checked against the system token's scopes.
func (s *Sim) systemAPI(scope string, h func(w http.ResponseWriter, r *http.Request, cfg *Config)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cfg := s.cfg.Load()
		s.n.apiRequests.Add(1)
		if _, ok := s.apiVersion(w, r, cfg); !ok {
			return
		}
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			s.unauthorized(w, r, cfg, "The access token is missing.")
			return
		}
		v, found := s.system.Load(strings.TrimSpace(token))
		if !found {
			s.unauthorized(w, r, cfg, "The access token is not a system access token.")
			return
		}
		if !s.gustoNow(cfg).Before(v.(*systemToken).expiresAt) {
			s.unauthorized(w, r, cfg, "The access token expired.")
			return
		}
		if !systemScopes[scope] {
			s.n.forbidden.Add(1)
			s.sendError(w, r, cfg, http.StatusForbidden, "request", "missing_permissions", "The access token is missing the scope "+scope+".")
			return
		}
		h(w, r, cfg)
	}
}

// EmitEvent records an event of eventType about companyUUID (its entity
// entityType/entityUUID; empty means the company itself) and delivers it to
// the verified webhook subscriptions that cover it. It returns the event.
func (s *Sim) EmitEvent(companyUUID, eventType, entityType, entityUUID string) (Event, error) {
	c := s.company(companyUUID)
	if c == nil {
		return Event{}, fmt.Errorf("emit %s for %s: %w", eventType, companyUUID, ErrUnknownCompany)
	}
	if eventType == "" || strings.ContainsAny(eventType, " *") {
		return Event{}, fmt.Errorf("%w: event type %q", ErrInvalidOptions, eventType)
	}
	if entityType == "" {
		entityType, entityUUID = "Company", c.uuid
	}
	return s.emit(c, eventType, entityType, entityUUID), nil
}

func (s *Sim) emit(c *company, eventType, entityType, entityUUID string) Event {
	cfg := s.cfg.Load()
	e := Event{UUID: uuid.NewString(), EventType: eventType, ResourceType: "Company", ResourceUUID: c.uuid,
		EntityType: entityType, EntityUUID: entityUUID, Timestamp: s.gustoNow(cfg).Unix()}
	s.events.mu.Lock()
	if s.events.index == nil {
		s.events.index = map[string]int{}
	}
	s.events.index[e.UUID] = len(s.events.events)
	s.events.events = append(s.events.events, e)
	s.events.mu.Unlock()
	s.n.events.Add(1)
	s.deliverEvent(cfg, e)
	return e
}

// Events returns every event emitted so far, oldest first.
func (s *Sim) Events() []Event {
	s.events.mu.RLock()
	defer s.events.mu.RUnlock()
	return append([]Event(nil), s.events.events...)
}

// matchEventType is the event_type filter: exact, or * matching any run of
// characters.
func matchEventType(pattern, t string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == t
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(t, parts[0]) {
		return false
	}
	t = t[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(t, p)
		}
		j := strings.Index(t, p)
		if j < 0 {
			return false
		}
		t = t[j+len(p):]
	}
	return true
}

// handleEvents is GET /v1/events.
func (s *Sim) handleEvents(w http.ResponseWriter, r *http.Request, cfg *Config) {
	q := r.URL.Query()
	invalid := func(msg string) {
		s.sendError(w, r, cfg, http.StatusUnprocessableEntity, "base", "invalid_attribute_value", msg)
	}
	limit := 25
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			invalid("limit must be an integer between 1 and 100.")
			return
		}
		limit = n
	}
	desc := false
	switch q.Get("sort_order") {
	case "", "asc":
	case "desc":
		desc = true
	default:
		invalid("sort_order must be asc or desc.")
		return
	}
	pattern, company := q.Get("event_type"), strings.ToLower(q.Get("resource_uuid"))
	oldest := s.gustoNow(cfg).Add(-EventRetention).Unix()
	s.events.mu.RLock()
	all := s.events.events
	start, step := 0, 1
	if desc {
		start, step = len(all)-1, -1
	}
	if after := q.Get("starting_after_uuid"); after != "" {
		i, ok := s.events.index[after]
		if !ok {
			s.events.mu.RUnlock()
			invalid("starting_after_uuid is not a known event.")
			return
		}
		start = i + step
	}
	out := make([]Event, 0, limit)
	for i := start; i >= 0 && i < len(all) && len(out) < limit; i += step {
		e := all[i]
		if e.Timestamp < oldest || (pattern != "" && !matchEventType(pattern, e.EventType)) || (company != "" && e.ResourceUUID != company) {
			continue
		}
		out = append(out, e)
	}
	s.events.mu.RUnlock()
	s.sendJSON(w, r, cfg, http.StatusOK, out)
}

// Signature is X-Gusto-Signature for body under a subscription's
// verification token: the hex HMAC-SHA256 of the raw body keyed with the
// token.
func Signature(verificationToken string, body []byte) string {
	m := hmac.New(sha256.New, []byte(verificationToken))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
