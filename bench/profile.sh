#!/usr/bin/env bash
# Where spillway's request path spends its time: the mock backend and spillway pinned to
# separate CPUs, bench-load at saturation against one operation, and `perf record` on
# spillway for the measured part. Prints the hottest functions (self time, then with
# callees) and the throughput, so a change to the request path can be checked against
# the same profile before and after (issue 7, step 5).
#
#   ./bench/profile.sh [converse|invoke|stream] [seconds]      (default: converse 8)
#
# Uses the release binaries in target/release (BENCH_BIN_DIR overrides; build them with
# `cargo build --release --bin spillway --bin bench-mock --bin bench-load`) and Debian's
# linux-perf (installed with apt-get when missing). perf's software clock is used, so it
# works where hardware counters are not exposed (as on this machine). Output, including
# perf.data, stays in a temporary directory whose path is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

op="${1:-converse}" seconds="${2:-8}"
bin="${BENCH_BIN_DIR:-$PWD/target/release}"
work="$(mktemp -d -t spillway-profile-XXXX)"
log() { printf '== %s\n' "$*" >&2; }

if ! command -v perf >/dev/null; then
  log "installing linux-perf (apt-get)"
  sudo=""; [ "$(id -u)" != 0 ] && sudo="sudo -n"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >&2
fi

cpus="$(nproc)"
gateway_cpu=$((cpus > 1 ? 1 : 0))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# The first line a server prints says where it listens.
first_url() {
  for _ in $(seq 100); do
    url="$(grep -o 'http://[0-9.:]*' "$1" 2>/dev/null | head -n1 || true)"
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 0.1
  done
  log "no address in $1"; cat "$1" >&2; exit 1
}

taskset -c 0 "$bin/bench-mock" --listen 127.0.0.1:0 >"$work/mock.log" 2>&1 &
pids+=($!)
mock="$(first_url "$work/mock.log")"

sed "s#@MOCK@#$mock/v1#" bench/profile.toml >"$work/spillway.toml"

taskset -c "$gateway_cpu" "$bin/spillway" serve --config "$work/spillway.toml" --listen 127.0.0.1:0 \
  --data-dir "$work/data" >"$work/spillway.log" 2>&1 &
spillway_pid=$!
pids+=("$spillway_pid")
spillway="$(first_url "$work/spillway.log")"

source bench/requests.sh
enable_logging "$spillway"
load=(taskset -c 0 "$bin/bench-load" --url "$spillway/model/$MODEL/$path"
  --body "$body" -H "content-type: application/json" -H "authorization: $AUTH" "${stream[@]}" --connections 32)

log "warm-up"
"${load[@]}" --duration 2 --warmup 0 >/dev/null
log "profiling spillway (pid $spillway_pid) for ${seconds}s of $op at saturation; output in $work"
perf record -e cpu-clock -F 2999 -g -p "$spillway_pid" -o "$work/perf.data" -- sleep "$seconds" 2>"$work/perf-record.log" &
perf_pid=$!
"${load[@]}" --duration "$seconds" --warmup 0 | tail -n 20
wait "$perf_pid" || true

echo
echo "## self time (top 40)"
perf report -i "$work/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/ {2,}/ /g' | cut -c1-160 | head -40
echo
echo "## with callees (top 40)"
perf report -i "$work/perf.data" --children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/ {2,}/ /g' | cut -c1-160 | head -40
echo
echo "perf data: $work/perf.data (perf report -i $work/perf.data)"
