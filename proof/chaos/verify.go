package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gustosync/gustosync/proof/devstack"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

// crashWindow is how soon after the token endpoint's answer a kill -9 of the
// worker that asked must come for a lost grant to be put down to the kill
// (a kill while the request was in flight counts too): the answer-to-commit
// window is milliseconds, two seconds are generous.
const crashWindow = 2 * time.Second

// crashLoss is a company whose grant died with a killed worker: the last pair
// the simulator issued for it went to a worker killed while asking or right
// after the answer, and was never used.
type crashLoss struct {
	company, worker string
	answered        time.Time
	killedAfter     time.Duration
}

func (c crashLoss) String() string {
	return fmt.Sprintf("%s: pair issued to %s, which was killed %s after asking, before its commit; never used", c.company, c.worker, c.killedAfter.Round(10*time.Microsecond))
}

// killedTheAsker reports whether kill k took down the worker incarnation that
// asked for pair p: killed while the request was in flight or within
// crashWindow of the answer, or killed before the request even reached the
// simulator (the kernel delivers a dead process's buffered bytes) but before
// the worker was started again. Without a known restart time only the first
// two count.
func killedTheAsker(k devstack.Kill, p devstack.IssuedPair) bool {
	if !k.At.Before(p.Requested) {
		return k.At.Sub(p.At) <= crashWindow
	}
	return !k.Restarted.IsZero() && p.Requested.Before(k.Restarted)
}

// crashLosses attributes the companies in needs_reauth that were not revoked
// on purpose.
func crashLosses(issued []devstack.IssuedPair, kills []devstack.Kill, lost []string) (attributed []crashLoss, unexplained []string) {
	last := map[string]devstack.IssuedPair{}
	for _, p := range issued {
		if q, ok := last[p.Company]; !ok || !p.At.Before(q.At) {
			last[p.Company] = p
		}
	}
	for _, c := range lost {
		p, ok := last[c]
		found := false
		if ok && !p.Used {
			for _, k := range kills {
				if k.Process == p.Client && killedTheAsker(k, p) {
					attributed = append(attributed, crashLoss{company: c, worker: p.Client, answered: p.At, killedAfter: max(k.At.Sub(p.Requested), 0)})
					found = true
					break
				}
			}
		}
		if !found {
			unexplained = append(unexplained, c)
		}
	}
	return attributed, unexplained
}

