package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// Development defaults for the OAuth application.
const (
	devClientID     = "gustosync-dev"
	devClientSecret = "gustosync-dev-secret"
	devRedirectURI  = "http://127.0.0.1:8080/oauth/callback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// seconds is a duration flag that also accepts a bare number of seconds.
type seconds struct{ d *time.Duration }

func (s seconds) String() string {
	if s.d == nil {
		return ""
	}
	return s.d.String()
}

func (s seconds) Set(v string) error {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		*s.d = time.Duration(n * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("not a duration (e.g. 90s, 5m) or a number of seconds")
	}
	*s.d = d
	return nil
}

// enum is a flag taking one of a few values, parsed by parse.
type enum[T ~string] struct {
	v     *T
	parse func(string) (T, error)
	want  string // the values, for the error
}

func (e enum[T]) String() string {
	if e.v == nil {
		return ""
	}
	return string(*e.v)
}

func (e enum[T]) Set(v string) error {
	p, err := e.parse(v)
	if err != nil {
		return errors.New("want " + e.want)
	}
	*e.v = p
	return nil
}

// frequencies is the --pay-schedules flag.
type frequencies struct{ v *[]gustosim.Frequency }

func (f frequencies) String() string {
	if f.v == nil {
		return ""
	}
	names := make([]string, len(*f.v))
	for i, x := range *f.v {
		names[i] = string(x)
	}
	return strings.Join(names, ",")
}

func (f frequencies) Set(v string) error {
	fs, err := gustosim.ParseFrequencies(v)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "gustosim: invalid company options: "))
	}
	*f.v = fs
	return nil
}

// options is the parsed command line.
type options struct {
	addr      string
	companies int
	perOwner  int
	grantsOut string
	cfg       gustosim.Config
}

