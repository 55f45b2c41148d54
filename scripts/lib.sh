# Shared environment for the project's scripts: one toolchain (Debian's Rust
# 1.96, registered with rustup as `meritree-1.96`), one shared target
# directory outside the clone, and the paths the build produces.
# Sourced, not executed.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

# Debian's toolchain first: it has the wasm32 standard library we build in
# scripts/setup; rustup's proxies stay reachable for cargo-installed tools.
export PATH="/usr/bin:$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22

# One target directory reused across clones and runs: a cold build on two
# cores takes many minutes, a warm one seconds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meritree/target}"
# A CI run builds each clone once: incremental caches would only fill the
# shared target directory's disk (tens of GB over many clones).
if [ "${CI:-}" = true ]; then
    export CARGO_INCREMENTAL=0
fi

# Free disk the build must find: a full debug build with the tests and the
# wasm32 client takes about this much, and a full disk fails the link step.
MIN_FREE_GIB="${MERITREE_MIN_FREE_GIB:-20}"

free_gib() { # free GiB on the disk holding the target directory
  local dir="$CARGO_TARGET_DIR"
  while [ ! -d "$dir" ]; do dir="$(dirname "$dir")"; done
  df -Pk "$dir" | awk 'NR == 2 { print int($4 / 1048576) }'
}

# Makes room for a build when the disk runs low. The shared target directory
# outlives clones and grows with every profile and toolchain built into it;
# what goes first is what is cheapest to rebuild: incremental caches, then
# optimised builds (benchmarks, the release server), then all of it.
make_room() {
  local free
  free="$(free_gib)"
  if [ "$free" -ge "$MIN_FREE_GIB" ]; then return; fi
  log "only ${free} GiB free for the build (want ${MIN_FREE_GIB}): removing incremental caches"
  find "$CARGO_TARGET_DIR" -maxdepth 3 -type d -name incremental -prune -exec rm -rf {} +
  free="$(free_gib)"
  if [ "$free" -ge "$MIN_FREE_GIB" ]; then return; fi
  log "${free} GiB free: removing optimised builds"
  rm -rf "$CARGO_TARGET_DIR/release" "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release"
  free="$(free_gib)"
  if [ "$free" -ge "$MIN_FREE_GIB" ]; then return; fi
  log "${free} GiB free: removing the whole target directory (the build starts cold)"
  rm -rf "$CARGO_TARGET_DIR"
  free="$(free_gib)"
  if [ "$free" -lt "$MIN_FREE_GIB" ]; then
    log "warning: ${free} GiB free after cleaning; the build may run out of disk"
  fi
}

# The built client; also the server's `site.root` setting (MERITREE_<SECTION>__<KEY>).
export MERITREE_SITE__ROOT="${MERITREE_SITE__ROOT:-$CARGO_TARGET_DIR/site}"

# The embedded AI models, extracted by scripts/setup; also the server's
# `ai.local.models_dir` setting (SECTION__SUBSECTION__KEY) and where the
# meritree-ai tests look.
export MERITREE_AI__LOCAL__MODELS_DIR="${MERITREE_AI__LOCAL__MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meritree/models}"

# The tests' Python tools (schemathesis, the API fuzzer), installed by
# scripts/setup from scripts/tools/requirements.txt into this virtualenv.
export MERITREE_VENV="${MERITREE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/meritree/venv}"

free_port() { # a TCP port nothing listens on right now
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# A self-signed certificate for 127.0.0.1 and localhost in directory $1
# (cert.pem, key.pem), for the test services' TLS ports.
test_certificate() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1
  chmod 600 "$1/key.pem"
}
