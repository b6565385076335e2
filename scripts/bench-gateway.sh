#!/usr/bin/env bash
# Webhook gateway throughput: wrk (a separate load-generator process) posts
# distinct authenticated deliveries to the generic endpoint of a running
# `orbitflow run` on loopback; each is answered 202 only after the stream
# acknowledged it. Bounded: BENCH_SECONDS (default 10) per run, BENCH_RUNS runs.
#
#   scripts/bench-gateway.sh
#   BENCH_SECONDS=5 BENCH_RUNS=1 scripts/bench-gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/orbitflow}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
RUNS=${BENCH_RUNS:-3}
CONNS=${BENCH_CONNECTIONS:-32}
[ -x "$BIN" ] || { echo "bench-gateway: $BIN is missing; run 'make build' first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench-gateway: wrk is missing; install it (apt-get install wrk)" >&2; exit 1; }

work=$(mktemp -d /tmp/orbitflow-gwbench.XXXXXX)
run_pid=""
cleanup() {
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then kill -TERM "$run_pid"; wait "$run_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

key="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat > "$work/hit.lua" <<LUA
-- Every request is a distinct event (thread id + counter), so none is a duplicate.
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"id":"bench:%d:%d","source":"product","type":"custom.bench.hit","occurred_at":"2026-01-01T00:00:00.000Z","actor":{"source":"product","source_id":"u%d"}}', tid, n, n % 1000)
  return wrk.format("POST", "/hooks/generic", {["Authorization"] = "Bearer $key", ["Content-Type"] = "application/json"}, body)
end
LUA

rates=()
for i in $(seq 1 "$RUNS"); do
  data="$work/data-$i"
  port=$(free_port)
  cat > "$work/bench.yaml" <<YAML
data_dir: $data
log: {level: warn}
nats: {embedded: {listen: "127.0.0.1:$(free_port)"}}
clickhouse: {embedded: {listen: "127.0.0.1:$(free_port)"}}
api: {listen: ""}
gateway:
  listen: "127.0.0.1:$port"
  hooks: [{source: generic, community: bench, secrets: ["$key"]}]
YAML
  "$BIN" run --config "$work/bench.yaml" > "$work/run-$i.log" 2>&1 &
  run_pid=$!
  for _ in $(seq 1 600); do [ -f "$data/run.json" ] && break; sleep 0.1; done
  [ -f "$data/run.json" ] || { cat "$work/run-$i.log" >&2; echo "bench-gateway: run did not start" >&2; exit 1; }
  wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" -s "$work/hit.lua" "http://127.0.0.1:$port" > "$work/wrk-$i.txt"
  if grep -q "Non-2xx" "$work/wrk-$i.txt"; then cat "$work/wrk-$i.txt" >&2; echo "bench-gateway: some deliveries were not accepted" >&2; exit 1; fi
  rate=$(awk '/Requests\/sec/ {printf "%d", $2}' "$work/wrk-$i.txt")
  lat=$(awk '/Latency/ {print $2; exit}' "$work/wrk-$i.txt")
  echo "run $i: $rate deliveries/s accepted (202 after the stream ack), mean latency $lat, $CONNS connections"
  rates+=("$rate")
  kill -TERM "$run_pid"; wait "$run_pid" || true; run_pid=""
done
median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "webhook gateway (wrk -> /hooks/generic -> JetStream ack): median $median deliveries/s over $RUNS runs of ${SECONDS_PER_RUN}s"
