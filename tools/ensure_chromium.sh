#!/usr/bin/env bash
# Install Debian's chromium (for the report rendering test) when it is missing.
# Needs root (as in CI); otherwise says what to run and carries on: that test skips.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "chromium is missing; as root: apt-get update && apt-get install -y chromium" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium
