package gusto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults applied by New when the corresponding Options field is zero.
const (
	// DefaultTimeout bounds one HTTP exchange of the default HTTP client.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxBodyBytes bounds a response body (16 MiB).
	DefaultMaxBodyBytes int64 = 16 << 20
	// SkewThreshold is the clock skew (either way) above which the client
	// logs an error: the one threshold of the skew (docs/invariants.md, 9).
	SkewThreshold = 30 * time.Second
	// DefaultMaxPages bounds the pages of one list walk (see Options.MaxPages).
	DefaultMaxPages = 10000
)

// maxErrorBody bounds how much of a non-2xx body is read to classify it.
const maxErrorBody = 64 << 10

// Options configures a Client. The zero value of every optional field has a
// documented default; New validates the options once.
type Options struct {
	// BaseURL is the base of both the API and /oauth/token, e.g.
	// https://api.gusto-demo.com. Required; http or https, no query.
	BaseURL string
	// APIVersion is sent as X-Gusto-API-Version on every request, the token
	// endpoint included. It must pass ParseAPIVersion. Default
	// DefaultAPIVersion.
	APIVersion string
	// ClientID is the OAuth application's client id. Required by
	// RefreshToken and ExchangeCode only.
	ClientID string
	// ClientSecret is the OAuth application's secret. It is sent only in the
	// JSON body of POST /oauth/token: never in a URL, a log line or an error.
	ClientSecret string
	// RedirectURI is the OAuth redirect URI registered with Gusto.
	RedirectURI string
	// HTTPClient sends the requests. Default: a client with DefaultTimeout
	// and a pooled transport. Redirects are never followed (a redirected
	// token request would resend the secret): a 3xx is an *HTTPError.
	HTTPClient *http.Client
	// MaxBodyBytes bounds a response body; a longer 2xx body is a
	// *MalformedResponseError. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Limiter, when set, is waited on before every API request (never
	// before a token request).
	Limiter Limiter
	// Now is the local clock. Default time.Now.
	Now func() time.Time
	// Logger receives debug lines per request, an error when the skew goes
	// above SkewThreshold and an info line when it comes back. It never
	// receives a token. Default: discard.
	Logger *slog.Logger
	// OnSkew, when set, is called with each clock-skew measurement (see
	// Client.Skew), from the goroutine that made the request: wire it to
	// tokens.Manager.ObserveSkew so that expiries are on Gusto's clock.
	OnSkew func(skew time.Duration)
	// MaxPages bounds the pages one list walk fetches, so that a server
	// that never ends a listing (no X-Total-Pages, never an empty page)
	// cannot keep a walk going forever: the walk then ends with a
	// *PageLimitError. Default DefaultMaxPages.
	MaxPages int
	// Metrics, when set, counts every request by route template, method
	// and status class, with its latency (see Metrics). Default: none.
	Metrics *Metrics
}

// TokenSource supplies the access token for a company's API calls. It must
// be safe for concurrent use.
type TokenSource interface {
	AccessToken(ctx context.Context, companyUUID string) (string, error)
}

// Invalidator is optionally implemented by a TokenSource. After a 401 the
// client calls Invalidate with the refused token, then asks the source for a
// token again and retries the request once. Implementations must only drop
// accessToken if it is still the current one (a sibling may have replaced it).
type Invalidator interface {
	Invalidate(ctx context.Context, companyUUID, accessToken string) error
}

// StaticToken returns a TokenSource that always returns accessToken, for
// onboarding calls made with a token that is not stored yet. It does not
// implement Invalidator, so a 401 is returned as is.
func StaticToken(accessToken string) TokenSource { return staticToken(accessToken) }

type staticToken string

func (s staticToken) AccessToken(context.Context, string) (string, error) { return string(s), nil }

// Client is a typed Gusto API client. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	opts     Options
	hc       *http.Client
	version  string
	maxBody  int64
	maxPages int
	now      func() time.Time
	log      *slog.Logger

	skews      skewEstimator
	skew       atomic.Int64 // nanoseconds, the estimate (skews)
	skewWarned atomic.Bool
	pageGuess  atomic.Int64 // the largest page body read so far (membudget.go)
}

