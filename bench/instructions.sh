#!/usr/bin/env bash
# Instructions spillway executes per request, counted by valgrind's callgrind: unlike
# time, the count does not move with whatever else the machine is doing, so it compares
# two builds of the request path exactly (issue 7, step 5). Kernel work (the socket
# calls) is not counted; bench/run.sh measures the whole.
#
#   ./bench/instructions.sh [converse|invoke|stream] [requests]    (default: converse 1000)
#
# Prints instructions per request and the 25 functions with the most instructions of
# their own; the full profile stays in the printed directory (callgrind_annotate FILE).
# Uses target/release (BENCH_BIN_DIR overrides) and Debian's valgrind (installed with
# apt-get when missing). SPILLWAY_PRELOAD=/path/to/libX.so runs spillway with that library
# preloaded (to compare allocators on one binary: libjemalloc2, libmimalloc2.0).
# Invocation logging is turned on for the account first (bench/requests.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

op="${1:-converse}" requests="${2:-1000}"
bin="${BENCH_BIN_DIR:-$PWD/target/release}"
work="$(mktemp -d -t spillway-instructions-XXXX)"
log() { printf '== %s\n' "$*" >&2; }

if ! command -v valgrind >/dev/null; then
  log "installing valgrind (apt-get)"
  sudo=""; [ "$(id -u)" != 0 ] && sudo="sudo -n"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >&2
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

first_url() {
  for _ in $(seq 300); do
    url="$(grep -o 'http://[0-9.:]*' "$1" 2>/dev/null | head -n1 || true)"
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 0.1
  done
  log "no address in $1"; cat "$1" >&2; exit 1
}

"$bin/bench-mock" --listen 127.0.0.1:0 >"$work/mock.log" 2>&1 &
pids+=($!)
mock="$(first_url "$work/mock.log")"
sed "s#@MOCK@#$mock/v1#" bench/profile.toml >"$work/spillway.toml"

${SPILLWAY_PRELOAD:+env LD_PRELOAD=$SPILLWAY_PRELOAD} valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
  "$bin/spillway" serve --config "$work/spillway.toml" --listen 127.0.0.1:0 --data-dir "$work/data" \
  >"$work/spillway.log" 2>&1 &
pids+=($!)
spillway="$(first_url "$work/spillway.log")"

source bench/requests.sh
enable_logging "$spillway"
run() { "$bin/bench-load" --url "$spillway/model/$MODEL/$path" --body "$body" \
  -H "content-type: application/json" -H "authorization: $AUTH" "${stream[@]}" --connections 4 "$@"; }

log "warm-up (first requests allocate pools and caches)"
run --duration 3 --warmup 0 >/dev/null
callgrind_control -z "${pids[1]}" >/dev/null
log "counting $requests $op requests"
# A closed loop at 4 connections, stopped once enough requests are done.
done_n=0
while [ "$done_n" -lt "$requests" ]; do
  n="$(run --duration 2 --warmup 0 | awk '/requests/ {print $2}')"
  done_n=$((done_n + n))
done
callgrind_control -d "${pids[1]}" >/dev/null
sleep 1
out="$(ls -t "$work"/callgrind.out.* | head -n1)"
total="$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
echo "$op: $done_n requests, $total instructions in spillway's user space: $((total / done_n)) per request"
echo
echo "## most instructions of their own"
# (Thread entry points, which callgrind credits with everything below them, are left out.)
callgrind_annotate --threshold=100 "$out" 2>/dev/null | grep -E '^ *[0-9,]+ \( ?[0-9]\.|^ *[0-9,]+ \([1-4][0-9]\.' | head -n 25 \
  | sed -E 's#/root/.cargo/registry/src/[^/]*/##; s#/rustc/[0-9a-f]*/##' | cut -c1-160
echo
echo "profile: $out"
