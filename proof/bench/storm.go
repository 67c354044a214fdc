package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/tokens"
	"github.com/gustosync/gustosync/proof/devstack"
)

// The storm: stormProcs processes, each with stormGoroutines goroutines
// calling AccessToken on random companies as fast as they can for
// stormDuration, with tokens living stormLifetime.
const (
	stormProcs      = 4
	stormGoroutines = 16
	stormCompanies  = 20
	stormDuration   = 30 * time.Second
	stormLifetime   = 10 * time.Second
)

// stormResult is what a storm child prints as its last line.
type stormResult struct {
	Calls      int64  `json:"calls"`
	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
}

// storm measures refresh calls per expiry window when many processes want
// the same companies' tokens at once.
func storm(ctx context.Context, b *bencher) error {
	st, err := b.stack(ctx, "storm", gustosim.Config{TokenLifetime: stormLifetime, RateLimit: -1})
	if err != nil {
		return err
	}
	defer st.Close()
	opts := make([]gustosim.CompanyOptions, stormCompanies)
	for i := range opts {
		opts[i] = gustosim.CompanyOptions{Employees: 1, Payrolls: 1}
	}
	companies, err := st.Onboard(ctx, opts...)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, stormProcs)
	for i := range stormProcs {
		name := fmt.Sprintf("storm-%d", i+1)
		env, err := st.ClientEnv(name, map[string]string{
			"BENCH_CHILD": "storm", "WORKER_ID": name, "STORM_COMPANIES": strings.Join(companies, ","),
			"STORM_DURATION": stormDuration.String(), "STORM_GOROUTINES": strconv.Itoa(stormGoroutines),
		})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.Sup.Run(ctx, devstack.Spec{Name: name, Path: exe, Env: env.List()})
		}()
	}
	wg.Wait()
	end := time.Now()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var calls, failures int64
	firstErr := ""
	for i := range stormProcs {
		var r stormResult
		line := lastLine(st.Sup.Dir() + fmt.Sprintf("/storm-%d.log", i+1))
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return fmt.Errorf("storm-%d said %q", i+1, line)
		}
		calls += r.Calls
		failures += r.Errors
		if firstErr == "" {
			firstErr = r.FirstError
		}
	}
	period := devstack.RefreshPeriod(stormLifetime, 5*time.Minute)
	windows := devstack.ExpiryWindows(start, end, period)
	tt := st.Sim.TokenTraffic()
	var total int64
	worst := 0.0
	for _, c := range companies {
		n := tt.CallsByCompany[c]
		total += n
		if r := float64(n) / float64(windows); r > worst {
			worst = r
		}
	}
	overall := float64(total) / float64(windows*int64(len(companies)))
	b.check("tokens", "refresh calls per expiry window, storm", windows > 0 && worst <= 1.0,
		fmt.Sprintf("%.2f (worst company %.2f)", overall, worst), "limit 1.00",
		fmt.Sprintf("%d processes × %d goroutines, %d AccessToken calls (%d failed) on %d companies over %s; %d token calls for %d companies × %d windows (a %s token is refreshed after %s; a window is that less 1 s, the Date header's truncation)",
			stormProcs, stormGoroutines, calls, failures, len(companies), end.Sub(start).Round(time.Second), total, len(companies), windows, stormLifetime, period))
	if failures > 0 {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.rep.Note("storm: %d AccessToken calls failed; first: %s", failures, firstErr)
	}
	return nil
}

// stormChild is a storm process: it hammers AccessToken and prints a
// stormResult.
func stormChild() int {
	var cfg config.Worker // WORKER_ID (defaulted), the database, Redis, Gusto and tokens
	if err := config.Parse(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	companies := strings.Split(os.Getenv("STORM_COMPANIES"), ",")
	d, err := time.ParseDuration(os.Getenv("STORM_DURATION"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "STORM_DURATION:", err)
		return 2
	}
	g, err := strconv.Atoi(os.Getenv("STORM_GOROUTINES"))
	if err != nil || g < 1 {
		fmt.Fprintln(os.Stderr, "STORM_GOROUTINES: want a positive integer")
		return 2
	}
	ctx := context.Background()
	db, err := postgres.Open(ctx, cfg.Database.URL, g)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ring, err := tokens.NewKeyring(cfg.EncryptionKeys)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opt, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	var m *tokens.Manager
	client, err := gusto.New(gusto.Options{
		BaseURL: cfg.APIURL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret.Reveal(), RedirectURI: cfg.RedirectURI,
		OnSkew: func(skew time.Duration) { m.ObserveSkew(skew) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	m, err = tokens.New(tokens.Config{
		Store: tokens.NewStore(db, ring), Refresher: client, Redis: rdb, WorkerID: cfg.ID,
		RefreshAhead: cfg.RefreshAhead, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var calls, failures atomic.Int64
	var first atomic.Pointer[string]
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				co := companies[rand.IntN(len(companies))]
				calls.Add(1)
				if _, err := m.AccessToken(ctx, co); err != nil {
					failures.Add(1)
					msg := err.Error()
					first.CompareAndSwap(nil, &msg)
				}
				// A millisecond between calls keeps 64 callers from pinning
				// every core for the whole storm; at each expiry they still
				// all arrive within that millisecond.
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	r := stormResult{Calls: calls.Load(), Errors: failures.Load()}
	if p := first.Load(); p != nil {
		r.FirstError = *p
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
	return 0
}

// lastLine returns the last non-empty line of a file.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return lines[len(lines)-1]
}
