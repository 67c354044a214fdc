-- +goose Up
-- A sync's progress belongs to the company, not to one run (package
-- checkpoint, Store.Claim): a run that claims a company whose previous run
-- did not succeed carries that run's checkpoints over (rewrites their
-- run_id) instead of deleting them. continues names the run it carried on
-- from. takeovers counts the attempts of a run that were found dead (a
-- heartbeat older than the lease) and fenced by Store.TakeOver so that the
-- run is re-driven within seconds rather than after asynq's lease.
ALTER TABLE sync_runs
    ADD COLUMN continues uuid,
    ADD COLUMN takeovers integer NOT NULL DEFAULT 0;

-- Serves TakeOver's scan for stale running fences (a fence whose attempt
-- finished has no heartbeat).
CREATE INDEX sync_fences_heartbeat ON sync_fences (heartbeat_at) WHERE heartbeat_at IS NOT NULL;

-- +goose Down
DROP INDEX sync_fences_heartbeat;
ALTER TABLE sync_runs
    DROP COLUMN takeovers,
    DROP COLUMN continues;
