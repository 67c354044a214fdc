package config

import "time"

// GustoEvents configures how Gusto's events are acted on (package
// gustoevents), by the dashboard's webhook intake and the scheduler's
// events feed alike.
type GustoEvents struct {
	// SyncDebounce is the least time between two event-driven syncs of one
	// company (employee.*, payroll.*, external_payroll.* events).
	SyncDebounce time.Duration `env:"GUSTO_EVENTS_SYNC_DEBOUNCE" envDefault:"5m"`
}

// EventsFeed configures the scheduler's poll of GET /v1/events, the
// fallback that needs no public endpoint: on by default, it needs only the
// OAuth application's client id and secret (a system access token).
type EventsFeed struct {
	GustoEvents
	// Enabled turns the feed on (the default) or off.
	Enabled bool `env:"GUSTO_EVENTS_FEED" envDefault:"true"`
	// Period is the time between polls.
	Period time.Duration `env:"GUSTO_EVENTS_POLL" envDefault:"30s"`
	// APIURL, ClientID, ClientSecret, APIVersion and RequestTimeout are the
	// Gusto variables the feed reads (see Gusto). Without a client id and
	// secret the feed cannot run: the scheduler says so at start and runs
	// without it.
	APIURL         string        `env:"GUSTO_API_URL" envDefault:"https://api.gusto-demo.com"`
	ClientID       string        `env:"GUSTO_CLIENT_ID"`
	ClientSecret   Secret        `env:"GUSTO_CLIENT_SECRET"`
	APIVersion     string        `env:"GUSTO_API_VERSION" envDefault:"2026-06-15"`
	RequestTimeout time.Duration `env:"GUSTO_REQUEST_TIMEOUT" envDefault:"30s"`
}

func (f *EventsFeed) validate() error {
	if f.Period <= 0 {
		return &Error{Var: "GUSTO_EVENTS_POLL", Reason: "must be positive"}
	}
	return nil
}

func (g *GustoEvents) validate() error {
	if g.SyncDebounce <= 0 {
		return &Error{Var: "GUSTO_EVENTS_SYNC_DEBOUNCE", Reason: "must be positive"}
	}
	return nil
}

// Runs reports whether the feed is on and can run (it has the client id
// and secret).
func (f *EventsFeed) Runs() bool { return f.Enabled && f.ClientID != "" && f.ClientSecret != "" }
