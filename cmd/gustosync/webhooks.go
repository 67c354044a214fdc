package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustoevents"
	"github.com/gustosync/gustosync/internal/postgres"
)

// webhooksConfig is what the webhooks commands read: the OAuth
// application's client id and secret, for a system access token.
type webhooksConfig struct {
	APIURL         string        `env:"GUSTO_API_URL" envDefault:"https://api.gusto-demo.com"`
	ClientID       string        `env:"GUSTO_CLIENT_ID,required,notEmpty"`
	ClientSecret   config.Secret `env:"GUSTO_CLIENT_SECRET,required,notEmpty"`
	APIVersion     string        `env:"GUSTO_API_VERSION" envDefault:"2026-06-15"`
	RequestTimeout time.Duration `env:"GUSTO_REQUEST_TIMEOUT" envDefault:"30s"`
}

// systemClient returns a Gusto client and a system token source.
func systemClient(e *env) (*gusto.Client, *gusto.SystemTokens, error) {
	var cfg webhooksConfig
	if err := e.config(&cfg); err != nil {
		return nil, nil, err
	}
	c, err := gusto.New(gusto.Options{BaseURL: cfg.APIURL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret.Reveal(),
		APIVersion: cfg.APIVersion, HTTPClient: &http.Client{Timeout: cfg.RequestTimeout}, Logger: e.log})
	if err != nil {
		return nil, nil, &config.Error{Var: "GUSTO_API_URL", Reason: err.Error()}
	}
	return c, gusto.NewSystemTokens(c), nil
}

// setupWebhooksSubscribe is `gustosync webhooks subscribe --url URL`.
func setupWebhooksSubscribe(fs *pflag.FlagSet, e *env) runFunc {
	to := fs.String("url", "", "the dashboard's public webhook URL, ending in /gusto/webhooks")
	types := fs.String("types", "Company,Employee,Payroll,ExternalPayroll", "comma-separated subscription types")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if !strings.HasPrefix(*to, "https://") && !strings.HasPrefix(*to, "http://") {
			return usagef("--url: want the absolute URL of the dashboard's /gusto/webhooks")
		}
		c, src, err := systemClient(e)
		if err != nil {
			return err
		}
		sub, err := c.Subscribe(ctx, src, *to, strings.Split(*types, ","))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "subscription %s %s; Gusto is POSTing its verification token to %s: run `gustosync webhooks verify %s` next\n", sub.UUID, sub.Status, sub.URL, sub.UUID)
		return nil
	}
}

// setupWebhooksList is `gustosync webhooks list`.
func setupWebhooksList(fs *pflag.FlagSet, e *env) runFunc {
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		c, src, err := systemClient(e)
		if err != nil {
			return err
		}
		subs, err := c.Subscriptions(ctx, src)
		if err != nil {
			return err
		}
		for _, s := range subs {
			fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\n", s.UUID, s.Status, s.URL, strings.Join(s.SubscriptionTypes, ","))
		}
		return nil
	}
}

// setupWebhooksVerify is `gustosync webhooks verify UUID`: confirm, with
// Gusto, the verification token the intake received; from then on it signs
// deliveries.
func setupWebhooksVerify(fs *pflag.FlagSet, e *env) runFunc {
	return func(ctx context.Context, args []string) error {
		id, err := oneCompany(args) // a uuid argument, as a company's
		if err != nil {
			return err
		}
		c, src, err := systemClient(e)
		if err != nil {
			return err
		}
		ring, err := openKeyring(e)
		if err != nil {
			return err
		}
		db, err := openDB(ctx, e, 2)
		if err != nil {
			return err
		}
		defer postgres.Close(db)
		store := gustoevents.NewStore(db, ring)
		pending, err := store.PendingKeys(ctx)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			return errors.New("no verification token has reached the intake yet: check that Gusto can reach the dashboard's /gusto/webhooks")
		}
		for _, tok := range pending {
			_, err := c.VerifySubscription(ctx, src, id, tok)
			var he *gusto.HTTPError
			if errors.As(err, &he) && he.StatusCode == http.StatusUnprocessableEntity {
				continue // not this subscription's token (or not Gusto's)
			}
			if err != nil {
				return err
			}
			if err := store.VerifyKey(ctx, tok, id); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "subscription %s verified; the intake now accepts its signed deliveries\n", id)
			return nil
		}
		return fmt.Errorf("none of the %d verification tokens the intake received was confirmed by Gusto for subscription %s", len(pending), id)
	}
}