func parse(args []string, stdout io.Writer) (*options, bool, error) {
	o := &options{}
	c := &o.cfg
	c.Revocation = gustosim.RuleGusto
	c.TokenLifetime = gustosim.DefaultTokenLifetime
	c.RateWindow = gustosim.DefaultRateWindow
	c.CodeLifetime = gustosim.DefaultCodeLifetime
	c.MinAPIVersion = gustosim.DefaultMinAPIVersion
	c.PayrollFilter = gustosim.DefaultPayrollFilter
	c.RateLimitScope = gustosim.DefaultRateLimitScope
	admin := true
	fs := flag.NewFlagSet("gustosim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8089", "listen address (port 0 picks a free port)")
	fs.StringVar(&c.ClientID, "client-id", "", "OAuth client id (default $GUSTO_CLIENT_ID, else "+devClientID+")")
	fs.StringVar(&c.ClientSecret, "client-secret", "", "OAuth client secret (default $GUSTO_CLIENT_SECRET, else a development secret); never printed")
	fs.StringVar(&c.RedirectURI, "redirect-uri", "", "OAuth redirect URI (default $GUSTO_REDIRECT_URI, else "+devRedirectURI+")")
	fs.Var(seconds{&c.TokenLifetime}, "token-lifetime", "access token lifetime (expires_in), a duration or seconds")
	fs.Var(enum[gustosim.Rule]{&c.Revocation, gustosim.ParseRule, "gusto, latest_wins, strict or family"}, "revocation", "refresh token rule: gusto (old one dies on first use of a new access token, as documented), latest_wins (gusto, and presenting it again revokes the unused pair it issued last), strict (dies at once), family (a replay revokes the grant)")
	fs.StringVar(&c.MinAPIVersion, "min-api-version", c.MinAPIVersion, "oldest X-Gusto-API-Version accepted (YYYY-MM-DD); older ones, future ones and non-dates get 406, and requests without the header are served at it")
	fs.IntVar(&c.RateLimit, "rate-limit", gustosim.DefaultRateLimit, "API requests per budget (see --rate-limit-scope) per --rate-window; negative = unlimited")
	fs.Var(enum[gustosim.RateLimitScope]{&c.RateLimitScope, gustosim.ParseRateLimitScope, "grant or owner"}, "rate-limit-scope", "who shares a rate-limit budget: grant (each company's grant its own) or owner (the companies of one resource owner share one)")
	fs.Var(seconds{&c.RateWindow}, "rate-window", "rate limit window")
	fs.IntVar(&c.OtherConsumer, "other-consumer", 0, "API requests per --rate-window that another consumer of the same grant spends from every rate budget; 0 = none")
	fs.IntVar(&c.TokenRateLimit, "token-rate-limit", 0, "token requests per grant per minute; 0 = unlimited")
	fs.Float64Var(&c.ErrorRate, "error-rate", 0, "fraction of API calls answered with an injected 500/502/503")
	fs.Float64Var(&c.TokenErrorRate, "token-error-rate", 0, "fraction of token requests answered with an injected 503 (Retry-After: 1) or 500")
	fs.Float64Var(&c.LatencyRate, "latency-rate", 0, "fraction of answers delayed by --latency (after the request took effect)")
	fs.Var(seconds{&c.Latency}, "latency", "injected delay")
	fs.Var(seconds{&c.ClockOffset}, "clock-offset", "Gusto's clock minus the local clock (Date header, created_at, expiries)")
	fs.IntVar(&c.Employees, "employees", gustosim.DefaultEmployees, "employees per company by default")
	fs.IntVar(&c.Payrolls, "payrolls", gustosim.DefaultPayrolls, "payrolls per company by default: the most recent ones of its pay schedules (by default biweekly and/or monthly, about 43 a year with both: 125 reach about three years back, never more than --history-months)")
	fs.Var(frequencies{&c.PaySchedules}, "pay-schedules", "pay schedules of every company, comma-separated: weekly, biweekly, semimonthly, monthly, quarterly, annually (Gusto's frequencies; a frequency twice is two schedules); default a biweekly and/or a monthly one per company")
	fs.IntVar(&c.HistoryMonths, "history-months", gustosim.DefaultHistoryMonths, "how far back a company's pay periods start (at most "+strconv.Itoa(gustosim.MaxHistoryMonths)+")")
	fs.BoolVar(&c.LongPayrolls, "long-payrolls", false, "add to every company a semiannual off-cycle payroll per ended half-year and the external payrolls of the quarters before its history starts (beyond --payrolls)")
	fs.BoolVar(&c.PlainPayrolls, "plain-payrolls", false, "make every payroll regular and processed (no off-cycle payrolls, none for the current pay periods)")
	fs.Var(enum[gustosim.PayrollFilter]{&c.PayrollFilter, gustosim.ParsePayrollFilter, "within, start, overlap or check_date"}, "payroll-filter", "reading of the payrolls' start_date/end_date: within (the whole pay period inside), start (its start inside), overlap (it intersects the range), check_date (its check date inside, as with date_filter_by=check_date)")
	fs.IntVar(&c.MaxPer, "max-per", gustosim.DefaultMaxPer, "largest page size; a larger per is capped (X-Per-Page says what was served)")
	fs.BoolVar(&c.OmitPaginationHeaders, "omit-pagination-headers", false, "leave out X-Page, X-Per-Page, X-Total-Count and X-Total-Pages")
	fs.Var(seconds{&c.CodeLifetime}, "code-lifetime", "authorization code lifetime")
	fs.Int64Var(&c.Seed, "seed", 0, "seed of the generated data")
	fs.BoolVar(&admin, "admin", true, "serve the /admin/ endpoints")
	fs.IntVar(&o.companies, "companies", 0, "companies to create at start (needs --grants-out)")
	fs.IntVar(&o.perOwner, "companies-per-owner", 1, "companies of --companies that share one resource owner (an accountant's), by groups of this size")
	fs.StringVar(&o.grantsOut, "grants-out", "", "file to write the created companies' grants to, as a JSON array in the `gustosync companies add` shape")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stdout)
			return nil, true, nil
		}
		return nil, false, &usageError{strings.TrimSpace(err.Error())}
	}
	if fs.NArg() > 0 {
		return nil, false, &usageError{"unexpected argument " + strconv.Quote(fs.Arg(0))}
	}
	if o.companies < 0 {
		return nil, false, &usageError{"--companies must not be negative"}
	}
	if o.perOwner < 1 {
		return nil, false, &usageError{"--companies-per-owner must be at least 1"}
	}
	if o.companies > 0 && o.grantsOut == "" {
		return nil, false, &usageError{"--companies needs --grants-out FILE"}
	}
	if c.Employees == 0 || c.Payrolls == 0 {
		return nil, false, &usageError{"--employees and --payrolls must be at least 1 (create empty companies with POST /admin/companies)"}
	}
	c.DisableAdmin = !admin
	fill := func(dst *string, env, def string) {
		if *dst == "" {
			*dst = os.Getenv(env)
		}
		if *dst == "" {
			*dst = def
		}
	}
	fill(&c.ClientID, "GUSTO_CLIENT_ID", devClientID)
	fill(&c.ClientSecret, "GUSTO_CLIENT_SECRET", devClientSecret)
	fill(&c.RedirectURI, "GUSTO_REDIRECT_URI", devRedirectURI)
	return o, false, nil
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintln(w, "Usage: gustosim [flags]")
	fmt.Fprintln(w, "\nServes a simulator of Gusto's OAuth and API (companies, employees, payrolls) for tests and demos.")
	fmt.Fprintln(w, "\nFlags:")
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "  --%s\n\t%s%s\n", f.Name, f.Usage, def)
	})
	fmt.Fprintln(w, "\nAdmin endpoints (JSON, no authentication): see", adminLine)
}

