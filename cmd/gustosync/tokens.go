package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/tokens"
)

// setupTokensRekey is `gustosync tokens rekey`: re-encrypt every stored
// token pair that is not sealed under the first key of
// TOKEN_ENCRYPTION_KEYS, in batches. Idempotent, and safe while workers run
// (a row refreshed meanwhile is read again). Rotation: put the new key first
// (keeping the old one after it) on every process, run this, then drop the
// old key.
func setupTokensRekey(fs *pflag.FlagSet, e *env) runFunc {
	batch := fs.Int("batch", 100, "rows re-encrypted per transaction")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if *batch <= 0 {
			return usagef("--batch must be positive")
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
		res, err := tokens.NewStore(db, ring).Rekey(ctx, *batch, "cli:tokens-rekey")
		for _, f := range res.Failures {
			fmt.Fprintf(e.stderr, "gustosync tokens rekey: %v\n", f)
		}
		fmt.Fprintf(e.stdout, "rekeyed %d rows to key %q; %d already under it; %d could not be opened\n",
			res.Rekeyed, ring.PrimaryID(), res.Current, res.Failed)
		if res.Reopened > 0 || res.StillKeyMissing > 0 {
			fmt.Fprintf(e.stdout, "key_missing companies: %d active again; %d still key_missing\n", res.Reopened, res.StillKeyMissing)
		}
		return err
	}
}

// openKeyring builds the keyring from TOKEN_ENCRYPTION_KEYS.
func openKeyring(e *env) (*tokens.Keyring, error) {
	var tcfg config.Tokens
	if err := e.config(&tcfg); err != nil {
		return nil, err
	}
	ring, err := tokens.NewKeyring(tcfg.EncryptionKeys)
	if err != nil {
		return nil, &config.Error{Var: "TOKEN_ENCRYPTION_KEYS", Reason: err.Error()}
	}
	return ring, nil
}
