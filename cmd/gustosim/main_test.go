package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/waitfor"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBadCommandLines(t *testing.T) {
	t.Setenv("GUSTO_CLIENT_SECRET", "env-secret-value")
	for _, args := range [][]string{
		{"--nope"},
		{"--revocation", "lenient"},
		{"--token-lifetime", "soon"},
		{"--error-rate", "2"},
		{"--rate-limit", "x"},
		{"--companies", "3"},
		{"--employees", "0"},
		{"extra"},
		{"--redirect-uri", "not-a-url"},
		{"--min-api-version", "2025-13-01"},
		{"--min-api-version", "latest"},
		{"--payroll-filter", "straddle"},
		{"--rate-limit-scope", "user"},
		{"--companies-per-owner", "0"},
		{"--payrolls", "1000001"},
		{"--pay-schedules", "semiannually"},
		{"--pay-schedules", "weekly,daily"},
		{"--history-months", "241"},
		{"--history-months", "-1"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		msg := errb.String()
		if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "gustosim: ") || out.Len() != 0 {
			t.Errorf("%v: want one line on stderr, got stderr %q stdout %q", args, msg, out.String())
		}
		if strings.Contains(msg, "env-secret-value") {
			t.Errorf("%v: the secret is printed", args)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Setenv("GUSTO_CLIENT_SECRET", "env-secret-value")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, f := range []string{"--addr", "--token-lifetime", "--revocation", "--rate-limit", "--rate-window", "--token-rate-limit",
		"--error-rate", "--token-error-rate", "--latency-rate", "--latency", "--clock-offset", "--employees", "--payrolls",
		"--max-per", "--seed", "--companies", "--grants-out", "--client-id", "--client-secret", "--redirect-uri",
		"--min-api-version", "--payroll-filter", "--rate-limit-scope", "--omit-pagination-headers", "--companies-per-owner",
		"--pay-schedules", "--history-months", "--long-payrolls"} {
		if !strings.Contains(out.String(), f+"\n") {
			t.Errorf("--help does not document %s", f)
		}
	}
	if strings.Contains(out.String(), "env-secret-value") {
		t.Fatal("--help prints the secret")
	}
}

func TestServes(t *testing.T) {
	grants := filepath.Join(t.TempDir(), "grants.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--companies", "2", "--companies-per-owner", "2", "--grants-out", grants, "--token-lifetime", "30", "--revocation", "strict",
			"--min-api-version", "2026-02-01", "--payroll-filter", "overlap", "--rate-limit-scope", "owner", "--omit-pagination-headers",
			"--pay-schedules", "quarterly,Annually", "--history-months", "48", "--long-payrolls"}, &out, &errb)
	}()
	waitfor.Condition(t, 10*time.Second, "the start line", func() bool {
		if strings.Contains(out.String(), "\n") {
			return true
		}
		select {
		case code := <-done:
			t.Fatalf("exited %d before serving: %s", code, errb.String())
		default:
		}
		return false
	})
	line := out.String()
	m := regexp.MustCompile(`serving (http://127\.0\.0\.1:\d+) \(rule strict, token lifetime 30s, rate limit 200/1m0s per owner, minimum API version 2026-02-01, payroll filter overlap\)`).FindStringSubmatch(line)
	if m == nil || !strings.Contains(line, "POST /admin/companies") || strings.Count(line, "\n") != 1 {
		t.Fatalf("start line: %q", line)
	}
	base := m[1]

	b, err := os.ReadFile(grants)
	if err != nil {
		t.Fatal(err)
	}
	var gs []struct {
		CompanyUUID  string `json:"company_uuid"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(b, &gs); err != nil || len(gs) != 2 || gs[0].ExpiresIn != 30 {
		t.Fatalf("grants file: %v %s", err, b)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/companies/"+gs[0].CompanyUUID+"/employees", nil)
	req.Header.Set("Authorization", "Bearer "+gs[0].AccessToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var emps []json.RawMessage
	if res.StatusCode != 200 || json.Unmarshal(body, &emps) != nil || len(emps) != 25 || res.Header.Get("X-Total-Count") != "" {
		t.Fatalf("employees: %d, %d records, X-Total-Count %q (headers are off)", res.StatusCode, len(emps), res.Header.Get("X-Total-Count"))
	}
	// The settings took effect: the minimum version, and both companies
	// share one resource owner.
	owners := map[string]bool{}
	for _, g := range gs {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/token_info", nil)
		req.Header.Set("Authorization", "Bearer "+g.AccessToken)
		req.Header.Set("X-Gusto-API-Version", "2026-02-01")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			ResourceOwner struct{ UUID string } `json:"resource_owner"`
		}
		err = json.NewDecoder(res.Body).Decode(&info)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("token_info: %d %v", res.StatusCode, err)
		}
		owners[info.ResourceOwner.UUID] = true
	}
	if len(owners) != 1 {
		t.Fatalf("--companies-per-owner 2: resource owners %v, want one", owners)
	}
	req.Header.Set("X-Gusto-API-Version", "2025-11-15")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotAcceptable {
		t.Fatalf("a version below --min-api-version: %d, want 406", res.StatusCode)
	}
	// The companies' payrolls come from a quarterly and an annual schedule,
	// with the long semiannual off-cycle and external payrolls.
	res, err = http.Get(base + "/admin/companies/" + gs[0].CompanyUUID + "/records/payrolls")
	if err != nil {
		t.Fatal(err)
	}
	var pays []struct {
		Period   string `json:"withholding_pay_period"`
		External bool   `json:"external"`
	}
	err = json.NewDecoder(res.Body).Decode(&pays)
	res.Body.Close()
	periods := map[string]int{}
	for _, p := range pays {
		if p.External {
			periods["external"]++
		} else {
			periods[p.Period]++
		}
	}
	if err != nil || len(periods) != 4 || periods["Quarterly"] == 0 || periods["Annually"] == 0 || periods["Semiannually"] == 0 || periods["external"] == 0 {
		t.Fatalf("--pay-schedules quarterly,Annually --long-payrolls: payrolls by withholding pay period %v (%v)", periods, err)
	}
	res, err = http.Get(base + "/admin/counters")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("admin counters: %v", err)
	}
	res.Body.Close()

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after interrupt: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop after the context ended")
	}
}
