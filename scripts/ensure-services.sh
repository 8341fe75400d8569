#!/usr/bin/env bash
# Start this machine's PostgreSQL and Redis when they are installed but not running.
set -u
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
fi
for i in $(seq 1 30); do pg_up && redis_up && break; sleep 1; done
if pg_up && redis_up; then
  # The database named in DATABASE_URL (pytest-django creates its own test_ copy of it).
  db="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/codeformer}"; db="${db##*/}"; db="${db%%\?*}"
  if command -v psql >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" postgres 2>/dev/null | grep -q 1 \
      || createdb -h 127.0.0.1 -U postgres "$db" 2>/dev/null || true
  fi
  exit 0
fi
pg_up || echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2
redis_up || echo "Redis is not reachable on 127.0.0.1:6379" >&2
exit 1
