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

# The built client; also the server's `site.root` setting (MERITREE_<SECTION>__<KEY>).
export MERITREE_SITE__ROOT="${MERITREE_SITE__ROOT:-$CARGO_TARGET_DIR/site}"

# The embedded AI models, extracted by scripts/setup; also the server's
# `ai.local.models_dir` setting (SECTION__SUBSECTION__KEY) and where the
# meritree-ai tests look.
export MERITREE_AI__LOCAL__MODELS_DIR="${MERITREE_AI__LOCAL__MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meritree/models}"

free_port() { # a TCP port nothing listens on right now
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
