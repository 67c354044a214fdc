package gustoevents

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/gustosync/gustosync/internal/gusto"
)

// DefaultMaxBody bounds a webhook body; Gusto's events are a few hundred
// bytes.
const DefaultMaxBody = 64 << 10

// IntakeConfig configures an Intake.
type IntakeConfig struct {
	// Handler and Store are required.
	Handler *Handler
	Store   *Store
	// MaxBody bounds a request body; a longer one is refused with 413
	// before anything is read into memory beyond it. Default DefaultMaxBody.
	MaxBody int64
	// Logger default: discard.
	Logger *slog.Logger
}

// Intake is the webhook endpoint (an http.Handler, served outside the
// operators' authentication: Gusto cannot log in). It answers:
//
//   - a body larger than MaxBody: 413, nothing read further, nothing done;
//   - Gusto's verification POST ({"verification_token": …}, unsigned): the
//     token is stored as pending (it signs nothing until `gustosync webhooks
//     verify` had Gusto confirm it) and 200;
//   - a body whose X-Gusto-Signature is not the hex HMAC-SHA256 of the raw
//     body under a confirmed verification token (compared in constant
//     time): 401, nothing done;
//   - a signed event: acted on once (Handler.Handle) and 200 — also for a
//     duplicate, an unknown event type or company; 400 for a signed body
//     that is not an event; 503 when acting failed (Gusto retries).
//
// It never logs a token or a signature. It is safe for concurrent use.
type Intake struct {
	cfg IntakeConfig
}

// NewIntake validates cfg.
func NewIntake(cfg IntakeConfig) (*Intake, error) {
	if cfg.Handler == nil || cfg.Store == nil {
		return nil, errors.New("gustoevents: NewIntake needs a Handler and a Store")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Intake{cfg: cfg}, nil
}

// ServeHTTP serves one delivery.
func (in *Intake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, in.cfg.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		in.refuse(r, "body too large")
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	sig := r.Header.Get("X-Gusto-Signature")
	if sig == "" {
		var v struct {
			VerificationToken string `json:"verification_token"`
		}
		if json.Unmarshal(body, &v) == nil && v.VerificationToken != "" && len(v.VerificationToken) <= 256 {
			if err := in.cfg.Store.AddPendingKey(ctx, v.VerificationToken); err != nil {
				in.cfg.Logger.LogAttrs(ctx, slog.LevelError, "webhook verification token not stored", slog.String("error", err.Error()))
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
			in.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "webhook verification token received; confirm it with `gustosync webhooks verify`")
			w.WriteHeader(http.StatusOK)
			return
		}
		in.refuse(r, "no signature")
		http.Error(w, "missing X-Gusto-Signature", http.StatusUnauthorized)
		return
	}
	ok, err := in.signed(ctx, body, sig)
	if err != nil {
		in.cfg.Logger.LogAttrs(ctx, slog.LevelError, "webhook keys unreadable", slog.String("error", err.Error()))
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	if !ok {
		in.refuse(r, "bad signature")
		http.Error(w, "bad X-Gusto-Signature", http.StatusUnauthorized)
		return
	}
	var e gusto.Event
	if err := json.Unmarshal(body, &e); err != nil {
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	_, err = in.cfg.Handler.Handle(ctx, e, SourceWebhook)
	var invalid *InvalidEventError
	switch {
	case errors.As(err, &invalid):
		http.Error(w, invalid.Error(), http.StatusBadRequest)
	case err != nil:
		in.cfg.Logger.LogAttrs(ctx, slog.LevelError, "webhook event not handled; Gusto will retry", slog.String("event", e.UUID), slog.String("error", err.Error()))
		http.Error(w, "try again", http.StatusServiceUnavailable)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// signed reports whether sig is the signature of body under a confirmed
// key, comparing every candidate in constant time.
func (in *Intake) signed(ctx context.Context, body []byte, sig string) (bool, error) {
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return false, nil
	}
	keys, err := in.cfg.Store.verifiedKeys(ctx)
	if err != nil {
		return false, err
	}
	ok := false
	for _, k := range keys {
		m := hmac.New(sha256.New, []byte(k))
		m.Write(body)
		if hmac.Equal(m.Sum(nil), got) {
			ok = true
		}
	}
	return ok, nil
}

func (in *Intake) refuse(r *http.Request, why string) {
	in.cfg.Handler.count(SourceWebhook, "refused")
	in.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "webhook refused", slog.String("why", why), slog.String("remote", r.RemoteAddr))
}
