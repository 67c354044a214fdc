package pgtest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Outage is a TCP proxy in front of a test database, so a test can take
// PostgreSQL away from the code under test (Cut) while the server itself
// stays up for the other tests. Make it with NewOutage.
type Outage struct {
	// URL is the database's DSN through the proxy: give it to the code
	// under test.
	URL string

	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// NewOutage starts a proxy to db; it is closed at cleanup.
func NewOutage(t testing.TB, db *DB) *Outage {
	t.Helper()
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatalf("pgtest: outage: %v", err)
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: outage: %v", err)
	}
	u.Host = ln.Addr().String()
	o := &Outage{URL: u.String(), ln: ln}
	go o.serve(target)
	t.Cleanup(o.Cut)
	return o
}

func (o *Outage) serve(target string) {
	for {
		c, err := o.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			_ = c.Close()
			continue
		}
		o.mu.Lock()
		o.conns = append(o.conns, c, up)
		o.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

// Cut makes PostgreSQL unreachable through the proxy for good: open
// connections are closed and new ones refused, as when the server or the
// network goes away. Safe to call more than once.
func (o *Outage) Cut() {
	_ = o.ln.Close()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range o.conns {
		_ = c.Close()
	}
	o.conns = nil
}
