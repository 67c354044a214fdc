package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// SimServer serves an in-process gustosim.Sim on loopback, one listener per
// client process (URL), and records who got which answer: data calls by
// company and client, and every token pair the token endpoint issued by
// company and client (see Traffic, Issued). The Sim itself stays reachable
// for its Go methods (Counters, Revoke, Checksum, Update).
type SimServer struct {
	// Sim is the simulator.
	Sim *gustosim.Sim
	now func() time.Time

	mu        sync.Mutex
	servers   []*http.Server
	urls      map[string]string
	traffic   map[string]*CompanyTraffic // company uuid → data calls
	other     CompanyTraffic             // API calls without a company in the path
	token     TokenTraffic
	companyOf map[string]string // refresh token → company uuid (memory only)
	exchanged map[string]bool   // refresh tokens answered 200 once (memory only)
	issued    []issuedPair
}

// CompanyTraffic counts API answers to one company's data calls.
type CompanyTraffic struct {
	Requests     int64
	Unauthorized int64 // 401
	Forbidden    int64 // 403
	RateLimited  int64 // 429
	ServerErrors int64 // 5xx
	// ByClient counts requests per client (the URL they were sent to).
	ByClient map[string]int64
	// UnauthorizedByClient counts 401s per client.
	UnauthorizedByClient map[string]int64
}

// TokenTraffic counts answers of POST /oauth/token.
type TokenTraffic struct {
	Requests, OK, InvalidGrant, RateLimited, ServerErrors, Other int64
	// RefreshesByClient counts refresh_token grants answered 200, per client.
	RefreshesByClient map[string]int64
	// CallsByCompany counts refresh_token grants per company, whatever the
	// answer (refused and failed calls included).
	CallsByCompany map[string]int64
	// RefusedReplays counts, per company, refresh tokens refused
	// (invalid_grant) after they had already been exchanged once: a replay
	// the rule did not forgive. A revoked grant's unused token is not one.
	RefusedReplays map[string]int64
}

// IssuedPair is a token pair the token endpoint issued on a refresh: to
// which company, to which client, when the request arrived and when the
// answer had been written. The tokens themselves never leave the SimServer.
type IssuedPair struct {
	Company string
	Client  string
	// Requested is when the request arrived; At when the handler returned
	// (the pair took effect in between: a client that dies meanwhile may
	// never see it).
	Requested time.Time
	At        time.Time
	// Used reports whether the access token was presented on an API call.
	Used bool
}

type issuedPair struct {
	company, client string
	requested, at   time.Time
	access          string
}

// StartSim creates the simulator from cfg (see gustosim.Config). now is the
// recorder's clock; nil means time.Now.
func StartSim(cfg gustosim.Config, now func() time.Time) (*SimServer, error) {
	sim, err := gustosim.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("devstack: simulator: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &SimServer{Sim: sim, now: now, urls: map[string]string{}, traffic: map[string]*CompanyTraffic{},
		companyOf: map[string]string{}, exchanged: map[string]bool{},
		token: TokenTraffic{RefreshesByClient: map[string]int64{}, CallsByCompany: map[string]int64{}, RefusedReplays: map[string]int64{}}}, nil
}

// URL returns the base URL the named client should use (GUSTO_API_URL),
// opening its loopback listener on first use.
func (s *SimServer) URL(client string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.urls[client]; ok {
		return u, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("devstack: simulator listener for %s: %w", client, err)
	}
	srv := &http.Server{Handler: s.handler(client), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	s.servers = append(s.servers, srv)
	u := "http://" + l.Addr().String()
	s.urls[client] = u
	return u, nil
}

// Close stops every listener.
func (s *SimServer) Close() {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	for _, srv := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
		_ = srv.Close()
	}
}

// AddCompanies creates n companies with o's sizes (o.UUID must be empty)
// and returns their grants in the shape `gustosync companies add` reads.
func (s *SimServer) AddCompanies(n int, o gustosim.CompanyOptions) ([]gustosim.Grant, error) {
	if o.UUID != "" && n != 1 {
		return nil, errors.New("devstack: AddCompanies with a fixed uuid makes one company")
	}
	out := make([]gustosim.Grant, 0, n)
	for range n {
		g, err := s.Sim.CreateCompany(o)
		if err != nil {
			return nil, fmt.Errorf("devstack: create company: %w", err)
		}
		s.mu.Lock()
		s.companyOf[g.Token.RefreshToken] = g.CompanyUUID
		s.mu.Unlock()
		out = append(out, g)
	}
	return out, nil
}

// Traffic returns a copy of the data-call counts by company, and the counts
// of API calls without a company (/v1/me, /v1/token_info).
func (s *SimServer) Traffic() (map[string]CompanyTraffic, CompanyTraffic) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]CompanyTraffic, len(s.traffic))
	for k, v := range s.traffic {
		out[k] = v.clone()
	}
	return out, s.other.clone()
}

// TokenTraffic returns a copy of the token endpoint's counts.
func (s *SimServer) TokenTraffic() TokenTraffic {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.token
	t.RefreshesByClient = cloneCounts(s.token.RefreshesByClient)
	t.CallsByCompany = cloneCounts(s.token.CallsByCompany)
	t.RefusedReplays = cloneCounts(s.token.RefusedReplays)
	return t
}

