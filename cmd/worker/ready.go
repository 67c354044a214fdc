package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"
)

// readiness answers /readyz: 200 when Redis and PostgreSQL answer within
// probeTimeout and the worker is not shutting down, else 503 naming what
// failed (never a DSN or a secret).
type readiness struct {
	db       *gorm.DB
	rdb      redis.UniversalClient
	draining atomic.Bool
}

func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), probeTimeout)
	defer cancel()
	var failed []string
	if r.draining.Load() {
		failed = append(failed, "shutting down")
	}
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		failed = append(failed, "redis unreachable")
	}
	if err := r.db.WithContext(ctx).Exec(`SELECT 1`).Error; err != nil {
		failed = append(failed, "postgresql unreachable")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, strings.Join(failed, "; ")+"\n")
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}
