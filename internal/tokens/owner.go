package tokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gustosync/gustosync/internal/gusto"
)

// TokenInformer reads what an access token grants and whom it is for
// (GET /v1/token_info). (*gusto.Client).TokenInfo implements it.
type TokenInformer interface {
	TokenInfo(ctx context.Context, accessToken string) (gusto.TokenInfo, error)
}

// ownerRetry is how long OwnerKeys keys a company by itself after its owner
// could not be learned, before asking Gusto again.
const ownerRetry = 5 * time.Minute

// OwnerKeys maps a company to its grant's resource owner, the rate-limit key
// when Gusto's limit is per user-application pair (ratelimit.KeyResolver,
// GUSTO_RATE_LIMIT_KEY=owner). The owner is read once per company from
// gusto_auth_tokens.resource_owner_uuid, or learned from GET /v1/token_info
// with the company's access token and stored there; then it is served from
// memory. When it cannot be learned, the company is its own key for a few
// minutes (logged): a request is never stopped for want of a key.
// It is safe for concurrent use.
type OwnerKeys struct {
	store  *Store
	tokens gusto.TokenSource
	info   TokenInformer
	log    *slog.Logger
	now    func() time.Time

	mu    sync.Mutex
	known map[string]ownerKey
}

// ownerKey is a resolved key; until is zero for an owner (kept for good) or
// when a fallback to the company expires.
type ownerKey struct {
	key   string
	until time.Time
}

// NewOwnerKeys returns an OwnerKeys reading and storing owners in store,
// asking tokens for a company's access token and info for its owner. log may
// be nil.
func NewOwnerKeys(store *Store, tokens gusto.TokenSource, info TokenInformer, log *slog.Logger) *OwnerKeys {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &OwnerKeys{store: store, tokens: tokens, info: info, log: log, now: time.Now, known: map[string]ownerKey{}}
}

// RateKey returns the rate-limit key of company: "owner:<uuid>" of its
// grant's resource owner, or "company:<uuid>" while the owner is unknown.
// It never fails.
func (o *OwnerKeys) RateKey(ctx context.Context, company string) (string, error) {
	o.mu.Lock()
	k, ok := o.known[company]
	o.mu.Unlock()
	if ok && (k.until.IsZero() || o.now().Before(k.until)) {
		return k.key, nil
	}
	owner, err := o.resolve(ctx, company)
	k = ownerKey{key: "owner:" + owner}
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		o.log.LogAttrs(ctx, slog.LevelWarn, "resource owner unknown; rate-limiting the company on its own budget for now",
			slog.String("company", company), slog.String("error", err.Error()), slog.Duration("retry_in", ownerRetry))
		k = ownerKey{key: "company:" + company, until: o.now().Add(ownerRetry)}
	}
	o.mu.Lock()
	o.known[company] = k
	o.mu.Unlock()
	return k.key, nil
}

// resolve reads the stored owner, or learns and stores it.
func (o *OwnerKeys) resolve(ctx context.Context, company string) (string, error) {
	owner, err := o.store.resourceOwner(ctx, company)
	if err != nil || owner != "" {
		return owner, err
	}
	token, err := o.tokens.AccessToken(ctx, company)
	if err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	info, err := o.info.TokenInfo(ctx, token)
	if err != nil {
		return "", err
	}
	if info.ResourceOwner == nil || info.ResourceOwner.UUID == "" {
		return "", errors.New("GET /v1/token_info named no resource_owner")
	}
	if err := o.store.setResourceOwner(ctx, company, info.ResourceOwner.UUID); err != nil {
		return "", err
	}
	return info.ResourceOwner.UUID, nil
}

// resourceOwner reads the stored resource owner of company's grant; "" when
// not known yet.
func (s *Store) resourceOwner(ctx context.Context, company string) (string, error) {
	var rows []struct{ Owner *string }
	err := s.db.WithContext(ctx).Raw(`SELECT resource_owner_uuid::text AS owner FROM gusto_auth_tokens WHERE company_uuid = ?`, company).Scan(&rows).Error
	switch {
	case err != nil:
		return "", fmt.Errorf("tokens: read resource owner of %s: %w", company, err)
	case len(rows) == 0:
		return "", &NotFoundError{Company: company}
	case rows[0].Owner == nil:
		return "", nil
	}
	return *rows[0].Owner, nil
}

// setResourceOwner stores the resource owner of company's grant. Only the
// owner column changes: not the version, the tokens or the status.
func (s *Store) setResourceOwner(ctx context.Context, company, owner string) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE gusto_auth_tokens SET resource_owner_uuid = ? WHERE company_uuid = ?`, owner, company).Error
	if err != nil {
		return fmt.Errorf("tokens: store resource owner of %s: %w", company, err)
	}
	return nil
}
