#!/usr/bin/env bash
# Installs every Debian package the build, the tests, the demo and the benchmarks need.
# Idempotent and non-interactive: packages already present are skipped.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  libuv1-dev libjansson-dev libsqlite3-dev libinih-dev libwslay-dev
  libedit-dev libncurses-dev libcmocka-dev libcrypt-dev libssl-dev openssl
  clang-14 libclang-rt-14-dev clang-format-14
  python3 tmux procps prometheus systemd
  nats-server libnats-dev postgresql-15 libpq-dev
  chromium nodejs
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# The browser tests need npm. Debian ships it as its own package; a Node.js from another
# source (e.g. a nodejs package that bundles npm and conflicts with Debian's) already has it.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages and npm present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "deps: installing ${missing[*]}"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
