#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis are up on loopback, installing them with
# apt-get on a fresh Debian machine where they are missing, and creates the
# databases gustosync uses. With --test-tools it also installs what the test
# suite runs beside Go, each only when missing: headless Chromium and a font
# (cmd/dashboard's browser tests) and promtool (the alert rules' tests,
# deploy/). Idempotent; `make demo`, `make bench` and `make chaos` run it
# plain, `make setup` (and so `make test` and .ci/run) with --test-tools.
set -euo pipefail

test_tools=
for arg in "$@"; do
	case $arg in
	--test-tools) test_tools=1 ;;
	*)
		printf 'services: unknown argument %s (want --test-tools or nothing)\n' "$arg" >&2
		exit 2
		;;
	esac
done

log() { printf 'services: %s\n' "$*" >&2; }

wait_for() { # wait_for NAME SECONDS CMD...
	local name=$1 secs=$2; shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			log "$name did not come up within ${secs}s"
			return 1
		fi
		sleep 0.2
	done
}

apt_install() { # apt_install [--no-install-recommends] PACKAGE...
	local opts=()
	if [ "$1" = --no-install-recommends ]; then
		opts=("$1")
		shift
	fi
	log "installing $*"
	if [ -z "${APT_UPDATED:-}" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${opts[@]}" "$@" >/dev/null
}

ensure_postgres() {
	if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
		return
	fi
	if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
		apt_install postgresql postgresql-client
	fi
	local version
	version=$(ls /etc/postgresql | sort -V | tail -n 1)
	local hba=/etc/postgresql/$version/main/pg_hba.conf
	if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
		# Local development and CI only: trust on loopback, as this kind of machine ships.
		sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$hba"
	fi
	log "starting PostgreSQL $version"
	pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
	wait_for PostgreSQL 60 pg_isready -q -h 127.0.0.1 -p 5432
}

ensure_redis() {
	if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
		return
	fi
	command -v redis-server >/dev/null || apt_install redis-server
	mkdir -p /var/lib/redis /var/log/redis
	log "starting Redis"
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log
	wait_for Redis 30 redis-cli -h 127.0.0.1 -p 6379 ping
}

ensure_db() { # ensure_db NAME
	if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'" | grep -q 1; then
		log "creating database $1"
		psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE \"$1\""
	fi
}

# Headless Chromium with a font to render text, for the dashboard's browser
# tests; promtool (Debian's prometheus package; the server it also holds is
# not started here) for `promtool test rules` on the PrometheusRule.
ensure_test_tools() {
	local missing=()
	command -v chromium >/dev/null 2>&1 || missing+=(chromium)
	fc-list 2>/dev/null | grep -qi dejavu || missing+=(fonts-dejavu-core fontconfig)
	command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
	if ((${#missing[@]} > 0)); then
		apt_install --no-install-recommends "${missing[@]}"
	fi
}

ensure_postgres
ensure_redis
ensure_db gustosync
ensure_db gustosync_test
if [ -n "$test_tools" ]; then
	ensure_test_tools
fi
