package devstack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures a supervised redis-server.
type RedisOptions struct {
	// Name names the process and its log; default "redis".
	Name string
	// Addr is the loopback host:port to listen on; empty means a free one.
	Addr string
	// Persistent turns on the append-only file with an fsync per write, so
	// that queues survive a kill -9 and a restart (the data directory is
	// <run dir>/<Name>).
	Persistent bool
}

// Redis is a redis-server under a Supervisor.
type Redis struct {
	*Proc
	// Addr is host:port; URL is redis://Addr/0.
	Addr, URL string
}

// StartRedis starts a private redis-server on loopback and waits for PING.
func StartRedis(ctx context.Context, sup *Supervisor, o RedisOptions) (*Redis, error) {
	if o.Name == "" {
		o.Name = "redis"
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("devstack: redis-server is not installed (make services installs it): %w", err)
	}
	addr := o.Addr
	if addr == "" {
		if addr, err = FreeAddr(); err != nil {
			return nil, err
		}
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(sup.Dir(), o.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("devstack: redis data directory: %w", err)
	}
	args := []string{"--bind", host, "--port", port, "--dir", dir, "--save", "", "--daemonize", "no", "--logfile", ""}
	if o.Persistent {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	r := &Redis{Addr: addr, URL: "redis://" + addr + "/0"}
	p, err := sup.Start(ctx, Spec{
		Name: o.Name, Path: bin, Args: args, Env: BaseEnv(),
		Ready: func(ctx context.Context) error { return Ping(ctx, r.Addr) },
	})
	if err != nil {
		return nil, err
	}
	r.Proc = p
	return r, nil
}

// Ping sends one PING to the Redis at addr.
func Ping(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	return c.Ping(ctx).Err()
}
