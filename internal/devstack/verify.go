package devstack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// Resources are the simulator datasets and the tables holding their copies.
var Resources = []struct{ Name, Table, Where string }{
	{"company", "gusto_companies", "uuid"},
	{"employees", "gusto_employees", "company_uuid"},
	{"payrolls", "gusto_payrolls", "company_uuid"},
}

// Dataset is the count and checksum of one company's records of one
// resource. The checksum is the SHA-256 of the records' canonical JSON
// (keys sorted, no insignificant space, numbers as written), one per line,
// ordered by uuid: PostgreSQL's jsonb rewrites a payload's layout, so the
// raw bytes cannot be compared.
type Dataset struct {
	Count    int
	Checksum string
}

// RowMismatch is a company whose rows differ from the simulator's.
type RowMismatch struct {
	Company, Resource string
	Want, Got         Dataset
}

// String names the company and resource and both counts and checksums.
func (m RowMismatch) String() string {
	return fmt.Sprintf("%s %s: %d rows (sha256 %.12s), simulator has %d (sha256 %.12s)",
		m.Company, m.Resource, m.Got.Count, m.Got.Checksum, m.Want.Count, m.Want.Checksum)
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
	ids := SortedKeys(records)
	h := sha256.New()
	for _, id := range ids {
		h.Write(records[id])
		h.Write([]byte{'\n'})
	}
	return Dataset{Count: len(ids), Checksum: hex.EncodeToString(h.Sum(nil))}
}

// SimDataset is what the simulator serves for the company's resource.
func SimDataset(sim *gustosim.Sim, company, resource string) (Dataset, error) {
	recs, err := sim.Records(company, resource)
	if err != nil {
		return Dataset{}, fmt.Errorf("devstack: simulator records: %w", err)
	}
	m := make(map[string][]byte, len(recs))
	for i, r := range recs {
		id, c, err := canonical(r)
		if err != nil {
			return Dataset{}, fmt.Errorf("devstack: simulator %s record %d of %s: %w", resource, i, company, err)
		}
		if _, dup := m[id]; dup {
			return Dataset{}, fmt.Errorf("devstack: simulator %s of %s: uuid %s twice", resource, company, id)
		}
		m[id] = c
	}
	return digest(m), nil
}

// DBDataset is what the database holds for the company's resource.
func (d *Database) DBDataset(ctx context.Context, company, resource string) (Dataset, error) {
	var table, where string
	for _, r := range Resources {
		if r.Name == resource {
			table, where = r.Table, r.Where
		}
	}
	if table == "" {
		return Dataset{}, fmt.Errorf("devstack: unknown resource %q", resource)
	}
	rows, err := d.SQL.QueryContext(ctx, `SELECT payload::text FROM `+table+` WHERE `+where+` = $1`, company)
	if err != nil {
		return Dataset{}, fmt.Errorf("devstack: read %s of %s: %w", table, company, err)
	}
	defer rows.Close()
	m := map[string][]byte{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return Dataset{}, fmt.Errorf("devstack: read %s of %s: %w", table, company, err)
		}
		id, c, err := canonical([]byte(p))
		if err != nil {
			return Dataset{}, fmt.Errorf("devstack: %s payload of %s: %w", table, company, err)
		}
		m[id] = c
	}
	if err := rows.Err(); err != nil {
		return Dataset{}, fmt.Errorf("devstack: read %s of %s: %w", table, company, err)
	}
	return digest(m), nil
}

// CompareRows compares every company's three resources with the
// simulator's and returns the mismatches and the number of rows compared.
func (d *Database) CompareRows(ctx context.Context, sim *gustosim.Sim, companies []string) ([]RowMismatch, int, error) {
	var out []RowMismatch
	total := 0
	for _, c := range companies {
		for _, r := range Resources {
			want, err := SimDataset(sim, c, r.Name)
			if err != nil {
				return nil, 0, err
			}
			got, err := d.DBDataset(ctx, c, r.Name)
			if err != nil {
				return nil, 0, err
			}
			total += got.Count
			if want != got {
				out = append(out, RowMismatch{Company: c, Resource: r.Name, Want: want, Got: got})
			}
		}
	}
	return out, total, nil
}

// ArchivedTask is a task asynq archived (retries exhausted or SkipRetry).
type ArchivedTask struct {
	Queue, ID, Type, Company, LastErr string
}

// ArchivedTasks lists archived tasks in every queue of the Redis at
// redisAddr, with the company of sync:company payloads.
func ArchivedTasks(redisAddr string) ([]ArchivedTask, error) {
	in := asynq.NewInspector(asynq.RedisClientOpt{Addr: redisAddr})
	defer in.Close()
	queues, err := in.Queues()
	if err != nil {
		return nil, fmt.Errorf("devstack: list queues: %w", err)
	}
	var out []ArchivedTask
	for _, q := range queues {
		for page := 1; ; page++ {
			tasks, err := in.ListArchivedTasks(q, asynq.PageSize(100), asynq.Page(page))
			if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
				return nil, fmt.Errorf("devstack: archived tasks of %s: %w", q, err)
			}
			for _, t := range tasks {
				var p struct {
					CompanyUUID string `json:"company_uuid"`
				}
				_ = json.Unmarshal(t.Payload, &p)
				out = append(out, ArchivedTask{Queue: q, ID: t.ID, Type: t.Type, Company: strings.ToLower(p.CompanyUUID), LastErr: t.LastErr})
			}
			if len(tasks) < 100 {
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// QueueCounts sums asynq's queue sizes over every queue.
type QueueCounts struct {
	Pending, Active, Scheduled, Retry, Archived, Completed int
}

// Queues returns the summed sizes of every queue.
func Queues(redisAddr string) (QueueCounts, error) {
	in := asynq.NewInspector(asynq.RedisClientOpt{Addr: redisAddr})
	defer in.Close()
	queues, err := in.Queues()
	if err != nil {
		return QueueCounts{}, fmt.Errorf("devstack: list queues: %w", err)
	}
	var c QueueCounts
	for _, q := range queues {
		info, err := in.GetQueueInfo(q)
		if err != nil {
			return QueueCounts{}, fmt.Errorf("devstack: queue %s: %w", q, err)
		}
		c.Pending += info.Pending
		c.Active += info.Active
		c.Scheduled += info.Scheduled
		c.Retry += info.Retry
		c.Archived += info.Archived
		c.Completed += info.Completed
	}
	return c, nil
}
