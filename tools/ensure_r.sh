#!/usr/bin/env bash
# Install R and the packages the live R oracle tests use (tests/_r_oracle.py), from
# Debian's packages, when missing: survival and cmprsk (05_survival's estimators),
# psych (ICC). Needs root (as in CI); otherwise says what to run and carries on: the
# tests that need R skip and say why.
set -euo pipefail
PKGS="r-base-core r-cran-survival r-cran-cmprsk r-cran-psych"
if command -v Rscript >/dev/null 2>&1 \
   && Rscript -e 'for (p in c("survival", "cmprsk", "psych")) library(p, character.only = TRUE)' \
      >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "R or one of its packages is missing; as root: apt-get update && apt-get install -y $PKGS" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
command -v Rscript
