package devstack

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
)

func simConfig() gustosim.Config {
	return gustosim.Config{ClientID: "cid", ClientSecret: "csecret", RedirectURI: "http://127.0.0.1/cb", RateLimit: -1}
}

func startSim(t *testing.T) *SimServer {
	t.Helper()
	s, err := StartSim(simConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func refresh(t *testing.T, base, refreshToken string, form bool) (access, next string) {
	t.Helper()
	var resp *http.Response
	var err error
	if form {
		resp, err = http.PostForm(base+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
			"client_id": {"cid"}, "client_secret": {"csecret"}, "redirect_uri": {"http://127.0.0.1/cb"}})
	} else {
		body, _ := json.Marshal(map[string]string{"grant_type": "refresh_token", "refresh_token": refreshToken,
			"client_id": "cid", "client_secret": "csecret", "redirect_uri": "http://127.0.0.1/cb"})
		resp, err = http.Post(base+"/oauth/token", "application/json", strings.NewReader(string(body)))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("refresh: %s", resp.Status)
	}
	return out.AccessToken, out.RefreshToken
}

func get(t *testing.T, base, path, access string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("X-Gusto-API-Version", gusto.DefaultAPIVersion)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSimServerAttributes: answers are attributed to the company in the
// path and to the listener (client) that got them; refresh chains keep
// their company through rotations, in JSON and form bodies; unused pairs
// are reported unused.
func TestSimServerAttributes(t *testing.T) {
	s := startSim(t)
	w1, err := s.URL("worker-1")
	if err != nil {
		t.Fatal(err)
	}
	w2, _ := s.URL("worker-2")
	if again, _ := s.URL("worker-1"); again != w1 || w1 == w2 {
		t.Fatalf("URLs %s %s %s", w1, again, w2)
	}
	grants, err := s.AddCompanies(2, gustosim.CompanyOptions{Employees: 3, Payrolls: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, b := grants[0], grants[1]

	access1, rt1 := refresh(t, w1, a.Token.RefreshToken, false) // company a, by worker-1
	_, rt2 := refresh(t, w2, rt1, true)                         // company a again, by worker-2, form body: access1 never used after this...
	access3, _ := refresh(t, w2, b.Token.RefreshToken, true)    // company b, by worker-2
	_ = access1

	if code := get(t, w1, "/v1/companies/"+b.CompanyUUID+"/employees", access3); code != http.StatusOK {
		t.Fatalf("employees: %d", code)
	}
	if code := get(t, w2, "/v1/companies/"+strings.ToUpper(b.CompanyUUID), "not-a-token"); code != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", code)
	}
	if code := get(t, w2, "/v1/me", access3); code != http.StatusOK {
		t.Fatalf("me: %d", code)
	}

	traffic, other := s.Traffic()
	tb := traffic[b.CompanyUUID]
	if tb.Requests != 2 || tb.Unauthorized != 1 || tb.ByClient["worker-1"] != 1 || tb.UnauthorizedByClient["worker-2"] != 1 {
		t.Fatalf("company b traffic %+v", tb)
	}
	if _, ok := traffic[a.CompanyUUID]; ok {
		t.Fatalf("company a has data calls: %+v", traffic[a.CompanyUUID])
	}
	if other.Requests != 1 || other.Unauthorized != 0 {
		t.Fatalf("other traffic %+v", other)
	}
	tt := s.TokenTraffic()
	if tt.Requests != 3 || tt.OK != 3 || tt.RefreshesByClient["worker-1"] != 1 || tt.RefreshesByClient["worker-2"] != 2 {
		t.Fatalf("token traffic %+v", tt)
	}
	issued := s.Issued()
	want := []IssuedPair{{Company: a.CompanyUUID, Client: "worker-1"}, {Company: a.CompanyUUID, Client: "worker-2"}, {Company: b.CompanyUUID, Client: "worker-2", Used: true}}
	if len(issued) != len(want) {
		t.Fatalf("issued %+v", issued)
	}
	for i, p := range issued {
		if p.Company != want[i].Company || p.Client != want[i].Client || p.Used != want[i].Used || time.Since(p.At) > time.Minute || p.Requested.After(p.At) {
			t.Fatalf("issued[%d] = %+v, want %+v", i, p, want[i])
		}
	}

	// A refused refresh (strict: the rotated-away token) is counted as such.
	s.Sim.Update(func(c *gustosim.Config) { c.Revocation = gustosim.RuleStrict })
	resp, err := http.PostForm(w1+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {b.Token.RefreshToken},
		"client_id": {"cid"}, "client_secret": {"csecret"}, "redirect_uri": {"http://127.0.0.1/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if tt := s.TokenTraffic(); tt.InvalidGrant != 1 || tt.Requests != 4 || tt.CallsByCompany[a.CompanyUUID] != 2 ||
		tt.CallsByCompany[b.CompanyUUID] != 2 || tt.RefusedReplays[b.CompanyUUID] != 1 || len(tt.RefusedReplays) != 1 {
		t.Fatalf("after a replay: %+v (status %s)", tt, resp.Status)
	}
	// A revoked grant's unused refresh token is refused too, but is no replay.
	_, rtA := refresh(t, w1, rt2, false)
	if err := s.Sim.Revoke(a.CompanyUUID); err != nil {
		t.Fatal(err)
	}
	resp, err = http.PostForm(w1+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rtA},
		"client_id": {"cid"}, "client_secret": {"csecret"}, "redirect_uri": {"http://127.0.0.1/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if tt := s.TokenTraffic(); tt.InvalidGrant != 2 || tt.RefusedReplays[a.CompanyUUID] != 0 {
		t.Fatalf("after a revocation: %+v (status %s)", tt, resp.Status)
	}
}
