#!/usr/bin/env bash
# soak.sh [RUNS] [HOGGED]: runs the data-plane test TestZeroDowntimeCutOvers
# RUNS times in a row (default 50), the last HOGGED of them (default 25)
# beside a CPU hog of one more busy loop than the machine has cores, and
# prints each run's figures and a summary. It exits non-zero if any run
# failed. Needs .bin/caddy (make tools). The figures in
# docs/architecture.md come from it.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-50}
hogged=${2:-25}
caddy=${PHOENIX_CADDY:-$PWD/.bin/caddy}
[ -x "$caddy" ] || { echo "soak.sh: no Caddy at $caddy: run make tools" >&2; exit 1; }

work=$(mktemp -d /tmp/phoenix-soak.XXXXXX)
hogs=()
# shellcheck disable=SC2317 # called by the EXIT trap
stop_hogs() {
  for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${hogs[@]}"; do wait "$pid" 2>/dev/null || true; done
  hogs=()
}
trap 'stop_hogs; rm -rf "$work"' EXIT
go test -c -o "$work/dataplane.test" ./tests/dataplane/

bad=0
for i in $(seq 1 "$runs"); do
  label=quiet
  if [ "$i" -gt $((runs - hogged)) ] && [ "${#hogs[@]}" = 0 ]; then
    for _ in $(seq 0 "$(nproc)"); do
      sh -c 'while :; do :; done' &
      hogs+=("$!")
    done
  fi
  [ "${#hogs[@]}" -gt 0 ] && label="beside $((${#hogs[@]})) busy loops"
  if (cd tests/dataplane && PHOENIX_CADDY=$caddy "$work/dataplane.test" -test.run '^TestZeroDowntimeCutOvers$' -test.v) >"$work/run.log" 2>&1; then
    result=ok
  else
    result=FAILED
    bad=$((bad + 1))
    cp "$work/run.log" "/tmp/phoenix-soak-run-$i.log"
  fi
  figures=$(grep -o 'production: .*\|switch in force.*\|latency steady.*' "$work/run.log" | tr '\n' ' ')
  echo "run $i ($label): $result: $figures"
done
stop_hogs
echo "soak: $runs runs, $((runs - bad)) passed, $bad failed (logs of failed runs: /tmp/phoenix-soak-run-N.log)"
[ "$bad" = 0 ]
