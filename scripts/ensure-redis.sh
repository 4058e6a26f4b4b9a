#!/usr/bin/env bash
# Start a Redis on REDIS_URL's host/port unless one already answers there.
set -euo pipefail
cd "$(dirname "$0")/.."
url="${REDIS_URL:-$(grep -E '^REDIS_URL=' .env 2>/dev/null | cut -d= -f2- || true)}"
url="${url:-redis://127.0.0.1:6379/0}"
hostport="${url#*://}"; hostport="${hostport##*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379
if redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
  exit 0
fi
case "$host" in 127.*|localhost|::1) ;; *) echo "Redis at $host:$port does not answer" >&2; exit 1 ;; esac
mkdir -p .run
echo "starting redis-server on $host:$port"
redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no \
  --dir "$PWD/.run" --logfile "$PWD/.run/redis.log" --pidfile "$PWD/.run/redis.pid"
for _ in $(seq 50); do redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1 && exit 0; sleep 0.1; done
echo "redis-server did not start (see .run/redis.log)" >&2; exit 1
