// Package rowcheck compares what gustosync stored for a company with what the
// Gusto simulator serves for it: the demo, the chaos suite, the benchmarks
// and the sync tests all judge "rows exact" with it, one way.
//
// Both sides are reduced to a count and a SHA-256 over each record's
// canonical JSON (keys sorted, numbers as written), one per line, ordered by
// uuid: PostgreSQL's jsonb rewrites a payload's layout, so raw bytes cannot be
// compared. It reads the database and the simulator and writes nothing.
package rowcheck

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// Resource is one simulator dataset and the table holding its copy.
type Resource struct {
	// Name is the simulator's resource name (gustosim.Sim.Records).
	Name string
	// Table is the table the sync writes; Where the column naming the company.
	Table, Where string
}

// Resources are every resource a company sync stores.
var Resources = []Resource{
	{"company", "gusto_companies", "uuid"},
	{"employees", "gusto_employees", "company_uuid"},
	{"payrolls", "gusto_payrolls", "company_uuid"},
}

// Dataset is the count and checksum of one company's records of one resource.
type Dataset struct {
	Count    int
	Checksum string
}

// Mismatch is a company resource whose stored rows differ from the simulator's.
type Mismatch struct {
	Company, Resource string
	// Want is the simulator's dataset, Got the database's.
	Want, Got Dataset
}

// String names the company and resource and both counts and checksums.
func (m Mismatch) String() string {
	return fmt.Sprintf("%s %s: %d rows (sha256 %.12s), simulator has %d (sha256 %.12s)",
		m.Company, m.Resource, m.Got.Count, m.Got.Checksum, m.Want.Count, m.Want.Checksum)
}

// Compare compares every company's resources with the simulator's and
// returns the mismatches and the number of stored rows compared.
func Compare(ctx context.Context, db *sql.DB, sim *gustosim.Sim, companies []string) ([]Mismatch, int, error) {
	var out []Mismatch
	total := 0
	for _, c := range companies {
		for _, r := range Resources {
			want, err := Served(sim, c, r.Name)
			if err != nil {
				return nil, 0, err
			}
			got, err := Stored(ctx, db, c, r.Name)
			if err != nil {
				return nil, 0, err
			}
			total += got.Count
			if want != got {
				out = append(out, Mismatch{Company: c, Resource: r.Name, Want: want, Got: got})
			}
		}
	}
	return out, total, nil
}

// Served is what the simulator serves for the company's resource.
func Served(sim *gustosim.Sim, company, resource string) (Dataset, error) {
	recs, err := sim.Records(company, resource)
	if err != nil {
		return Dataset{}, fmt.Errorf("rowcheck: simulator records: %w", err)
	}
	m := make(map[string][]byte, len(recs))
	for i, r := range recs {
		id, c, err := canonical(r)
		if err != nil {
			return Dataset{}, fmt.Errorf("rowcheck: simulator %s record %d of %s: %w", resource, i, company, err)
		}
		if _, dup := m[id]; dup {
			return Dataset{}, fmt.Errorf("rowcheck: simulator %s of %s: uuid %s twice", resource, company, id)
		}
		m[id] = c
	}
	return digest(m), nil
}

// Stored is what the database holds for the company's resource: its live
// rows, those no full reconciliation marked deleted (deleted_at IS NULL),
// which must be exactly the simulator's live set.
func Stored(ctx context.Context, db *sql.DB, company, resource string) (Dataset, error) {
	i := slices.IndexFunc(Resources, func(r Resource) bool { return r.Name == resource })
	if i < 0 {
		return Dataset{}, fmt.Errorf("rowcheck: unknown resource %q", resource)
	}
	table, where := Resources[i].Table, Resources[i].Where
	rows, err := db.QueryContext(ctx, `SELECT payload::text FROM `+table+` WHERE `+where+` = $1 AND deleted_at IS NULL`, company)
	if err != nil {
		return Dataset{}, fmt.Errorf("rowcheck: read %s of %s: %w", table, company, err)
	}
	defer rows.Close()
	m := map[string][]byte{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return Dataset{}, fmt.Errorf("rowcheck: read %s of %s: %w", table, company, err)
		}
		id, c, err := canonical([]byte(p))
		if err != nil {
			return Dataset{}, fmt.Errorf("rowcheck: %s payload of %s: %w", table, company, err)
		}
		m[id] = c
	}
	if err := rows.Err(); err != nil {
		return Dataset{}, fmt.Errorf("rowcheck: read %s of %s: %w", table, company, err)
	}
	return digest(m), nil
}

// canonical re-encodes one JSON value with sorted keys and numbers kept as
// written, and returns it with its "uuid" field.
func canonical(raw []byte) (string, []byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", nil, err
	}
	id := ""
	if m, ok := v.(map[string]any); ok {
		id, _ = m["uuid"].(string)
	}
	return strings.ToLower(id), bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// digest orders canonical records by uuid and hashes them.
func digest(records map[string][]byte) Dataset {
	h := sha256.New()
	for _, id := range slices.Sorted(maps.Keys(records)) {
		h.Write(records[id])
		h.Write([]byte{'\n'})
	}
	return Dataset{Count: len(records), Checksum: hex.EncodeToString(h.Sum(nil))}
}

// T is the part of testing.TB that Require uses.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// Require fails t unless every resource of each company equals the
// simulator's, by count and checksum: the "rows exact" of the sync tests.
func Require(t T, db *sql.DB, sim *gustosim.Sim, companies ...string) {
	t.Helper()
	mismatches, rows, err := Compare(context.Background(), db, sim, companies)
	if err != nil {
		t.Fatalf("compare rows with the simulator's: %v", err)
	}
	for _, m := range mismatches {
		t.Errorf("rows differ from the simulator's: %s", m)
	}
	if len(mismatches) > 0 {
		t.Fatalf("%d of %d company resources differ", len(mismatches), len(companies)*len(Resources))
	}
	t.Logf("%d rows equal the simulator's", rows)
}