// New validates o, applies defaults and returns a Client.
func New(o Options) (*Client, error) {
	if o.BaseURL == "" {
		return nil, errors.New("gusto: options: BaseURL is required")
	}
	u, err := url.Parse(strings.TrimRight(o.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("gusto: options: BaseURL is not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("gusto: options: BaseURL must be an absolute http or https URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("gusto: options: BaseURL must not carry credentials, a query or a fragment")
	}
	if o.MaxBodyBytes < 0 {
		return nil, errors.New("gusto: options: MaxBodyBytes must not be negative")
	}
	if o.MaxPages < 0 {
		return nil, errors.New("gusto: options: MaxPages must not be negative")
	}
	c := &Client{base: u, opts: o, version: o.APIVersion, maxBody: o.MaxBodyBytes, maxPages: o.MaxPages, now: o.Now, log: o.Logger}
	if c.version == "" {
		c.version = DefaultAPIVersion
	} else if _, err := ParseAPIVersion(c.version); err != nil {
		return nil, fmt.Errorf("gusto: options: %w", err)
	}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.maxPages == 0 {
		c.maxPages = DefaultMaxPages
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	var hc http.Client
	if o.HTTPClient != nil {
		hc = *o.HTTPClient
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		hc = http.Client{Timeout: DefaultTimeout, Transport: t}
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	return c, nil
}

// Skew returns the estimated clock skew: Gusto's clock minus the local
// clock, the median of the recent responses' measurements (measureSkew,
// skewEstimator), so that one bad Date header cannot move it. Zero before
// the first response with a Date header. It is the one skew estimate of
// gustosync: measured on every response, here, passed to Options.OnSkew and
// carried with every token (Token.Skew).
func (c *Client) Skew() time.Duration { return time.Duration(c.skew.Load()) }

// request describes one HTTP exchange.
type request struct {
	op      string // method and path template, for errors and logs
	method  string
	path    string // escaped path below the base URL
	query   url.Values
	body    []byte // JSON body, or nil
	bearer  string // access token for API calls, or ""
	maxBody int64  // bound on the response body; 0: Options.MaxBodyBytes
}

// response is a completed exchange whose body was read within bounds.
type response struct {
	status     int
	header     http.Header
	body       []byte
	serverDate time.Time // zero when Date was missing or malformed
	receivedAt time.Time
	tooLarge   bool
}

// do sends r and reads the bounded body. The error is a *TransportError, or
// a *MalformedResponseError when the body could not be read completely.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	u := *c.base
	u.Path = c.base.Path + r.path
	u.RawPath = ""
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, &TransportError{Op: r.op, Err: errors.New("cannot build request")}
	}
	req.Header.Set("X-Gusto-API-Version", c.version)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}

	start := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.opts.Metrics.observe(r.op, 0, c.now().Sub(start))
		return nil, &TransportError{Op: r.op, Err: transportCause(ctx, err)}
	}
	defer resp.Body.Close()
	end := c.now()
	c.opts.Metrics.observe(r.op, resp.StatusCode, end.Sub(start))
	out := &response{status: resp.StatusCode, header: resp.Header, receivedAt: end}
	if d, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
		out.serverDate = d
		c.recordSkew(ctx, measureSkew(d, start, end))
	}

	limit := c.maxBody
	if r.maxBody > 0 {
		limit = min(limit, r.maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		limit = min(limit, maxErrorBody)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil && (resp.StatusCode < 200 || resp.StatusCode > 299) && ctx.Err() == nil {
		// An error answer is classified by its status; a cut body only
		// costs its message.
		err = nil
	}
	if err != nil {
		if ctx.Err() != nil || isTimeout(err) {
			return nil, &TransportError{Op: r.op, Err: transportCause(ctx, err)}
		}
		return nil, &MalformedResponseError{Op: r.op, StatusCode: resp.StatusCode, Reason: "body truncated: " + readFailure(err), Err: ErrTruncatedBody}
	}
	if int64(len(b)) > limit {
		out.tooLarge = true
		b = b[:limit]
	}
	out.body = b
	c.log.LogAttrs(ctx, slog.LevelDebug, "gusto request", slog.String("op", r.op), slog.Int("status", resp.StatusCode), slog.Duration("elapsed", end.Sub(start)), slog.Int("bytes", len(b)))
	return out, nil
}

// measureSkew is the one formula of the clock skew: Gusto's clock minus
// ours, for one response whose Date header said serverDate, sent at start
// and received at end on the local clock. The Date header truncates to the
// second, so half a second is added to centre it; it is compared with the
// midpoint of the round trip, when Gusto most likely wrote it.
func measureSkew(serverDate, start, end time.Time) time.Duration {
	mid := start.Add(end.Sub(start) / 2)
	return serverDate.Add(500 * time.Millisecond).Sub(mid)
}

// recordSkew adds one measurement to the estimate, stores and reports the
// estimate. The one log line of the skew is an error when the estimate goes
// above SkewThreshold (either way), once per crossing, and an info line when
// it comes back within.
func (c *Client) recordSkew(ctx context.Context, measured time.Duration) {
	skew := c.skews.add(measured)
	c.skew.Store(int64(skew))
	if c.opts.OnSkew != nil {
		c.opts.OnSkew(skew)
	}
	if skew.Abs() > SkewThreshold {
		if !c.skewWarned.Swap(true) {
			c.log.LogAttrs(ctx, slog.LevelError, "clock skew with gusto above threshold; expiries are corrected for it",
				slog.Duration("skew", skew), slog.Duration("threshold", SkewThreshold))
		}
	} else if c.skewWarned.Swap(false) {
		c.log.LogAttrs(ctx, slog.LevelInfo, "clock skew with gusto back within threshold", slog.Duration("skew", skew))
	}
}

// transportCause strips the URL that *url.Error prepends (it carries no
// secret, but the op already names the request) and prefers the context's
// error when the context ended.
func transportCause(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func readFailure(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected EOF"
	}
	return "read error"
}

// ErrTruncatedBody is wrapped by a *MalformedResponseError whose body ended
// before its declared length.
var ErrTruncatedBody = errors.New("gusto: response body truncated")

// ErrBodyTooLarge is wrapped by a *MalformedResponseError whose body exceeded
// Options.MaxBodyBytes.
var ErrBodyTooLarge = errors.New("gusto: response body too large")
