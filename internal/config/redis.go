package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Redis topologies selected by REDIS_MODE.
const (
	// RedisSingle is one Redis server (or a proxy in front of several),
	// addressed by REDIS_URL. The default.
	RedisSingle = "single"
	// RedisSentinel is a primary/replica set watched by Redis Sentinel:
	// REDIS_SENTINEL_ADDRS and REDIS_SENTINEL_MASTER find the current primary,
	// and clients follow it through a failover.
	RedisSentinel = "sentinel"
	// RedisCluster is a Redis Cluster seeded from REDIS_CLUSTER_ADDRS. asynq
	// keeps each queue's keys in one hash slot ("asynq:{queue}:…"), so every
	// script it runs stays on one node.
	RedisCluster = "cluster"
)

// ConnOpt returns the asynq connection option for the configured topology:
// an asynq.RedisClientOpt (single), asynq.RedisFailoverClientOpt (sentinel)
// or asynq.RedisClusterClientOpt (cluster). It validates the group first and
// returns an *Error naming the variable at fault; the error never holds a
// password.
func (r Redis) ConnOpt() (asynq.RedisConnOpt, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	switch r.mode() {
	case RedisSentinel:
		return asynq.RedisFailoverClientOpt{
			MasterName:       r.SentinelMaster,
			SentinelAddrs:    trimAll(r.SentinelAddrs),
			SentinelPassword: r.SentinelPassword.Reveal(),
			Username:         r.Username,
			Password:         r.Password.Reveal(),
			DB:               r.DB,
			TLSConfig:        r.tlsConfig(),
		}, nil
	case RedisCluster:
		return asynq.RedisClusterClientOpt{
			Addrs:     trimAll(r.ClusterAddrs),
			Username:  r.Username,
			Password:  r.Password.Reveal(),
			TLSConfig: r.tlsConfig(),
		}, nil
	}
	o, err := redis.ParseURL(r.URL)
	if err != nil {
		// validate parsed the same URL; this is unreachable short of a bug.
		return nil, &Error{Var: "REDIS_URL", Reason: "not a valid Redis URL"}
	}
	opt := asynq.RedisClientOpt{
		Network:      o.Network,
		Addr:         o.Addr,
		Username:     o.Username,
		Password:     o.Password,
		DB:           o.DB,
		DialTimeout:  o.DialTimeout,
		ReadTimeout:  o.ReadTimeout,
		WriteTimeout: o.WriteTimeout,
		PoolSize:     o.PoolSize,
		TLSConfig:    o.TLSConfig,
	}
	if opt.Username == "" {
		opt.Username = r.Username
	}
	if opt.Password == "" {
		opt.Password = r.Password.Reveal()
	}
	return opt, nil
}

// NewClient returns a go-redis client for the same topology and credentials
// as ConnOpt, for the code that talks to Redis outside asynq or that hands
// asynq its own client (redsync, the rate limiter, the worker's server and
// inspector): a *redis.Client for single and sentinel (the latter asks the
// Sentinels for the primary and follows failovers), a *redis.ClusterClient
// for cluster. poolSize, when positive, is the least number of connections
// per server (a larger pool_size in REDIS_URL wins); 0 keeps go-redis's
// default, 10 per CPU. The caller closes the client. It does not dial: the
// first command does.
func (r Redis) NewClient(poolSize int) (redis.UniversalClient, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	switch r.mode() {
	case RedisSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:       r.SentinelMaster,
			SentinelAddrs:    trimAll(r.SentinelAddrs),
			SentinelPassword: r.SentinelPassword.Reveal(),
			Username:         r.Username,
			Password:         r.Password.Reveal(),
			DB:               r.DB,
			TLSConfig:        r.tlsConfig(),
			PoolSize:         poolSize,
		}), nil
	case RedisCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:     trimAll(r.ClusterAddrs),
			Username:  r.Username,
			Password:  r.Password.Reveal(),
			TLSConfig: r.tlsConfig(),
			PoolSize:  poolSize,
		}), nil
	}
	o, err := redis.ParseURL(r.URL)
	if err != nil {
		return nil, &Error{Var: "REDIS_URL", Reason: "not a valid Redis URL"}
	}
	if o.Username == "" {
		o.Username = r.Username
	}
	if o.Password == "" {
		o.Password = r.Password.Reveal()
	}
	o.PoolSize = max(o.PoolSize, poolSize)
	return redis.NewClient(o), nil
}

