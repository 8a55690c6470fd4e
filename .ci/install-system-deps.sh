#!/usr/bin/env bash
# Debian packages the test suite drives as real clients and peers. Needs root (or sudo).
set -euo pipefail
pkgs=(ca-certificates curl git openssl python3 dnsmasq-base iproute2 iptables chromium sslscan)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
