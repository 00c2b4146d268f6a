#!/usr/bin/env bash
# spillway's benchmark: gateway overhead and throughput against direct calls to the same
# mock backend, nginx proxy_pass and the LiteLLM proxy, in one run (issue 7).
#
#   ./bench/run.sh            full run (~7 min): builds release binaries, installs nginx
#                             (apt-get) and litellm[proxy] (pip, into bench/.venv) when
#                             missing, prints the comparison table and writes it into
#                             bench/README.md
#   ./bench/run.sh --smoke    every scenario for a moment, nothing installed, README left
#                             alone; exits non-zero if any scenario failed (the test suite
#                             runs this: tests/e2e/test_bench_smoke.py)
#
# Options: --smoke, --no-install (use only what is installed), --debug (debug builds),
# --no-build (use the binaries as they are), and the harness's own options, passed through:
# --no-peers, --no-readme, --duration S, --warmup S, --rates 500,2000, --connections 32,
# --streams 1000, --chunks 16, --mock-latency-ms 0, --placement driver=0,mock=0,gateway=1,
# --litellm-workers 1, --json-out FILE (see python3 bench/harness.py --help).
#
# Environment: SPILLWAY_BIN (the spillway binary to measure; default from the build),
# BENCH_BIN_DIR (where bench-mock and bench-load are; default target/release or target/debug),
# LITELLM_VERSION (default 1.106.2, the version the issue measured).
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0 install=1 profile=release build=1
pass=()
for a in "$@"; do
  case "$a" in
    --smoke) smoke=1; pass+=("$a") ;;
    --no-install) install=0 ;;
    --debug) profile=debug ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) pass+=("$a") ;;
  esac
done
# The smoke run never installs anything: it uses the peers that are already there.
[ "$smoke" = 1 ] && install=0

log() { printf '== %s\n' "$*" >&2; }

if [ "$build" = 1 ]; then
  log "building spillway, bench-mock and bench-load ($profile)"
  flags=()
  [ "$profile" = release ] && flags=(--release)
  cargo build "${flags[@]}" --bin spillway --bin bench-mock --bin bench-load >&2
fi
bindir="${BENCH_BIN_DIR:-$PWD/target/$profile}"
spillway_bin="${SPILLWAY_BIN:-$bindir/spillway}"

nginx_bin="$(command -v nginx || true)"
[ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx
if [ -z "$nginx_bin" ] && [ "$install" = 1 ]; then
  log "installing nginx (apt-get)"
  sudo=""
  [ "$(id -u)" != 0 ] && sudo="sudo -n"
  # RUNLEVEL=1: the package must not start a system nginx; the harness runs its own.
  if $sudo env RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >&2 \
    || { $sudo apt-get update -qq >&2 && $sudo env RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >&2; }; then
    nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
  else
    log "nginx could not be installed: it is reported as not available"
  fi
fi

venv=bench/.venv
litellm_version="${LITELLM_VERSION:-1.106.2}"
if [ ! -x "$venv/bin/litellm" ] && [ "$install" = 1 ]; then
  log "installing litellm[proxy]==$litellm_version into $venv (pip)"
  if ! { python3 -m venv "$venv" >&2 \
         && "$venv/bin/pip" install -q --disable-pip-version-check "litellm[proxy]==$litellm_version" >&2; }; then
    log "LiteLLM could not be installed: it is reported as not available"
  fi
fi
litellm_bin=""
[ -x "$venv/bin/litellm" ] && litellm_bin="$PWD/$venv/bin/litellm"

# 1,000 open streams need ~2,000 descriptors in spillway and 1,000 in the driver.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

args=(--bin-dir "$bindir" --spillway-bin "$spillway_bin")
[ -n "$nginx_bin" ] && args+=(--nginx "$nginx_bin")
[ -n "$litellm_bin" ] && args+=(--litellm "$litellm_bin")
[ "$smoke" = 0 ] && args+=(--json-out bench/results/last-run.json)
exec python3 bench/harness.py "${args[@]}" "${pass[@]}"
