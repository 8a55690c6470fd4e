#!/usr/bin/env bash
# Debian packages airlock needs. `runtime`: what `npm ci` builds the native DLP scanner with
# (Hyperscan, RE2, pkg-config and a C++ toolchain). Default: those plus everything the test suite
# drives as real clients and peers. Needs root (or sudo).
# Hyperscan, not Debian's Vectorscan 5.4.9: that one misses matches depending on where the buffer
# sits in memory (docs/dlp.md, "Engine"); the two conflict, so Vectorscan is replaced.
set -euo pipefail
runtime=(ca-certificates pkg-config g++ make python3 libre2-dev)
# Hyperscan is x86-64 only; elsewhere airlock's DLP runs on the portable node-re2 engine.
if [ "$(dpkg --print-architecture)" = amd64 ]; then runtime+=(libhyperscan-dev); fi
# postgresql: the PostgreSQL store's tests start throw-away servers of their own (initdb and pg_ctl
# from /usr/lib/postgresql/*/bin, as the postgres user the package creates, on free loopback ports).
tests=(curl git openssl dnsmasq-base iproute2 iptables chromium sslscan e2fsprogs mount util-linux python3-pip postgresql)
pkgs=("${runtime[@]}")
[ "${1:-tests}" = runtime ] || pkgs+=("${tests[@]}")
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
if dpkg -s libvectorscan-dev >/dev/null 2>&1; then
  echo "airlock: replacing libvectorscan-dev with libhyperscan-dev (see docs/dlp.md, Engine)" >&2
  $sudo apt-get remove -y -qq libvectorscan-dev
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
