#!/usr/bin/env bash
# Runs every Go fuzz target of the project for a bounded time each
# (FUZZTIME, default 10s), one after another. New failing inputs are
# written under the package's testdata/fuzz/ (commit them: they become
# regression cases that `go test` runs every time).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
modules=(schemas services/kit services/connectors services/processors services/sink services/api services/orbitflow)
n=0
for m in "${modules[@]}"; do
  while IFS= read -r file; do
    pkg="./$(dirname "${file#"$m"/}")"
    for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
      n=$((n + 1))
      echo "== fuzz $m $pkg $target ($FUZZTIME)"
      (cd "$m" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg") | grep -Ev '^fuzz: elapsed' || {
        echo "fuzz: $target in $m/$pkg found a failing input; it is saved under $m/${pkg#./}/testdata/fuzz/$target — run 'go test -run $target' there to reproduce"
        exit 1
      }
    done
  done < <(grep -rl --include='*_test.go' -E '^func Fuzz' "$m" | sort)
done
echo "fuzz: $n targets, $FUZZTIME each: no failure"
