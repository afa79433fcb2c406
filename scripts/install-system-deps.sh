#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (headless Chromium for the
# browser end-to-end tests, Redis for the Redis-backed call store, FFmpeg as
# the RTP tool at both ends of a PlainTransport test, openssl for the
# certificate fixtures).
# Idempotent and non-interactive: runs as root in CI with no stdin, and is a
# quick no-op when everything is already there, so CI can call it every run.
set -euo pipefail

# Debian package names; `fonts-liberation` gives Chromium a usable font so
# screenshots of the test pages render text.
PACKAGES=(chromium redis-server fonts-liberation ffmpeg openssl)

missing=()
for pkg in "${PACKAGES[@]}"; do
  # `dpkg-query` status is "install ok installed" only for fully installed packages.
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-system-deps: all present (${PACKAGES[*]})"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing ${missing[*]} and not root; install them with apt-get" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run (a parallel job on the same machine) instead of failing.
APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
echo "install-system-deps: installing ${missing[*]}"
apt-get "${APT_OPTS[@]}" update -qq
apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}" </dev/null
echo "install-system-deps: done"
