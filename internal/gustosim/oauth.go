package gustosim

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxTokenBody bounds a POST /oauth/token body.
const maxTokenBody = 64 << 10

// credentialParams must never appear in a URL query.
var credentialParams = []string{"client_secret", "refresh_token", "code", "access_token", "password"}

// authCode is an issued authorization code.
type authCode struct {
	company *company
	owner   *user
	scopes  []string
	expires time.Time // Gusto's clock
	used    bool
	grant   *grant // the grant the exchange created
}

// tokenResponse is Refresh-Token-Authentication.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	CreatedAt    int64  `json:"created_at"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// tokenRequest is the union of the grant bodies.
type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RedirectURI  string `json:"redirect_uri"`
	RefreshToken string `json:"refresh_token"`
	Code         string `json:"code"`
}

// handleToken is POST /oauth/token. Injected errors come first, then the
// X-Gusto-API-Version check (406, as on every endpoint).
func (s *Sim) handleToken(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg.Load()
	if cfg.TokenBareUnauthorized {
		s.n.injectedUnauthorized.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("<html><body><h1>401 Authorization Required</h1></body></html>\n"))
		return
	}
	if cfg.TokenErrorRate > 0 && rand.Float64() < cfg.TokenErrorRate {
		s.n.injectedErrors.Add(1)
		if rand.IntN(2) == 0 {
			w.Header().Set("Retry-After", "1")
			s.sendOAuthError(w, r, cfg, http.StatusServiceUnavailable, "temporarily_unavailable", "The authorization server is temporarily unavailable.")
		} else {
			s.sendOAuthError(w, r, cfg, http.StatusInternalServerError, "server_error", "An unexpected error has occurred.")
		}
		return
	}
	if _, ok := s.apiVersion(w, r, cfg); !ok {
		return
	}
	q := r.URL.Query()
	for _, k := range credentialParams {
		if q.Has(k) {
			s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_request", "Credentials must not be sent in the URL query ("+k+").")
			return
		}
	}
	req, ok := s.parseTokenRequest(w, r, cfg)
	if !ok {
		return
	}
	// Client authentication: the body, or HTTP Basic.
	id, secret := req.ClientID, req.ClientSecret
	if bid, bsecret, basic := r.BasicAuth(); basic && id == "" && secret == "" {
		id, secret = bid, bsecret
	}
	if subtle.ConstantTimeCompare([]byte(id), []byte(cfg.ClientID)) != 1 || subtle.ConstantTimeCompare([]byte(secret), []byte(cfg.ClientSecret)) != 1 {
		s.sendOAuthError(w, r, cfg, http.StatusUnauthorized, "invalid_client", "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.")
		return
	}
	switch req.GrantType {
	case "refresh_token":
		s.refreshGrant(w, r, cfg, req)
	case "authorization_code":
		s.codeGrant(w, r, cfg, req)
	case "system_access":
		s.systemGrant(w, r, cfg)
	case "":
		s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_request", "Missing required parameter: grant_type.")
	default:
		s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
	}
}

// parseTokenRequest reads a JSON (or form) body.
func (s *Sim) parseTokenRequest(w http.ResponseWriter, r *http.Request, cfg *Config) (tokenRequest, bool) {
	var req tokenRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTokenBody))
	if err != nil {
		s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_request", "The request body is too large or unreadable.")
		return req, false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_request", "The form body is malformed.")
			return req, false
		}
		req = tokenRequest{GrantType: v.Get("grant_type"), ClientID: v.Get("client_id"), ClientSecret: v.Get("client_secret"),
			RedirectURI: v.Get("redirect_uri"), RefreshToken: v.Get("refresh_token"), Code: v.Get("code")}
		return req, true
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_request", "The request body must be a JSON object with string fields.")
		return req, false
	}
	return req, true
}

func (s *Sim) sendToken(w http.ResponseWriter, r *http.Request, cfg *Config, out issued) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	s.sendJSON(w, r, cfg, http.StatusOK, tokenResponse{
		AccessToken: out.access, TokenType: "Bearer", ExpiresIn: out.expiresIn,
		CreatedAt: out.createdAt, RefreshToken: out.refresh, Scope: out.scope,
	})
}

const invalidGrantDescription = "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."

// refreshGrant is grant_type=refresh_token.
func (s *Sim) refreshGrant(w http.ResponseWriter, r *http.Request, cfg *Config, req tokenRequest) {
	if req.RefreshToken == "" {
		s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_request", "Missing required parameter: refresh_token.")
		return
	}
	rt := s.lookupRefresh(req.RefreshToken)
	if rt == nil {
		s.n.refreshesRefused.Add(1)
		s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_grant", invalidGrantDescription)
		return
	}
	if cfg.TokenRateLimit > 0 {
		now := cfg.Now()
		if ok, _, reset := rt.grant.token.take(now, cfg.TokenRateLimit, time.Minute); !ok {
			s.n.rateLimited.Add(1)
			w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(now, reset), 10))
			s.sendOAuthError(w, r, cfg, http.StatusTooManyRequests, "rate_limit_exceeded", "Too many token requests for this grant.")
			return
		}
	}
	out, outcome, replay := s.rotate(cfg, rt)
	if replay {
		s.n.replays.Add(1)
	}
	if outcome != refreshIssued {
		s.n.refreshesRefused.Add(1)
		s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_grant", invalidGrantDescription)
		return
	}
	s.n.refreshes.Add(1)
	out.company.refreshes.Add(1)
	s.sendToken(w, r, cfg, out)
}