func (r Redis) mode() string {
	if r.Mode == "" {
		return RedisSingle
	}
	return r.Mode
}

func (r Redis) tlsConfig() *tls.Config {
	if !r.TLS {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}
}

// validateTopology checks the REDIS_MODE variables; validate calls it after
// checking REDIS_URL's scheme.
func (r *Redis) validateTopology() error {
	var set []string
	if len(r.SentinelAddrs) > 0 {
		set = append(set, "REDIS_SENTINEL_ADDRS")
	}
	if r.SentinelMaster != "" {
		set = append(set, "REDIS_SENTINEL_MASTER")
	}
	if r.SentinelPassword != "" {
		set = append(set, "REDIS_SENTINEL_PASSWORD")
	}
	if len(r.ClusterAddrs) > 0 {
		set = append(set, "REDIS_CLUSTER_ADDRS")
	}
	if r.DB < 0 {
		return &Error{Var: "REDIS_DB", Reason: "must not be negative"}
	}
	switch r.mode() {
	case RedisSingle:
		if len(set) > 0 {
			return &Error{Var: set[0], Reason: "applies only with REDIS_MODE=sentinel or cluster (REDIS_MODE is single)"}
		}
		return r.validateURL()
	case RedisSentinel:
		for _, v := range set {
			if v == "REDIS_CLUSTER_ADDRS" {
				return &Error{Var: v, Reason: "applies only with REDIS_MODE=cluster (REDIS_MODE is sentinel)"}
			}
		}
		if r.SentinelMaster == "" {
			return &Error{Var: "REDIS_SENTINEL_MASTER", Reason: "required with REDIS_MODE=sentinel"}
		}
		return checkAddrs("REDIS_SENTINEL_ADDRS", r.SentinelAddrs, "sentinel")
	case RedisCluster:
		for _, v := range set {
			if v != "REDIS_CLUSTER_ADDRS" {
				return &Error{Var: v, Reason: "applies only with REDIS_MODE=sentinel (REDIS_MODE is cluster)"}
			}
		}
		if r.DB != 0 {
			return &Error{Var: "REDIS_DB", Reason: "must be 0 with REDIS_MODE=cluster (a cluster has only database 0)"}
		}
		return checkAddrs("REDIS_CLUSTER_ADDRS", r.ClusterAddrs, "cluster")
	}
	return &Error{Var: "REDIS_MODE", Reason: "want single, sentinel or cluster"}
}

// validateURL checks REDIS_URL the way ConnOpt will read it, and that the
// variables that only mean something beside the sentinel or cluster
// addresses do not silently disagree with it.
func (r *Redis) validateURL() error {
	if _, err := redis.ParseURL(r.URL); err != nil {
		return &Error{Var: "REDIS_URL", Reason: redact(err.Error(), r.URL)}
	}
	u, _ := url.Parse(r.URL)
	if r.DB != 0 {
		return &Error{Var: "REDIS_DB", Reason: "applies only with REDIS_MODE=sentinel; put the database in REDIS_URL's path"}
	}
	if r.TLS && u.Scheme != "rediss" {
		return &Error{Var: "REDIS_TLS", Reason: "with REDIS_MODE=single, use a rediss:// REDIS_URL instead"}
	}
	if _, has := u.User.Password(); has && r.Password != "" {
		return &Error{Var: "REDIS_PASSWORD", Reason: "REDIS_URL already carries a password: set it in one place"}
	}
	if u.User != nil && u.User.Username() != "" && r.Username != "" {
		return &Error{Var: "REDIS_USERNAME", Reason: "REDIS_URL already carries a user name: set it in one place"}
	}
	return nil
}

func checkAddrs(name string, addrs []string, what string) error {
	if len(addrs) == 0 {
		return &Error{Var: name, Reason: "required with REDIS_MODE=" + what + " (comma-separated host:port list)"}
	}
	for i, a := range addrs {
		host, port, err := net.SplitHostPort(strings.TrimSpace(a))
		if err != nil || host == "" {
			return &Error{Var: name, Reason: fmt.Sprintf("address %d: want host:port", i+1)}
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return &Error{Var: name, Reason: fmt.Sprintf("address %d: port must be 1-65535", i+1)}
		}
	}
	return nil
}

func trimAll(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = strings.TrimSpace(a)
	}
	return out
}

// redact removes the password of rawURL from msg, in case a parser quoted
// the URL back.
func redact(msg, rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "[redacted]")
		}
	}
	return msg
}
