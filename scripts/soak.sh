#!/usr/bin/env bash
# The long versions of the fault tests (issue 7), one after another, each
# bounded in time, with a progress line at least every SOAK_HEARTBEAT:
#
#   1. orbitflow run SIGKILLed SOAK_KILLS times at random points of an
#      ingest of SOAK_EVENTS events, then checked exactly once and against
#      the scores of a clean run;
#   2. ClickHouse unreachable for the sink for SOAK_OUTAGE under a steady
#      publish;
#   3. the sink, the scoring processor and the embedded NATS server
#      restarted SOAK_FAULTS times while SOAK_RESTART_EVENTS events and
#      poison messages are published;
#   4. every process of a split deployment on a 3-node NATS cluster
#      restarted in turn, SOAK_ROLLING_ROUNDS times, while up to
#      SOAK_ROLLING_EVENTS events come; processors and sinks scaled 1 -> 3 -> 1 and a
#      NATS node SIGKILLed under load;
#   5. the short fault tests (full stream, held deliveries at restart).
#
# ORBITFLOW_FAULT_SEED replays the kill points of a failed run (the seed is
# printed). Each step fails the soak; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

SOAK_EVENTS=${SOAK_EVENTS:-1000000}
SOAK_KILLS=${SOAK_KILLS:-5}
SOAK_OUTAGE=${SOAK_OUTAGE:-30s}
SOAK_RESTART_EVENTS=${SOAK_RESTART_EVENTS:-200000}
SOAK_FAULTS=${SOAK_FAULTS:-10}
SOAK_ROLLING_ROUNDS=${SOAK_ROLLING_ROUNDS:-5}
SOAK_ROLLING_EVENTS=${SOAK_ROLLING_EVENTS:-300000}
SOAK_STEP_MINUTES=${SOAK_STEP_MINUTES:-90}
SOAK_HEARTBEAT=${SOAK_HEARTBEAT:-30}

start=$(date +%s)
elapsed() { local s=$(($(date +%s) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# step NAME MODULE PACKAGE TEST-REGEX [ENV=VALUE...]: one go test run,
# streamed (-v), bounded by SOAK_STEP_MINUTES (go test's -timeout, which
# prints every goroutine; `timeout` 5 minutes later as a backstop), with
# heartbeat lines.
step() {
  local name=$1 module=$2 pkg=$3 run=$4
  shift 4
  local t0
  t0=$(date +%s)
  echo "== soak: $name (${*:-defaults}; at most ${SOAK_STEP_MINUTES}m) — $(date -u +%H:%M:%S)"
  (
    while sleep "$SOAK_HEARTBEAT"; do
      echo "   soak: $name still running, $(elapsed "$t0") in this step, $(elapsed "$start") in all"
    done
  ) &
  local beat=$!
  set +e
  (cd "$module" && env "$@" timeout --signal=QUIT --kill-after=1m "$((SOAK_STEP_MINUTES + 5))m" \
    go test -race -count=1 -v -timeout "${SOAK_STEP_MINUTES}m" -run "$run" "$pkg") 2>&1 |
    grep --line-buffered -Ev '^\s+time=|^=== (RUN|PAUSE|CONT)'
  local rc=${PIPESTATUS[0]}
  set -e
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    echo "soak: $name FAILED after $(elapsed "$t0")"
    exit 1
  fi
  echo "   soak: $name passed in $(elapsed "$t0")"
}

step "repeated SIGKILL during a ${SOAK_EVENTS}-event ingest" services/orbitflow . '^TestSIGKILLDuringIngestLosesNothing$' \
  ORBITFLOW_KILL_TEST_EVENTS="$SOAK_EVENTS" ORBITFLOW_KILL_TEST_KILLS="$SOAK_KILLS"
step "ClickHouse unreachable for $SOAK_OUTAGE" services/sink . '^TestSinkRidesOutAClickHouseOutage$' \
  ORBITFLOW_CH_OUTAGE="$SOAK_OUTAGE"
step "$SOAK_FAULTS restarts while publishing $SOAK_RESTART_EVENTS events and poison" services/orbitflow ./internal/app \
  '^TestRestartsAndPoisonWhilePublishingLoseNothing$' \
  ORBITFLOW_RESTART_TEST_EVENTS="$SOAK_RESTART_EVENTS" ORBITFLOW_RESTART_TEST_FAULTS="$SOAK_FAULTS"
step "$SOAK_ROLLING_ROUNDS rolling restarts of a split deployment on a 3-node NATS cluster, up to $SOAK_ROLLING_EVENTS events" services/orbitflow . \
  '^TestRollingRestartOfEveryProcess$' \
  ORBITFLOW_ROLLING_ROUNDS="$SOAK_ROLLING_ROUNDS" ORBITFLOW_ROLLING_EVENTS="$SOAK_ROLLING_EVENTS"
step "split mode: processors and sinks scaled 1 -> 3 -> 1, a NATS node SIGKILLed, under load" services/orbitflow . \
  '^(TestProcessorsScaleOutAndIn|TestSinksScaleOutAndIn|TestNATSClusterOfThreeNodes)$'
step "full streams and held deliveries" services/kit ./bus \
  '^(TestFullStreamRefusesWithAClearErrorAndDropsNothing|TestPublisherStopsAtOnceOnAFullStream|TestEmbeddedStartGivesBackWhatAStoppedProcessHeld)$'
step "full activity stream and a killed run's held messages, through the binary" services/orbitflow . \
  '^(TestFullActivityStreamIsAClearErrorAndLosesNothing|TestRestartDeliversAtOnceWhatAKilledRunHeld)$'

echo "soak: every step passed in $(elapsed "$start")"
