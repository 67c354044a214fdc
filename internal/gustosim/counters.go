package gustosim

import "sync/atomic"

// counters are updated atomically on the request paths.
type counters struct {
	refreshes, refreshesRefused, replays       atomic.Int64
	codeExchanges, codeExchangesRefused        atomic.Int64
	unauthorized, forbidden, rateLimited       atomic.Int64
	injectedErrors, apiRequests, withoutVerHdr atomic.Int64
	injectedUnauthorized                       atomic.Int64
	versionRejected                            atomic.Int64
	systemTokens, events                       atomic.Int64
	webhookDeliveries, webhookFailures         atomic.Int64
}

// Counters is a snapshot of what the simulator saw. The maps are copies.
type Counters struct {
	// Refreshes counts successful refresh_token grants.
	Refreshes int64 `json:"refreshes"`
	// RefreshesRefused counts refresh_token grants answered invalid_grant.
	RefreshesRefused int64 `json:"refreshes_refused"`
	// Replays counts refresh tokens presented after they were used or
	// rotated away, whether accepted (RuleGusto, latest wins) or refused.
	Replays int64 `json:"replays"`
	// CodeExchanges counts successful authorization_code grants.
	CodeExchanges int64 `json:"code_exchanges"`
	// CodeExchangesRefused counts authorization_code grants answered
	// invalid_grant (unknown, expired or reused code, redirect mismatch).
	CodeExchangesRefused int64 `json:"code_exchanges_refused"`
	// Unauthorized counts 401s on API calls.
	Unauthorized int64 `json:"unauthorized"`
	// Forbidden counts 403s on API calls (missing scope, another company).
	Forbidden int64 `json:"forbidden"`
	// RateLimited counts 429s, API and token endpoint.
	RateLimited int64 `json:"rate_limited"`
	// InjectedErrors counts injected 5xx answers, API and token endpoint.
	InjectedErrors int64 `json:"injected_errors"`
	// InjectedUnauthorized counts bare 401s of the token endpoint
	// (Config.TokenBareUnauthorized).
	InjectedUnauthorized int64 `json:"injected_unauthorized"`
	// APIRequests counts every request to /v1/, authenticated or not.
	APIRequests int64 `json:"api_requests"`
	// WithoutVersionHeader counts requests (API, token endpoint, authorize)
	// without X-Gusto-API-Version: they are served at MinAPIVersion.
	WithoutVersionHeader int64 `json:"without_version_header"`
	// VersionRejected counts 406 answers: an X-Gusto-API-Version older than
	// MinAPIVersion, in the future, or not a date.
	VersionRejected int64 `json:"version_rejected"`
	// SystemTokens counts system access tokens issued (system_access grant).
	SystemTokens int64 `json:"system_tokens"`
	// Events counts events emitted (GET /v1/events, webhooks).
	Events int64 `json:"events"`
	// WebhookDeliveries counts webhook deliveries answered 2xx;
	// WebhookFailures the attempts that were not (each retry counts).
	WebhookDeliveries int64 `json:"webhook_deliveries"`
	WebhookFailures   int64 `json:"webhook_failures"`
	// Requests counts authenticated API requests per company uuid.
	Requests map[string]int64 `json:"requests"`
	// EmployeeRequests counts, per company uuid, the authenticated requests
	// to GET /v1/companies/{company_id}/employees (every page, valid or not).
	EmployeeRequests map[string]int64 `json:"employee_requests"`
	// RecordsServed counts employee and payroll records served per company
	// (a record fetched twice counts twice).
	RecordsServed map[string]int64 `json:"records_served"`
	// RefreshesByCompany counts successful refreshes per company.
	RefreshesByCompany map[string]int64 `json:"refreshes_by_company"`
	// OtherConsumer counts, per company, the requests the other consumer
	// (Config.OtherConsumer) spent from the company's grant budgets;
	// OtherConsumerRefused those that budget refused. Budgets shared by a
	// resource owner (RateLimitPerOwner) are counted under the owner's
	// first company.
	OtherConsumer        map[string]int64 `json:"other_consumer"`
	OtherConsumerRefused map[string]int64 `json:"other_consumer_refused"`
}

// Counters returns a snapshot of the counters. Companies with nothing to
// count are left out of the maps.
func (s *Sim) Counters() Counters {
	out := Counters{
		Refreshes:            s.n.refreshes.Load(),
		RefreshesRefused:     s.n.refreshesRefused.Load(),
		Replays:              s.n.replays.Load(),
		CodeExchanges:        s.n.codeExchanges.Load(),
		CodeExchangesRefused: s.n.codeExchangesRefused.Load(),
		Unauthorized:         s.n.unauthorized.Load(),
		Forbidden:            s.n.forbidden.Load(),
		RateLimited:          s.n.rateLimited.Load(),
		InjectedErrors:       s.n.injectedErrors.Load(),
		InjectedUnauthorized: s.n.injectedUnauthorized.Load(),
		APIRequests:          s.n.apiRequests.Load(),
		WithoutVersionHeader: s.n.withoutVerHdr.Load(),
		VersionRejected:      s.n.versionRejected.Load(),
		SystemTokens:         s.n.systemTokens.Load(),
		Events:               s.n.events.Load(),
		WebhookDeliveries:    s.n.webhookDeliveries.Load(),
		WebhookFailures:      s.n.webhookFailures.Load(),
		Requests:             map[string]int64{},
		EmployeeRequests:     map[string]int64{},
		RecordsServed:        map[string]int64{},
		RefreshesByCompany:   map[string]int64{},
		OtherConsumer:        map[string]int64{},
		OtherConsumerRefused: map[string]int64{},
	}
	s.mu.RLock()
	companies := append([]*company(nil), s.order...)
	s.mu.RUnlock()
	for _, c := range companies {
		if v := c.requests.Load(); v != 0 {
			out.Requests[c.uuid] = v
		}
		if v := c.employeeRequests.Load(); v != 0 {
			out.EmployeeRequests[c.uuid] = v
		}
		if v := c.records.Load(); v != 0 {
			out.RecordsServed[c.uuid] = v
		}
		if v := c.refreshes.Load(); v != 0 {
			out.RefreshesByCompany[c.uuid] = v
		}
		c.mu.Lock()
		grants := append([]*grant(nil), c.grants...)
		c.mu.Unlock()
		owners := map[*user]bool{}
		for _, g := range grants {
			out.addOther(c.uuid, &g.api)
			if g.owner != nil && !owners[g.owner] {
				owners[g.owner] = true
				s.mu.RLock()
				first := len(g.owner.companies) > 0 && g.owner.companies[0] == c
				s.mu.RUnlock()
				if first {
					out.addOther(c.uuid, &g.owner.api)
				}
			}
		}
	}
	return out
}

// addOther adds the other consumer's counts of budget w to company.
func (out *Counters) addOther(company string, w *window) {
	w.mu.Lock()
	sent, refused := w.otherSent, w.otherLimit
	w.mu.Unlock()
	if sent != 0 {
		out.OtherConsumer[company] += sent
	}
	if refused != 0 {
		out.OtherConsumerRefused[company] += refused
	}
}
