-- +goose Up
-- The send fence (invariant 1, docs/invariants.md; tokens.Store.claimRefresh).
-- A refresh request for the row's version goes out only after its sender
-- set these columns with one conditional UPDATE: the version it will present,
-- who it is (worker id and a per-refresh nonce), and until when (PostgreSQL's
-- clock) the claim holds. Another sender can claim the same version only
-- once the claim has lapsed; a commit moves the version and clears them.
--   refresh_claimed_version  the version whose refresh token is being sent
--   refresh_claimed_by       the claimer (never a token)
--   refresh_claimed_until    the request's deadline plus the time to store
--                            its answer
ALTER TABLE gusto_auth_tokens
    ADD COLUMN refresh_claimed_version bigint,
    ADD COLUMN refresh_claimed_by      text,
    ADD COLUMN refresh_claimed_until   timestamptz;

-- +goose Down
ALTER TABLE gusto_auth_tokens
    DROP COLUMN refresh_claimed_until,
    DROP COLUMN refresh_claimed_by,
    DROP COLUMN refresh_claimed_version;