// codeGrant is grant_type=authorization_code.
func (s *Sim) codeGrant(w http.ResponseWriter, r *http.Request, cfg *Config, req tokenRequest) {
	if req.Code == "" {
		s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_request", "Missing required parameter: code.")
		return
	}
	refuse := func() {
		s.n.codeExchangesRefused.Add(1)
		s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_grant", invalidGrantDescription)
	}
	if req.RedirectURI != cfg.RedirectURI {
		refuse()
		return
	}
	s.codesMu.Lock()
	code := s.codes[req.Code]
	if code == nil || code.used || !s.gustoNow(cfg).Before(code.expires) {
		var reused *grant
		if code != nil && code.used {
			reused = code.grant
		}
		s.codesMu.Unlock()
		if reused != nil && cfg.Revocation == RuleFamily {
			reused.kill() // a replayed code revokes what it issued (RFC 6749 4.1.2)
		}
		refuse()
		return
	}
	code.used = true
	g := s.newGrant(code.company, code.owner, code.scopes)
	code.grant = g
	s.codesMu.Unlock()
	_, out := s.issue(cfg, g, nil)
	s.emit(code.company, EventCompanyProvisioned, "Company", code.company.uuid)
	s.n.codeExchanges.Add(1)
	s.sendToken(w, r, cfg, out)
}

// handleAuthorize is GET /oauth/authorize: Gusto's consent screen, answered
// at once per SetAuthorize.
func (s *Sim) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg.Load()
	if _, ok := s.apiVersion(w, r, cfg); !ok {
		return
	}
	q := r.URL.Query()
	for _, k := range credentialParams {
		if q.Has(k) {
			s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_request", "Credentials must not be sent in the URL query ("+k+").")
			return
		}
	}
	if q.Get("client_id") != cfg.ClientID {
		s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_client", "Unknown client_id.")
		return
	}
	if q.Get("redirect_uri") != cfg.RedirectURI {
		s.sendOAuthError(w, r, cfg, http.StatusBadRequest, "invalid_request", "The redirect_uri does not match the registered one.")
		return
	}
	redirect := func(params url.Values) {
		u, _ := url.Parse(cfg.RedirectURI) // validated by normalize
		v := u.Query()
		for k, vs := range params {
			v[k] = vs
		}
		if st := q.Get("state"); st != "" {
			v.Set("state", st)
		}
		u.RawQuery = v.Encode()
		w.Header().Set("Location", u.String())
		w.Header().Set("Cache-Control", "no-store")
		s.send(w, r, cfg, http.StatusFound, nil)
	}
	if q.Get("response_type") != "code" {
		redirect(url.Values{"error": {"unsupported_response_type"}})
		return
	}
	b := s.authorizeBehavior()
	if b.Deny {
		redirect(url.Values{"error": {"access_denied"}, "error_description": {"The resource owner denied the request."}})
		return
	}
	scopes := b.Scopes
	if len(scopes) == 0 {
		scopes = normalizeFields(q.Get("scope"))
	}
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	var c *company
	var owner *user
	if b.CompanyUUID != "" {
		if c = s.company(b.CompanyUUID); c == nil {
			redirect(url.Values{"error": {"server_error"}, "error_description": {"The consent's company does not exist."}})
			return
		}
		owner = c.owner
	} else {
		var err error
		if owner, err = s.owner(""); err != nil {
			redirect(url.Values{"error": {"server_error"}})
			return
		}
		for i := 0; i < max(b.Companies, 1); i++ {
			co, err := s.newCompany(cfg, CompanyOptions{Employees: -1, Payrolls: -1}, owner)
			if err != nil {
				redirect(url.Values{"error": {"server_error"}})
				return
			}
			s.fillUser(owner, co)
			if c == nil {
				c = co
			}
		}
	}
	code := newTokenValue()
	s.codesMu.Lock()
	s.codes[code] = &authCode{company: c, owner: owner, scopes: scopes, expires: s.gustoNow(cfg).Add(cfg.CodeLifetime)}
	s.codesMu.Unlock()
	redirect(url.Values{"code": {code}})
}

// normalizeFields splits a space-separated scope string.
func normalizeFields(s string) []string {
	out, _ := normalizeScopes([]string{s})
	return out
}
