package jobs_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/tokens"
)

// TestLongPayPeriodsTwoFullSyncsAMonthApart (issue 19 item 1, invariant
// 32): a company with a quarterly and an annual pay schedule, under the
// literal reading of Gusto's payroll date filter ("within"): two full syncs
// a month apart leave every payroll whose pay period ends by the horizon
// present and none marked deleted. Before, the windows (overlapping by 45
// days) held no quarterly or annual pay period on a seam, and, moving with
// the month, marked deleted the payrolls one sync had stored.
func TestLongPayPeriodsTwoFullSyncsAMonthApart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1, PayrollFilter: gustosim.FilterWithin, TokenLifetime: 90 * 24 * time.Hour}})
	ctx := testCtx(t, 2*time.Minute)
	g, err := e.sim.CreateCompany(gustosim.CompanyOptions{Employees: 3, Payrolls: 40,
		PaySchedules: []gustosim.Frequency{gustosim.Quarterly, gustosim.Annually}, HistoryMonths: 48})
	if err != nil {
		t.Fatal(err)
	}
	company := g.CompanyUUID
	if _, err := e.store.Put(ctx, tokens.Grant{CompanyUUID: g.CompanyUUID, AccessToken: g.Token.AccessToken, RefreshToken: g.Token.RefreshToken,
		ExpiresIn: g.Token.ExpiresIn, CreatedAt: g.Token.CreatedAt}, "test"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var offset time.Duration
	h := e.handler(func(c *jobs.Config) { c.Now = func() time.Time { return now.Add(offset) } })
	sync := func() {
		t.Helper()
		if err := h.ProcessTask(ctx, task(t, company, uuid.NewString())); err != nil {
			t.Fatal(err)
		}
	}
	sync()
	offset = 30 * 24 * time.Hour
	e.sim.Update(func(c *gustosim.Config) { c.ClockOffset = offset })
	sync()

	records, err := e.sim.Records(company, "payrolls")
	if err != nil {
		t.Fatal(err)
	}
	horizon := now.Add(offset).AddDate(0, 3, -2).Format(time.DateOnly)
	long, want := 0, 0
	for _, raw := range records {
		var p struct {
			UUID      string `json:"uuid"`
			PayPeriod struct {
				StartDate string `json:"start_date"`
				EndDate   string `json:"end_date"`
			} `json:"pay_period"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if p.PayPeriod.EndDate > horizon {
			continue // no window may reach it under the literal reading yet
		}
		s, _ := time.Parse(time.DateOnly, p.PayPeriod.StartDate)
		en, _ := time.Parse(time.DateOnly, p.PayPeriod.EndDate)
		if en.Sub(s) > 80*24*time.Hour {
			long++
		}
		want++
		if n := e.scalar(`SELECT count(*) FROM gusto_payrolls WHERE uuid = ? AND deleted_at IS NULL`, p.UUID); n != "1" {
			t.Fatalf("payroll %s (pay period %s..%s) missing or marked deleted after two full syncs a month apart",
				p.UUID, p.PayPeriod.StartDate, p.PayPeriod.EndDate)
		}
	}
	if long == 0 {
		t.Fatal("the simulator served no quarterly or annual payroll: the test tests nothing")
	}
	if n := e.scalar(`SELECT count(*) FROM gusto_payrolls WHERE company_uuid = ? AND deleted_at IS NOT NULL`, company); n != "0" {
		t.Fatalf("%s payrolls marked deleted, want none", n)
	}
	if n := e.scalar(`SELECT count(*) FROM company_full_syncs WHERE company_uuid = ?`, company); n != "1" {
		t.Fatal("the full syncs were not recorded")
	}
	t.Logf("%d payrolls stored, %d of them quarterly or annual", want, long)
}
