#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and NATS (with JetStream) run on their standard local ports, as the
# tests expect: installs the Debian packages on a fresh machine, starts whatever is not answering,
# and leaves running services alone. Safe to run any number of times.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

wait_for() { # name port
  for _ in $(seq 1 60); do
    listening "$2" && return 0
    sleep 0.5
  done
  log "$1 did not start on port $2"
  return 1
}

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
# The GraphiQL browser test drives Debian's Chromium (playwright-core never downloads one).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# The load-balancer tests put Debian's nginx in front of several pods (started by the tests).
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! listening 5432; then
  log 'starting PostgreSQL'
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for PostgreSQL 5432
fi
# The tests connect as postgres without a password (trust on loopback, as on the CI machine).
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  log 'PostgreSQL does not accept user postgres without a password on 127.0.0.1: set TEST_POSTGRES_URL'
fi

if ! listening 6379; then
  log 'starting Redis'
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 6379
fi

if ! listening 4222; then
  log 'starting NATS with JetStream'
  nats=$(command -v nats-server || echo /usr/sbin/nats-server)
  as_root mkdir -p /var/lib/nats-server
  as_root start-stop-daemon --start --oknodo --background --exec "$nats" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_for NATS 4222
fi

log 'PostgreSQL :5432, Redis :6379 and NATS :4222 are up'
