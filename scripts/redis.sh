# A throwaway Redis on loopback for the tests. Sourced by scripts/test.
#   redis_start   starts it and exports MERITREE_TEST_REDIS_URL (and a TLS port,
#                 MERITREE_TEST_REDIS_TLS_URL, certificate MERITREE_TEST_REDIS_CA)
#   redis_stop    stops it and removes its files

redis_start() {
  REDIS_DIR="$(mktemp -d /tmp/meritree-redis.XXXXXX)"
  REDIS_PORT="$(free_port)"
  REDIS_TLS_PORT="$(free_port)"
  test_certificate "$REDIS_DIR"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" --save '' --appendonly no \
    --tls-port "$REDIS_TLS_PORT" --tls-cert-file "$REDIS_DIR/cert.pem" --tls-key-file "$REDIS_DIR/key.pem" \
    --tls-ca-cert-file "$REDIS_DIR/cert.pem" --tls-auth-clients no \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
  for _ in $(seq 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  export MERITREE_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
  export MERITREE_TEST_REDIS_TLS_URL="rediss://127.0.0.1:$REDIS_TLS_PORT/"
  export MERITREE_TEST_REDIS_CA="$REDIS_DIR/cert.pem"
  log "Redis on 127.0.0.1:$REDIS_PORT"
}

redis_stop() {
  [ -n "${REDIS_DIR:-}" ] || return 0
  [ -f "$REDIS_DIR/redis.pid" ] && kill "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null || true
  rm -rf "$REDIS_DIR"
  REDIS_DIR=
}
