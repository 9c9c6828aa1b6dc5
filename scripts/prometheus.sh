#!/usr/bin/env bash
# Make sure Prometheus and promtool are on this machine (Debian's prometheus package),
# for the rule checks and the end-to-end alert test. Installs them when missing (as
# root); running it again is harmless. Nothing is started here.
set -euo pipefail

say() { printf '\033[1mprometheus:\033[0m %s\n' "$*"; }

if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  say "missing: prometheus (it ships promtool). Install it: apt-get install prometheus"
  exit 1
fi
say "installing prometheus from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
# Another installer may hold the package lock for a moment (the lock wait is bounded).
apt-get -o DPkg::Lock::Timeout=120 update -qq
apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends prometheus >/dev/null
# The package's scripts may start a server where an init system runs; this project
# starts its own with its own configuration, so stop a packaged one if it came up.
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
fi
