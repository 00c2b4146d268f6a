#!/usr/bin/env bash
# A three-instance spillway cluster on one machine, for a demo: a Redis (shared quotas,
# leases, cool-downs) and a PostgreSQL (the control plane) of its own under
# ./cluster-data, and three instances on 127.0.0.1:8081-8083 sharing both. Ctrl-C stops
# everything it started. Every model is served by the simulator unless you pass
# another backend choice; extra arguments go to each `spillway serve`.
#
#   ./scripts/cluster.sh                    # build, start, wait for Ctrl-C
#   ./scripts/cluster.sh --config my.toml   # your catalog (set [cluster] instances = 3 in it)
#
# SPILLWAY_BIN=path/to/spillway skips the build.
# Needs redis-server and PostgreSQL's server binaries (Debian: `apt-get install
# redis-server postgresql`); nothing else is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }
DATA=${SPILLWAY_CLUSTER_DATA:-$PWD/cluster-data}
REDIS_PORT=${REDIS_PORT:-6390}
PG_PORT=${PG_PORT:-5440}
PORTS=(8081 8082 8083)
mkdir -p "$DATA"
pids=()
cleanup() {
  log "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${PG_BIN:-}" ] && as_pg "$PG_BIN/pg_ctl" -D "$DATA/pg" -m fast stop >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM
# PostgreSQL refuses to run as root: as root, its files belong to the postgres user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

command -v redis-server >/dev/null || { log "redis-server is missing (apt-get install redis-server)"; exit 1; }
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$PG_BIN/initdb" ] || { log "PostgreSQL is missing (apt-get install postgresql)"; exit 1; }

BIN=${SPILLWAY_BIN:-}
if [ -z "$BIN" ]; then
  log "building spillway"
  cargo build --release --bin spillway
  BIN=$PWD/target/release/spillway
fi

log "redis on 127.0.0.1:$REDIS_PORT"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --logfile "$DATA/redis.log" &
pids+=($!)

log "postgresql on 127.0.0.1:$PG_PORT"
if [ ! -d "$DATA/pg" ]; then
  mkdir -p "$DATA/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$DATA/pg"
  as_pg "$PG_BIN/initdb" -D "$DATA/pg" -U spillway --auth=trust >/dev/null
fi
as_pg "$PG_BIN/pg_ctl" -D "$DATA/pg" -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1" -l "$DATA/pg/server.log" -w start >/dev/null
STORE="postgres://spillway@127.0.0.1:$PG_PORT/postgres"

# Without arguments: the built-in catalog on the simulator, told that three instances
# share it (what each admits alone if Redis goes away: quota ÷ 3).
args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  { cat crates/catalog/builtin.toml; printf '\n[cluster]\ninstances = 3\n'; } >"$DATA/cluster.toml"
  args=(--config "$DATA/cluster.toml" --backend sim)
fi
for i in 0 1 2; do
  port=${PORTS[$i]}
  log "instance $((i + 1)) on http://127.0.0.1:$port"
  "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$DATA/instance-$((i + 1))" \
    --store "$STORE" --redis "redis://127.0.0.1:$REDIS_PORT" "${args[@]}" &
  pids+=($!)
done
log "ready: point clients at http://127.0.0.1:8081, :8082 or :8083 (or a load balancer in front of all three)"
wait -n "${pids[@]}"
