#!/usr/bin/env bash
# Make sure a Redis answers on 127.0.0.1:${1:-6379}; start a throwaway one (no persistence) if not.
set -euo pipefail
port="${1:-6379}"
ping() { redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; }
command -v redis-cli >/dev/null || { echo "error: redis-cli not found: install Redis (apt-get install redis-server)" >&2; exit 1; }
ping && exit 0
command -v redis-server >/dev/null || { echo "error: no Redis on port $port and redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
echo "starting redis-server on 127.0.0.1:$port" >&2
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/jobs-redis-$port.log"
for _ in $(seq 100); do ping && exit 0; sleep 0.1; done
echo "error: redis-server did not answer on port $port (see ${TMPDIR:-/tmp}/jobs-redis-$port.log)" >&2
exit 1
