package tokens_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/tokens"
)

// ExampleManager wires a Manager the way a worker does: the keyring and the
// refresh-ahead window from the environment, the Gusto client as the
// Refresher (its skew measurements feeding the manager), Redis for the
// refresh lock, and a registry the binary serves on /metrics. The Manager is
// then the Gusto client's TokenSource: AccessToken before every request,
// Invalidate after a 401.
func ExampleManager() {
	ctx := context.Background()
	var cfg config.Worker // the database, Redis, Gusto, tokens and WORKER_ID
	if err := config.Parse(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	db, err := postgres.Open(ctx, cfg.Database.URL, 10)
	if err != nil {
		panic(err)
	}
	ring, err := tokens.NewKeyring(cfg.EncryptionKeys)
	if err != nil {
		panic(err)
	}
	store := tokens.NewStore(db, ring)
	opt, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		panic(err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := tokens.NewMetrics(reg, store)
	if err != nil {
		panic(err)
	}

	var m *tokens.Manager
	client, err := gusto.New(gusto.Options{
		BaseURL: cfg.APIURL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret.Reveal(), RedirectURI: cfg.RedirectURI,
		OnSkew: func(skew time.Duration) { m.ObserveSkew(skew) },
	})
	if err != nil {
		panic(err)
	}
	m, err = tokens.New(tokens.Config{
		Store:        store,
		WorkerID:     cfg.ID,
		Refresher:    client,
		Redis:        redis.NewClient(opt),
		RefreshAhead: cfg.RefreshAhead,
		Logger:       slog.Default(),
		Metrics:      metrics,
	})
	if err != nil {
		panic(err)
	}

	company, err := client.Company(ctx, m, "6a1c2b9e-1111-4222-8333-444455556666")
	switch {
	case tokens.Terminal(err):
		// needs_reauth, paused or unknown: do not retry; a person must act.
	case err != nil:
		// transient (429, 5xx, Redis or PostgreSQL down): retry later,
		// after tokens.RetryAfter(err) when it is set.
	default:
		fmt.Println(company.Name)
	}
}
