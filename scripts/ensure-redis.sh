#!/usr/bin/env bash
# Make sure a Redis answers at $1: a port on 127.0.0.1 (default 6379) or a redis:// URL. For a
# local address, start a throwaway one (no persistence) if none answers.
set -euo pipefail
target="${1:-6379}"
host=127.0.0.1
port="$target"
if [[ "$target" == redis://* ]]; then
  hostport="${target#redis://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
  host="${hostport%%:*}"; port="${hostport##*:}"; [[ "$port" == "$hostport" ]] && port=6379
fi
ping() { redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG; }
command -v redis-cli >/dev/null || { echo "error: redis-cli not found: install Redis (apt-get install redis-server)" >&2; exit 1; }
ping && exit 0
if [[ "$host" != 127.0.0.1 && "$host" != localhost ]]; then
  echo "error: no Redis answers at $host:$port" >&2; exit 1
fi
command -v redis-server >/dev/null || { echo "error: no Redis on port $port and redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
echo "starting redis-server on 127.0.0.1:$port" >&2
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/jobs-redis-$port.log"
for _ in $(seq 100); do ping && exit 0; sleep 0.1; done
echo "error: redis-server did not answer on port $port (see ${TMPDIR:-/tmp}/jobs-redis-$port.log)" >&2
exit 1
