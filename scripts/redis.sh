# A throwaway Redis on loopback for the tests. Sourced by scripts/test.
#   redis_start   starts it and exports MERITREE_TEST_REDIS_URL
#   redis_stop    stops it and removes its files

redis_start() {
  REDIS_DIR="$(mktemp -d /tmp/meritree-redis.XXXXXX)"
  REDIS_PORT="$(free_port)"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" --save '' --appendonly no \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
  for _ in $(seq 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  export MERITREE_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
  log "Redis on 127.0.0.1:$REDIS_PORT"
}

redis_stop() {
  [ -n "${REDIS_DIR:-}" ] || return 0
  [ -f "$REDIS_DIR/redis.pid" ] && kill "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null || true
  rm -rf "$REDIS_DIR"
  REDIS_DIR=
}
