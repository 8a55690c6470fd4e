#!/usr/bin/env bash
# Project copy of the shared kind: runs `node proxy/airlock.js` itself (exec), so the PID the
# harness stops is airlock and not an npx wrapper that leaves airlock holding its ports.
# Recording is on (the flow store in the kind dir); no per-flow log line, like squid's
# `access_log none` (AIRLOCK_LOG_FLOWS=true turns it on). AIRLOCK_NODE_FLAGS adds
# node flags (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile a run).
# Kind "airlock": the project under test, run from its checkout ($AIRLOCK_DIR, default: the
# directory bench/run.sh was started from). transparent: one port for TLS (SNI) and plain HTTP
# (Host); explicit: 127.0.0.1:$BENCH_XPORT. Uses the bench CA (`airlock ca import`), trusts the
# bench upstream CA, and resolves names from $BENCH_HOSTS via `upstream.resolve`.
# AIRLOCK_EXTRA_YAML: a file appended to the generated policy (e.g. DLP or recording settings).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "${BENCH_DIR:-$here/../../../shared/bench}/lib/kind-helpers.sh" # the shared harness beside this repo

case ${1:-} in
  info)
    echo "direct=0"
    echo "http_on_tls_port=1"
    ;;
  start)
    d=$BENCH_KIND_DIR; repo=${AIRLOCK_DIR:-$BENCH_START_DIR}
    mkdir -p "$d/data"
    resolve=$(awk '!/^#/ && NF>=2 {for (i=2;i<=NF;i++) printf "    %s: %s\n", $i, $1}' "$BENCH_HOSTS")
    {
      echo "data_dir: $d/data"
      echo "listen:"
      echo "  proxy: 127.0.0.1:$BENCH_XPORT"
      [[ $BENCH_MODE == transparent ]] && echo "  transparent: $BENCH_LISTEN_IP:$BENCH_TPORT"
      echo "upstream:"
      echo "  ca_files: [$BENCH_UPSTREAM_CA]"
      echo "  resolve:"
      echo "$resolve"
      echo "hosts:"
      echo "  - match: upstream.test"
      echo "    allow_ips: [198.18.0.0/15]"
      echo "  - match: \"*.upstream.test\""
      echo "    allow_ips: [198.18.0.0/15]"
      echo "log: { flows: ${AIRLOCK_LOG_FLOWS:-false} }"
      [[ -n ${AIRLOCK_EXTRA_YAML:-} ]] && cat "$AIRLOCK_EXTRA_YAML"
    } >"$d/policy.yaml"
    (cd "$repo" && node proxy/airlock.js ca import --data-dir "$d/data" \
      --cert "$BENCH_CA_DIR/ca.crt" --key "$BENCH_CA_DIR/ca.key") >"$d/ca-import.log" 2>&1
    cd "$repo"
    run_pinned node ${AIRLOCK_NODE_FLAGS:---max-semi-space-size=1 --v8-pool-size=1 --initial-old-space-size=32} proxy/airlock.js start --config "$d/policy.yaml" >"$d/airlock.log" 2>&1 &
    echo $!
    ;;
  stop) default_stop "${2:-}" ;;
  *) echo "usage: $0 info|start|stop PID" >&2; exit 2 ;;
esac
