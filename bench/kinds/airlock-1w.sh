#!/usr/bin/env bash
# airlock with one serving process (`workers: 1`), for comparing against the default (one worker
# per core the proxy may use) in the same run: BENCH_PIN=0 bench/run.sh airlock,airlock-1w ka16 agent
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ ${1:-} == start ]]; then
  extra=$BENCH_KIND_DIR/one-worker.yaml
  mkdir -p "$BENCH_KIND_DIR"
  { echo "workers: 1"; [[ -n ${AIRLOCK_EXTRA_YAML:-} ]] && cat "$AIRLOCK_EXTRA_YAML"; } >"$extra"
  export AIRLOCK_EXTRA_YAML=$extra
fi
exec "$here/airlock.sh" "$@"