// Issued returns every pair issued on a refresh, in order, with whether its
// access token has been used since.
func (s *SimServer) Issued() []IssuedPair {
	s.mu.Lock()
	pairs := append([]issuedPair(nil), s.issued...)
	s.mu.Unlock()
	out := make([]IssuedPair, len(pairs))
	for i, p := range pairs {
		out[i] = IssuedPair{Company: p.company, Client: p.client, Requested: p.requested, At: p.at, Used: s.Sim.AccessTokenUses(p.access) > 0}
	}
	return out
}

func (c CompanyTraffic) clone() CompanyTraffic {
	c.ByClient = cloneCounts(c.ByClient)
	c.UnauthorizedByClient = cloneCounts(c.UnauthorizedByClient)
	return c
}

func cloneCounts(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// recorder captures the status, and for the token endpoint the body, of an
// answer.
type recorder struct {
	http.ResponseWriter
	status int
	body   *bytes.Buffer
	// onStatus, when set, is called once with the status before anything
	// reaches the client: a client that has read its answer finds it
	// recorded (an answer larger than the server's buffer reaches the
	// client before the handler returns).
	onStatus func(int)
}

// setStatus notes the answer's status, the first time.
func (r *recorder) setStatus(code int) {
	if r.status != 0 {
		return
	}
	r.status = code
	if r.onStatus != nil {
		r.onStatus(code)
	}
}

func (r *recorder) WriteHeader(code int) {
	r.setStatus(code)
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.setStatus(http.StatusOK)
	if r.body != nil && r.body.Len() < 64<<10 {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

func (s *SimServer) handler(client string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		switch {
		case r.URL.Path == "/oauth/token" && r.Method == http.MethodPost:
			requested := s.now()
			body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec.body = &bytes.Buffer{}
			s.Sim.ServeHTTP(rec, r)
			s.recordToken(client, r.Header.Get("Content-Type"), body, rec, requested)
		case strings.HasPrefix(r.URL.Path, "/v1/"):
			rec.onStatus = func(status int) { s.recordAPI(client, r.URL.Path, status) }
			s.Sim.ServeHTTP(rec, r)
			if rec.status == 0 { // nothing written: an empty 200
				rec.setStatus(http.StatusOK)
			}
		default:
			s.Sim.ServeHTTP(rec, r)
		}
	})
}

func (s *SimServer) recordAPI(client, path string, status int) {
	company := ""
	if rest, ok := strings.CutPrefix(path, "/v1/companies/"); ok {
		company, _, _ = strings.Cut(rest, "/")
		company = strings.ToLower(company)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &s.other
	if company != "" {
		if t = s.traffic[company]; t == nil {
			t = &CompanyTraffic{}
			s.traffic[company] = t
		}
	}
	if t.ByClient == nil {
		t.ByClient, t.UnauthorizedByClient = map[string]int64{}, map[string]int64{}
	}
	t.Requests++
	t.ByClient[client]++
	switch {
	case status == http.StatusUnauthorized:
		t.Unauthorized++
		t.UnauthorizedByClient[client]++
	case status == http.StatusForbidden:
		t.Forbidden++
	case status == http.StatusTooManyRequests:
		t.RateLimited++
	case status >= 500:
		t.ServerErrors++
	}
}

func (s *SimServer) recordToken(client, contentType string, reqBody []byte, rec *recorder, requested time.Time) {
	var req struct {
		GrantType    string `json:"grant_type"`
		RefreshToken string `json:"refresh_token"`
	}
	if strings.HasPrefix(contentType, "application/json") {
		_ = json.Unmarshal(reqBody, &req)
	} else if v, err := url.ParseQuery(string(reqBody)); err == nil {
		req.GrantType, req.RefreshToken = v.Get("grant_type"), v.Get("refresh_token")
	}
	var resp struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
	}
	_ = json.Unmarshal(rec.body.Bytes(), &resp)
	at := s.now()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.token.Requests++
	switch {
	case rec.status == http.StatusOK:
		s.token.OK++
	case resp.Error == "invalid_grant":
		s.token.InvalidGrant++
	case rec.status == http.StatusTooManyRequests:
		s.token.RateLimited++
	case rec.status >= 500:
		s.token.ServerErrors++
	default:
		s.token.Other++
	}
	if req.GrantType != "refresh_token" {
		return
	}
	company := s.companyOf[req.RefreshToken]
	s.token.CallsByCompany[company]++
	if resp.Error == "invalid_grant" && s.exchanged[req.RefreshToken] {
		s.token.RefusedReplays[company]++
	}
	if rec.status != http.StatusOK || resp.RefreshToken == "" {
		return
	}
	s.exchanged[req.RefreshToken] = true
	s.token.RefreshesByClient[client]++
	s.companyOf[resp.RefreshToken] = company
	s.issued = append(s.issued, issuedPair{company: company, client: client, requested: requested, at: at, access: resp.AccessToken})
}
