package tokens

import (
	"context"
	"fmt"
	"time"
)

// slowPath coalesces the process's callers for one company into one flight
// (obtain) and waits for it or for ctx.
func (m *Manager) slowPath(ctx context.Context, key string) (string, error) {
	company, err := canonicalCompany(key)
	if err != nil {
		return "", err
	}
	if company != key {
		m.mu.RLock()
		e := m.cache[company]
		m.mu.RUnlock()
		if m.handOut(e) {
			return e.token, nil
		}
	}
	f := m.join(company)
	select {
	case <-f.done:
		if f.err != nil {
			return "", f.err
		}
		return f.val.token, nil
	case <-ctx.Done():
		m.leave(company, f)
		return "", fmt.Errorf("tokens: access token for company %s: %w", company, context.Cause(ctx))
	}
}

// flight is one in-process slow path for a company, shared by its callers.
// Its context is cancelled when every caller has gone (so lock waits and
// backoff stop), but a token request already sent and the commit after it
// always run to completion.
type flight struct {
	done    chan struct{}
	val     *cached
	err     error
	waiters int
	cancel  context.CancelFunc
}

// flightBudget bounds one flight: waiting for the lock, every attempt and
// its backoff, and the commit.
func (m *Manager) flightBudget() time.Duration {
	b := m.cfg.Backoff
	return m.cfg.LockWait + time.Duration(m.cfg.RefreshAttempts)*(m.cfg.RefreshTimeout+b.Max+b.Max/10) + commitBudget
}

func (m *Manager) join(company string) *flight {
	m.fmu.Lock()
	defer m.fmu.Unlock()
	if f := m.flights[company]; f != nil {
		f.waiters++
		return f
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.flightBudget())
	f := &flight{done: make(chan struct{}), waiters: 1, cancel: cancel}
	m.flights[company] = f
	go func() {
		defer cancel()
		f.val, f.err = m.obtain(ctx, company)
		m.fmu.Lock()
		if m.flights[company] == f {
			delete(m.flights, company)
		}
		m.fmu.Unlock()
		close(f.done)
	}()
	return f
}

func (m *Manager) leave(company string, f *flight) {
	m.fmu.Lock()
	defer m.fmu.Unlock()
	f.waiters--
	if f.waiters == 0 {
		f.cancel()
		if m.flights[company] == f {
			delete(m.flights, company)
		}
	}
}
