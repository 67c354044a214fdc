-- +goose Up
-- What the token manager needs beyond 00001 to decide freshness on Gusto's
-- clock for any token lifetime (7200 s at Gusto, seconds in tests):
--   expires_in      the lifetime Gusto granted, in seconds; the safety margin
--                   and the refresh-ahead window are capped to a fraction of it.
--   issued_at       when Gusto issued the pair, on Gusto's clock (the
--                   response's Date header, or created_at at onboarding).
--   invalidated_at  set when a data call got a 401 with this access token:
--                   the next AccessToken refreshes (cleared by the refresh).
--   clock_skew_ms   Gusto's clock minus the refresher's clock when the pair
--                   was received; a fallback for a process that has not
--                   measured the skew itself yet.
ALTER TABLE gusto_auth_tokens
    ADD COLUMN expires_in     bigint      NOT NULL DEFAULT 7200 CHECK (expires_in > 0),
    ADD COLUMN issued_at      timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN invalidated_at timestamptz,
    ADD COLUMN clock_skew_ms  bigint      NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE gusto_auth_tokens
    DROP COLUMN clock_skew_ms,
    DROP COLUMN invalidated_at,
    DROP COLUMN issued_at,
    DROP COLUMN expires_in;
