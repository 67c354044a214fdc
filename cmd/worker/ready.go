package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/migrate"
)

// readiness answers /readyz: 200 when Redis and PostgreSQL answer within
// probeTimeout, the database schema holds every migration this binary
// embeds, and the worker is not shutting down; else 503 naming what failed
// (never a DSN or a secret).
type readiness struct {
	db       *gorm.DB
	rdb      redis.UniversalClient
	schema   *migrate.Gate
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
	var behind *migrate.BehindError
	if err := r.db.WithContext(ctx).Exec(`SELECT 1`).Error; err != nil {
		failed = append(failed, "postgresql unreachable")
	} else if err := r.schema.Check(ctx); errors.As(err, &behind) {
		failed = append(failed, behind.Error())
	} else if err != nil {
		failed = append(failed, "database schema version unreadable")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, strings.Join(failed, "; ")+"\n")
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}