const adminLine = "POST /admin/companies, GET /admin/companies, POST /admin/companies/{uuid}/revoke, " +
	"GET /admin/companies/{uuid}/records/{company|employees|payrolls}, GET /admin/companies/{uuid}/checksum, " +
	"GET /admin/counters, GET|PATCH /admin/config, PUT /admin/authorize, POST /admin/token-uses"

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, help, err := parse(args, stdout)
	if help {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "gustosim:", err)
		return 2
	}
	sim, err := gustosim.New(o.cfg)
	if err != nil {
		fmt.Fprintln(stderr, "gustosim:", strings.TrimPrefix(err.Error(), "gustosim: "))
		return 2
	}
	if o.companies > 0 {
		if err := writeGrants(sim, o.companies, o.perOwner, o.grantsOut); err != nil {
			fmt.Fprintln(stderr, "gustosim:", err)
			return 1
		}
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		fmt.Fprintln(stderr, "gustosim: listen:", err)
		return 1
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	cfg := sim.Config()
	limit := "off"
	if cfg.RateLimit > 0 {
		limit = fmt.Sprintf("%d/%s", cfg.RateLimit, cfg.RateWindow)
	}
	line := fmt.Sprintf("gustosim: serving http://%s (rule %s, token lifetime %s, rate limit %s per %s, minimum API version %s, payroll filter %s)",
		ln.Addr(), cfg.Revocation, cfg.TokenLifetime, limit, cfg.RateLimitScope, cfg.MinAPIVersion, cfg.PayrollFilter)
	if o.companies > 0 {
		line += fmt.Sprintf(", %d companies in %s", o.companies, o.grantsOut)
	}
	if cfg.DisableAdmin {
		line += "; admin endpoints off"
	} else {
		line += "; admin: " + adminLine
	}
	fmt.Fprintln(stdout, line)

	select {
	case err := <-served:
		fmt.Fprintln(stderr, "gustosim: serve:", err)
		return 1
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		_ = srv.Close()
	}
	return 0
}

// writeGrants creates n companies, perOwner of them per resource owner, and
// writes their grants to path.
func writeGrants(sim *gustosim.Sim, n, perOwner int, path string) error {
	grants := make([]gustosim.Grant, 0, n)
	owner := ""
	for i := range n {
		if perOwner > 1 && i%perOwner == 0 {
			owner = uuid.NewString()
		}
		g, err := sim.CreateCompany(gustosim.CompanyOptions{Employees: -1, Payrolls: -1, ResourceOwner: owner})
		if err != nil {
			return fmt.Errorf("create company: %w", err)
		}
		grants = append(grants, g)
	}
	b, err := json.MarshalIndent(grants, "", "  ")
	if err != nil {
		return fmt.Errorf("encode grants: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write grants: %w", err)
	}
	return nil
}