func verify(ctx context.Context, st *devstack.Stack, s settings, f *faults, companies, victims, pending []string,
	chaosEnd time.Time, chaosLen, calmTook time.Duration) (*devstack.Report, error) {
	rep := &devstack.Report{}
	revoked := map[string]bool{}
	for _, v := range victims {
		revoked[v] = true
	}
	states, err := st.DB.Companies(ctx)
	if err != nil {
		return nil, err
	}
	counters := st.Sim.Sim.Counters()

	// What the chaos did.
	f.mu.Lock()
	rep.Info("faults", "worker kill -9 (each restarted at once)", fmt.Sprint(f.kills), fmt.Sprintf("every %s–%s over %s", s.killMin, s.killMax, chaosLen.Round(time.Second)))
	rep.Info("faults", "redis kill -9 and restart", fmt.Sprint(f.redisRestarts), "append-only file, fsync always")
	rep.Info("faults", "pg_terminate_backend rounds", fmt.Sprint(f.pgRounds), fmt.Sprintf("%d backends terminated", f.pgBackends))
	rep.Info("faults", "injected 5xx answers", fmt.Sprint(counters.InjectedErrors), fmt.Sprintf("%.0f%% of API calls, %d calls", s.errorRate*100, counters.APIRequests))
	rep.Info("faults", "grants revoked on purpose", fmt.Sprint(len(victims)), strings.Join(victims, ", "))
	rep.Info("faults", "token rule", s.rule, fmt.Sprintf("tokens live %s", s.lifetime))
	restartFails := f.restartFails
	f.mu.Unlock()
	rep.Check("faults", "killed workers back and ready", restartFails == 0, fmt.Sprintf("%d failed restarts", restartFails), "0")

	// Needs re-authorization: the revoked ones, and grants lost to a kill.
	var lost, revokedNotMarked []string
	for _, c := range companies {
		switch {
		case states[c].Status == "needs_reauth" && !revoked[c]:
			lost = append(lost, c)
		case revoked[c] && states[c].Status != "needs_reauth":
			revokedNotMarked = append(revokedNotMarked, c)
		}
	}
	attributed, unexplained := crashLosses(st.Sim.Issued(), st.Kills(), lost)
	allowCrash := s.crashWindow == "allow"
	// A company whose grant died with a killed worker fails (or, allowed,
	// passes) here, once: its replay, its archived task and its missing rows
	// are the same loss and are not counted again below.
	gone := map[string]bool{}
	for _, c := range victims {
		gone[c] = true
	}
	for _, a := range attributed {
		gone[a.company] = true
	}
	var detail []string
	for _, c := range unexplained {
		detail = append(detail, fmt.Sprintf("%s: not revoked on purpose (%s)", c, states[c].Reason))
	}
	for _, c := range revokedNotMarked {
		detail = append(detail, fmt.Sprintf("%s: revoked on purpose but %s", c, states[c].Status))
	}
	for _, a := range attributed {
		detail = append(detail, "lost in the crash window: "+a.String())
	}
	limit := "the revoked ones only"
	if allowCrash {
		limit += " (+ grants lost in the crash window: allowed)"
	}
	rep.Check("correctness", "companies in needs_reauth",
		len(unexplained) == 0 && len(revokedNotMarked) == 0 && (allowCrash || len(attributed) == 0),
		fmt.Sprintf("%d: %d revoked, %d lost in the crash window, %d unexplained", len(lost)+len(victims)-len(revokedNotMarked),
			len(victims)-len(revokedNotMarked), len(attributed), len(unexplained)),
		limit, detail...)

	// Every company that should recover did, after the chaos.
	lostSet := map[string]bool{}
	for _, c := range lost {
		lostSet[c] = true
	}
	var late []string
	for _, c := range pending {
		if !lostSet[c] && !revoked[c] {
			late = append(late, c)
		}
	}
	expected := len(companies) - len(victims) - len(lost)
	rep.Check("correctness", "companies that finished a sync after the chaos", len(late) == 0,
		fmt.Sprintf("%d of %d, within %s", expected-len(late), expected, calmTook.Round(time.Second)), "all",
		devstack.Firsts(late, 5, func(c string) string {
			cs := states[c]
			return fmt.Sprintf("%s: %s, %d succeeded runs, last at %s", c, cs.Status, cs.Succeeded, cs.LastSucceeded.Format(time.TimeOnly))
		})...)

	// Rows equal the simulator's.
	var check []string
	for _, c := range companies {
		if !gone[c] {
			check = append(check, c)
		}
	}
	mismatches, rows, err := rowcheck.Compare(ctx, st.DB.SQL, st.Sim.Sim, check)
	if err != nil {
		return nil, err
	}
	rep.Check("correctness", "rows equal the simulator's (count + sha256)", len(mismatches) == 0,
		fmt.Sprintf("%d companies, %d rows, %d mismatches", len(check), rows, len(mismatches)), "0 mismatches",
		devstack.Firsts(mismatches, 5, rowcheck.Mismatch.String)...)

	// Refresh tokens refused for replay (counted by the simulator's front:
	// a refresh token refused after it had been exchanged once). Each grant
	// lost in the crash window is refused exactly once: its stored refresh
	// token had already been exchanged by the killed worker.
	tt := st.Sim.TokenTraffic()
	var replays int64
	var replayed []string
	for _, c := range slices.Sorted(maps.Keys(tt.RefusedReplays)) {
		if n := tt.RefusedReplays[c]; !gone[c] || n > 1 {
			replays += n
			replayed = append(replayed, fmt.Sprintf("%s: %d", c, n))
		}
	}
	rep.Check("correctness", "refresh tokens refused for replay", replays == 0,
		fmt.Sprint(replays), fmt.Sprintf("0 (one per grant lost in the crash window aside: %d; replays in all, forgiven or not: %d)", len(attributed), counters.Replays),
		devstack.Firsts(replayed, 5, func(s string) string { return s })...)

	// 401s on data calls.
	traffic, _ := st.Sim.Traffic()
	var n401, gone401 int64
	var offenders []string
	for _, c := range slices.Sorted(maps.Keys(traffic)) {
		t := traffic[c]
		if gone[c] {
			gone401 += t.Unauthorized
			continue
		}
		if t.Unauthorized > 0 {
			n401 += t.Unauthorized
			offenders = append(offenders, fmt.Sprintf("%s: %d %v", c, t.Unauthorized, t.UnauthorizedByClient))
		}
	}
	rep.Check("correctness", "401s on data calls", n401 == 0, fmt.Sprint(n401), fmt.Sprintf("0 (the revoked or lost companies had %d)", gone401),
		devstack.Firsts(offenders, 5, func(s string) string { return s })...)

	// Checkpoints never moved backwards (trigger, exact).
	regs, err := st.DB.Regressions(ctx)
	if err != nil {
		return nil, err
	}
	rep.Check("correctness", "checkpoint, fence or token version moved backwards", len(regs) == 0, fmt.Sprint(len(regs)),
		"0 (recorded by triggers at each write)",
		devstack.Firsts(regs, 5, func(r devstack.Regression) string {
			return fmt.Sprintf("%s %s %s: %s", r.At.Format("15:04:05.000"), r.Kind, r.Company, r.Detail)
		})...)

	// No task left archived except the revoked companies'.
	archived, err := devstack.ArchivedTasks(st.Redis.Addr)
	if err != nil {
		return nil, err
	}
	var badArchived []devstack.ArchivedTask
	goneArchived := 0
	for _, a := range archived {
		if gone[a.Company] {
			goneArchived++
			continue
		}
		badArchived = append(badArchived, a)
	}
	rep.Check("correctness", "tasks archived", len(badArchived) == 0, fmt.Sprint(len(badArchived)),
		fmt.Sprintf("0 (the revoked or lost companies' %d aside)", goneArchived),
		devstack.Firsts(badArchived, 5, func(a devstack.ArchivedTask) string {
			return fmt.Sprintf("%s %s company %s: %s", a.Queue, a.ID, a.Company, a.LastErr)
		})...)

	// The crash window itself: how long a refreshed pair lived only in a
	// worker's memory.
	commits, err := st.DB.RefreshCommits(ctx)
	if err != nil {
		return nil, err
	}
	lat := devstack.CommitLatencies(st.Sim.Issued(), commits)
	rep.Info("load", "answer → commit (the crash window)", fmt.Sprintf("p50 %s, p99 %s, max %s", devstack.Quantile(lat, 0.5).Round(10*time.Microsecond),
		devstack.Quantile(lat, 0.99).Round(10*time.Microsecond), devstack.Quantile(lat, 1).Round(10*time.Microsecond)),
		fmt.Sprintf("over %d refreshes; %s", len(lat), windowCost(s.rule)))

	// Load, for the record.
	snap, err := st.DB.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	outcomes, err := st.DB.RefreshOutcomes(ctx)
	if err != nil {
		return nil, err
	}
	var oc []string
	for _, k := range slices.Sorted(maps.Keys(outcomes)) {
		oc = append(oc, fmt.Sprintf("%s %d", k, outcomes[k]))
	}
	rep.Info("load", "refresh events", fmt.Sprint(snap.Refreshes)+" refreshed", strings.Join(oc, ", "))
	rep.Info("load", "simulator refreshes", fmt.Sprintf("%d ok, %d refused", counters.Refreshes, counters.RefreshesRefused), "")
	rep.Info("load", "sync runs", fmt.Sprintf("%d succeeded, %d failed, %d still running/pending", snap.RunsSucceeded, snap.RunsFailed, snap.RunsRunning+snap.RunsPending), "")
	rep.Info("load", "API requests", fmt.Sprint(counters.APIRequests), fmt.Sprintf("%d answered 429", counters.RateLimited))
	return rep, nil
}

func windowCost(rule string) string {
	if rule == "gusto" {
		return "harmless under gusto: the stored refresh token stays valid"
	}
	return "a kill -9 inside it costs the grant under " + rule
}
