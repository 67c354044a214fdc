package devstack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// FreeAddr returns a loopback host:port that was free a moment ago (the
// kernel's choice). A process told to listen there may lose a race with
// another; callers that own the listener should keep it instead.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("devstack: free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("devstack: free port: %w", err)
	}
	return addr, nil
}

// PreferAddr returns want when it can be listened on now, else a free
// loopback address.
func PreferAddr(want string) (string, error) {
	if l, err := net.Listen("tcp", want); err == nil {
		addr := l.Addr().String()
		_ = l.Close()
		return addr, nil
	}
	return FreeAddr()
}

// HTTPReady returns a readiness probe that wants 200 from url (GET), with
// basic auth when user is not empty.
func HTTPReady(url, user, password string) func(context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}
