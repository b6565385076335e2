#!/usr/bin/env bash
# End-to-end ingest throughput: file -> ingest -> JetStream -> sink -> ClickHouse,
# timed until every event is queryable (ingest --wait), on a fresh data dir,
# against a running `orbitflow run`. Loopback only; stops what it started.
#
#   scripts/bench-e2e.sh                 # 1,000,000 events, 3 runs
#   BENCH_EVENTS=200000 BENCH_RUNS=1 scripts/bench-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/orbitflow}
EVENTS=${BENCH_EVENTS:-1000000}
RUNS=${BENCH_RUNS:-3}
[ -x "$BIN" ] || { echo "bench-e2e: $BIN is missing; run 'make build' first" >&2; exit 1; }

work=$(mktemp -d /tmp/orbitflow-bench.XXXXXX)
run_pid=""
cleanup() {
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then kill -TERM "$run_pid"; wait "$run_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

echo "bench-e2e: generating $EVENTS events ..." >&2
"$BIN" demo --out "$work/events.jsonl" --events "$EVENTS" --members $((EVENTS / 30 + 100)) >/dev/null

rates=()
for i in $(seq 1 "$RUNS"); do
  data="$work/data-$i"
  cat > "$work/bench.yaml" <<YAML
data_dir: $data
log: {level: warn}
nats: {embedded: {listen: "127.0.0.1:$(free_port)"}}
clickhouse: {embedded: {listen: "127.0.0.1:$(free_port)"}}
api: {listen: ""}
YAML
  "$BIN" run --config "$work/bench.yaml" > "$work/run-$i.log" 2>&1 &
  run_pid=$!
  for _ in $(seq 1 600); do [ -f "$data/run.json" ] && break; sleep 0.1; done
  [ -f "$data/run.json" ] || { cat "$work/run-$i.log" >&2; echo "bench-e2e: run did not start" >&2; exit 1; }
  start=$(date +%s.%N)
  "$BIN" ingest --config "$work/bench.yaml" --source jsonl --community demo --wait "$work/events.jsonl" > "$work/ingest-$i.log" 2>&1 ||
    { cat "$work/ingest-$i.log" >&2; exit 1; }
  end=$(date +%s.%N)
  rows=$("$BIN" sql --config "$work/bench.yaml" --format TSV "SELECT count() FROM activities" | tail -1)
  rate=$(python3 -c "print(round($rows / ($end - $start)))")
  echo "run $i: $rows events queryable in $(python3 -c "print(round($end - $start, 2))") s = $rate events/s end to end" 
  rates+=("$rate")
  kill -TERM "$run_pid"; wait "$run_pid" || true; run_pid=""
done
median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "end-to-end ingest (file -> NATS -> sink -> ClickHouse, queryable): median $median events/s over $RUNS runs of $EVENTS events"
