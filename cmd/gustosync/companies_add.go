package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/pflag"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/tokens"
)

// maxGrantInput bounds what `companies add` reads (a few thousand grants are
// well under a megabyte).
const maxGrantInput = 64 << 20

// setupCompaniesAdd is `gustosync companies add`: read one JSON object, or an
// array of them, each the token response Gusto returns for a company
// (company_uuid, access_token, refresh_token, expires_in, optional scope and
// created_at), validate every item, then store each pair encrypted. Tokens
// are read from stdin or a file, never from flags, and never printed.
func setupCompaniesAdd(fs *pflag.FlagSet, e *env) runFunc {
	file := fs.String("file", "", "read the JSON from this file instead of stdin")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		in, name := e.stdin, "stdin"
		if *file != "" && *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				return usagef("--file: %v", errors.Unwrap(err))
			}
			defer f.Close()
			in, name = f, *file
		}
		grants, warnings, err := parseGrants(in, name)
		if err != nil {
			return err
		}
		var tcfg config.Tokens
		if err := e.config(&tcfg); err != nil {
			return err
		}
		ring, err := tokens.NewKeyring(tcfg.EncryptionKeys)
		if err != nil {
			return &config.Error{Var: "TOKEN_ENCRYPTION_KEYS", Reason: err.Error()}
		}
		db, err := openDB(ctx, e, 2)
		if err != nil {
			return err
		}
		defer postgres.Close(db)
		for _, w := range warnings {
			fmt.Fprintf(e.stderr, "gustosync companies add: warning: %s\n", w)
		}
		store := tokens.NewStore(db, ring)
		for i, g := range grants {
			version, err := store.Put(ctx, g, "cli:companies-add")
			if err != nil {
				return fmt.Errorf("item %d (company %s): %w (items before it were stored)", i+1, g.CompanyUUID, err)
			}
			fmt.Fprintf(e.stdout, "stored company %s (version %d)\n", g.CompanyUUID, version)
		}
		fmt.Fprintf(e.stdout, "%d %s stored, encrypted under key %q\n", len(grants), grantPlural(len(grants), "company", "companies"), ring.PrimaryID())
		return nil
	}
}

// parseGrants reads and validates the whole input before anything is
// stored. Errors are *usageError values naming the item (1-based) and the
// field; they never quote a token.
func parseGrants(r io.Reader, name string) ([]tokens.Grant, []string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxGrantInput+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxGrantInput {
		return nil, nil, usagef("%s: input larger than %d MiB", name, maxGrantInput>>20)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, nil, usagef("%s: no input: want a JSON object or an array of them", name)
	}
	if !json.Valid(data) {
		var v any
		return nil, nil, usagef("%s: %s", name, grantJSONReason(json.Unmarshal(data, &v)))
	}
	var items []json.RawMessage
	switch data[0] {
	case '[':
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, nil, usagef("%s: not a JSON array of objects: %s", name, grantJSONReason(err))
		}
		if len(items) == 0 {
			return nil, nil, usagef("%s: empty array: nothing to add", name)
		}
	case '{':
		items = []json.RawMessage{data}
	default:
		return nil, nil, usagef("%s: want a JSON object or an array of them", name)
	}
	var grants []tokens.Grant
	var warnings []string
	seen := map[string]int{}
	for i, raw := range items {
		g, warn, err := parseGrant(raw)
		if err != nil {
			return nil, nil, usagef("item %d: %v", i+1, err)
		}
		if first, dup := seen[g.CompanyUUID]; dup {
			return nil, nil, usagef("item %d: company_uuid: same company as item %d", i+1, first)
		}
		seen[g.CompanyUUID] = i + 1
		if warn != "" {
			warnings = append(warnings, fmt.Sprintf("item %d: %s", i+1, warn))
		}
		grants = append(grants, g)
	}
	return grants, warnings, nil
}

// parseGrant validates one item field by field.
func parseGrant(raw json.RawMessage) (tokens.Grant, string, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return tokens.Grant{}, "", errors.New("not a JSON object")
	}
	var g tokens.Grant
	str := func(name string, required bool) (string, error) {
		v, ok := fields[name]
		if !ok || string(v) == "null" {
			if required {
				return "", fmt.Errorf("%s: required", name)
			}
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("%s: want a string", name)
		}
		s = strings.TrimSpace(s)
		if required && s == "" {
			return "", fmt.Errorf("%s: must not be empty", name)
		}
		return s, nil
	}
	num := func(name string, required bool) (int64, error) {
		v, ok := fields[name]
		if !ok || string(v) == "null" {
			if required {
				return 0, fmt.Errorf("%s: required", name)
			}
			return 0, nil
		}
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return 0, fmt.Errorf("%s: want a number", name)
		}
		if f != math.Trunc(f) || f < 0 || f > 1<<40 {
			return 0, fmt.Errorf("%s: want a non-negative whole number", name)
		}
		return int64(f), nil
	}
	var err error
	company, err := str("company_uuid", true)
	if err != nil {
		return g, "", err
	}
	u, perr := uuid.Parse(company)
	if perr != nil {
		return g, "", errors.New("company_uuid: not a uuid")
	}
	g.CompanyUUID = u.String()
	if g.AccessToken, err = str("access_token", true); err != nil {
		return g, "", err
	}
	if g.RefreshToken, err = str("refresh_token", true); err != nil {
		return g, "", err
	}
	if g.ExpiresIn, err = num("expires_in", true); err != nil {
		return g, "", err
	}
	if g.ExpiresIn == 0 {
		return g, "", errors.New("expires_in: must be a positive number of seconds")
	}
	if g.Scope, err = str("scope", false); err != nil {
		return g, "", err
	}
	if g.CreatedAt, err = gusto.ParseCreatedAt(fields["created_at"]); err != nil {
		// Gusto's reference says unix seconds; responses have also carried
		// a numeric string or an RFC 3339 timestamp.
		return g, "", fmt.Errorf("created_at: want unix seconds or an RFC 3339 timestamp")
	}
	if err := tokens.CheckCreatedAt(g.CreatedAt, time.Now()); err != nil {
		return g, "", err
	}
	if tt, err := str("token_type", false); err != nil {
		return g, "", err
	} else if tt != "" && !strings.EqualFold(tt, "bearer") {
		return g, "", errors.New(`token_type: want "bearer"`)
	}
	if g.Scope == "" {
		return g, "no scope given: the granted scopes cannot be checked (need " + strings.Join(tokens.RequiredScopes(), ", ") + ")", nil
	}
	if missing := tokens.MissingScopes(g.Scope); len(missing) > 0 {
		return g, "", fmt.Errorf("scope: lacks required %s %s", grantPlural(len(missing), "scope", "scopes"), strings.Join(missing, ", "))
	}
	return g, "", nil
}

// jsonReason describes a JSON decoding error without quoting the input.
func grantJSONReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("unexpected %s at byte %d", te.Value, te.Offset)
	}
	return "invalid JSON"
}

func grantPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
