#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this file). Works on a fresh Debian
# machine with only the Rust toolchain and Python: it installs what it needs itself.
#
#   lint   cargo fmt --check, cargo clippy -D warnings
#   unit + in-process   cargo nextest (every crate's tests)
#   end-to-end          the real binary driven by boto3 and the AWS CLI (pytest)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

log "Python clients (boto3, AWS CLI, pytest) in .venv"
if [ ! -x .venv/bin/python ]; then
  if ! python3 -m venv .venv 2>/dev/null; then
    # Debian's own python3 ships venv separately.
    rm -rf .venv
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    else
      sudo apt-get update -qq && sudo apt-get install -y -qq python3-venv >/dev/null
    fi
    python3 -m venv .venv
  fi
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/e2e/requirements.txt

if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

log "lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

log "unit and in-process tests"
cargo build --workspace --bins --locked
cargo nextest run --workspace --locked

log "end-to-end tests (boto3, AWS CLI)"
SPILLWAY_BIN="$PWD/target/debug/spillway" .venv/bin/python -m pytest tests/e2e -q
