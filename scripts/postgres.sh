# A throwaway PostgreSQL on loopback for the tests. Sourced by scripts/test.
#   postgres_start   starts a fresh cluster and exports MERITREE_TEST_POSTGRES_URL
#                    (TLS offered too, with the certificate MERITREE_TEST_POSTGRES_CA)
#   postgres_stop    stops it and removes its files

PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"

pg_as_owner() { # PostgreSQL refuses to run as root
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

postgres_start() {
  PG_DIR="$(mktemp -d /tmp/meritree-pg.XXXXXX)"
  PG_PORT="$(free_port)"
  test_certificate "$PG_DIR"
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$PG_DIR"
  pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
  # Durability off: the cluster lives for one test run.
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -s start -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c ssl=on -c ssl_cert_file=$PG_DIR/cert.pem -c ssl_key_file=$PG_DIR/key.pem"
  export MERITREE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  export MERITREE_TEST_POSTGRES_CA="$PG_DIR/cert.pem"
  log "PostgreSQL on 127.0.0.1:$PG_PORT"
}

postgres_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -s stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=
}
