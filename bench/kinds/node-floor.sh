#!/usr/bin/env bash
# Kind "node-floor": not airlock, a bare Node https server forwarding through undici
# (bench/node-floor.mjs: no policy, DLP, recording or limits), with a leaf for upstream.test from
# the bench CA. Run beside airlock to see how much of airlock's cost is Node's own HTTP and TLS.
# transparent only (TLS on $BENCH_TPORT).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "${BENCH_DIR:-$here/../../../shared/bench}/lib/kind-helpers.sh"
case ${1:-} in
  info) echo "direct=0"; echo "http_on_tls_port=0" ;;
  start)
    d=$BENCH_KIND_DIR; repo=${AIRLOCK_DIR:-$BENCH_START_DIR}
    mkdir -p "$d"
    openssl req -newkey rsa:2048 -nodes -keyout "$d/leaf.key" -subj /CN=upstream.test -out "$d/leaf.csr" 2>/dev/null
    printf 'subjectAltName=DNS:upstream.test,DNS:*.upstream.test\n' >"$d/ext"
    openssl x509 -req -in "$d/leaf.csr" -CA "$BENCH_CA_DIR/ca.crt" -CAkey "$BENCH_CA_DIR/ca.key" -CAcreateserial -days 2 -extfile "$d/ext" -out "$d/leaf.crt" 2>/dev/null
    cd "$repo"
    run_pinned node bench/node-floor.mjs "$BENCH_LISTEN_IP" "$BENCH_TPORT" "$d/leaf.crt" "$d/leaf.key" "$BENCH_UPSTREAM_CA" "$BENCH_HOSTS" >"$d/out.log" 2>&1 &
    echo $!
    ;;
  stop) default_stop "${2:-}" ;;
  *) echo "usage: $0 info|start|stop PID" >&2; exit 2 ;;
esac
