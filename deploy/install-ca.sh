#!/bin/sh
# Installs airlock's CA certificate where an agent's TLS clients look for trust, and writes an env
# file that points language runtimes at it. POSIX sh without Node, so it runs in image builds
# (Debian, Ubuntu, Alpine, RHEL, Fedora); `airlock ca install` runs this same script.
set -eu

usage() {
  cat >&2 <<'EOF'
usage: install-ca.sh [--trust-dir DIR] [--env-file FILE] [--proxy URL] CA.pem

  (no --trust-dir)  install into the system trust store, detected from /etc/os-release:
                    Debian/Ubuntu/Alpine: /usr/local/share/ca-certificates/airlock.crt + update-ca-certificates
                    RHEL/Fedora: /etc/pki/ca-trust/source/anchors/airlock.crt + update-ca-trust extract
                    and, if keytool exists, Java's default cacerts (alias airlock)
  --trust-dir DIR   leave the system alone: write DIR/airlock.crt and DIR/ca-bundle.pem
                    (the system bundle, if any, plus the CA)
  --env-file FILE   where to write the environment (default: DIR/agent.env with --trust-dir,
                    else /etc/airlock/agent.env)
  --proxy URL       also set HTTP(S)_PROXY for explicit-proxy agents (NO_PROXY=localhost,127.0.0.1)
EOF
  exit 2
}

die() {
  echo "install-ca.sh: $*" >&2
  exit 1
}

# The env file is read by both `docker run --env-file` (no quoting) and sh: only plain values.
plain() {
  case $2 in
    '' | *[!A-Za-z0-9_./:@%+=,~-]*) die "$1 \"$2\" has characters an env file cannot carry unquoted" ;;
  esac
}

trust_dir='' env_file='' proxy='' ca=''
while [ $# -gt 0 ]; do
  case $1 in
    --trust-dir | --env-file | --proxy)
      [ $# -ge 2 ] || usage
      case $1 in
        --trust-dir) trust_dir=$2 ;;
        --env-file) env_file=$2 ;;
        --proxy) proxy=$2 ;;
      esac
      shift 2
      ;;
    -h | --help) usage ;;
    -*) echo "install-ca.sh: unknown option $1" >&2 && usage ;;
    *)
      [ -z "$ca" ] || usage
      ca=$1
      shift
      ;;
  esac
done
[ -n "$ca" ] || usage
[ -r "$ca" ] || die "cannot read $ca"
grep -q -- '-----BEGIN CERTIFICATE-----' "$ca" || die "$ca is not a PEM certificate"
[ -z "$proxy" ] || plain --proxy "$proxy"
[ -z "$trust_dir" ] || plain --trust-dir "$trust_dir"

# The distribution family, from ID and then ID_LIKE (e.g. rocky: ID_LIKE="rhel centos fedora").
os_family() {
  [ -r /etc/os-release ] || return 0
  for id in $(. /etc/os-release && echo "${ID:-} ${ID_LIKE:-}"); do
    case $id in
      debian | ubuntu) echo debian && return 0 ;;
      alpine) echo alpine && return 0 ;;
      rhel | fedora | centos | rocky | almalinux | amzn | ol) echo rhel && return 0 ;;
    esac
  done
}

if [ -n "$trust_dir" ]; then
  mkdir -p "$trust_dir"
  anchor=$trust_dir/airlock.crt
  bundle=$trust_dir/ca-bundle.pem
  cp "$ca" "$anchor"
  chmod 644 "$anchor"
  system=''
  for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
    [ -r "$f" ] && system=$f && break
  done
  # Rebuilt from the system bundle every time, so re-running never stacks copies of the CA.
  {
    [ -z "$system" ] || { cat "$system" && echo; }
    cat "$ca"
  } >"$bundle.tmp"
  chmod 644 "$bundle.tmp"
  mv "$bundle.tmp" "$bundle"
  echo "wrote $anchor and $bundle (${system:-no system bundle found} + airlock CA)"
  env_file=${env_file:-$trust_dir/agent.env}
else
  family=$(os_family)
  case $family in
    debian | alpine)
      command -v update-ca-certificates >/dev/null 2>&1 ||
        die "update-ca-certificates not found: install the ca-certificates package (apt-get install ca-certificates / apk add ca-certificates), or use --trust-dir"
      anchor=/usr/local/share/ca-certificates/airlock.crt
      bundle=/etc/ssl/certs/ca-certificates.crt
      mkdir -p /usr/local/share/ca-certificates
      cp "$ca" "$anchor"
      chmod 644 "$anchor"
      update-ca-certificates
      ;;
    rhel)
      command -v update-ca-trust >/dev/null 2>&1 ||
        die "update-ca-trust not found: install the ca-certificates package (dnf install ca-certificates), or use --trust-dir"
      anchor=/etc/pki/ca-trust/source/anchors/airlock.crt
      bundle=/etc/pki/tls/certs/ca-bundle.crt
      cp "$ca" "$anchor"
      chmod 644 "$anchor"
      update-ca-trust extract
      ;;
    *) die "cannot tell the distribution from /etc/os-release (supported: Debian, Ubuntu, Alpine, RHEL, Fedora); use --trust-dir DIR" ;;
  esac
  echo "installed $anchor into the system trust store ($bundle)"
  # Java keeps its own store; -cacerts (Java 9+) is the JRE's default one. Not fatal: many agents have no Java.
  if command -v keytool >/dev/null 2>&1; then
    keytool -delete -cacerts -storepass changeit -alias airlock >/dev/null 2>&1 || true
    if keytool -importcert -noprompt -cacerts -storepass changeit -alias airlock -file "$anchor" >/dev/null 2>&1; then
      echo "imported into Java's default cacerts (alias airlock)"
    else
      echo "install-ca.sh: warning: keytool could not import into Java's default cacerts (Java 8, or a changed store password?)" >&2
    fi
  fi
  env_file=${env_file:-/etc/airlock/agent.env}
fi

mkdir -p "$(dirname "$env_file")"
{
  echo "# Written by airlock's install-ca.sh: TLS clients trust airlock's CA."
  echo "NODE_EXTRA_CA_CERTS=$anchor" # Node adds these to its built-in roots
  # These replace the default roots, so they get the whole bundle.
  for v in REQUESTS_CA_BUNDLE SSL_CERT_FILE CURL_CA_BUNDLE GIT_SSL_CAINFO PIP_CERT NPM_CONFIG_CAFILE; do
    echo "$v=$bundle"
  done
  if [ -n "$proxy" ]; then
    for v in HTTP_PROXY HTTPS_PROXY http_proxy https_proxy; do echo "$v=$proxy"; done
    echo "NO_PROXY=localhost,127.0.0.1"
    echo "no_proxy=localhost,127.0.0.1"
    echo "NODE_USE_ENV_PROXY=1" # Node 22.21+/24.5+: fetch and http honour HTTP(S)_PROXY
  fi
} >"$env_file.tmp"
chmod 644 "$env_file.tmp"
mv "$env_file.tmp" "$env_file"
echo "wrote $env_file"
