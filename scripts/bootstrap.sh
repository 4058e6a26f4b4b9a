#!/usr/bin/env bash
# Install what fleet needs on a Debian 12 machine, only what is missing: system
# packages (GDAL, SpatiaLite, Redis, Chromium for browser tests), a .venv built
# from Debian's python3 (its sqlite3 can load SpatiaLite), pinned requirements,
# a .env with generated SECRET_KEY and FIELD_ENCRYPTION_KEY.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(python3-venv python3-dev gdal-bin libsqlite3-mod-spatialite redis-server chromium)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sqlite3; sqlite3.connect(":memory:").enable_load_extension(True)' 2>/dev/null; then
  rm -rf .venv
  /usr/bin/python3 -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ requirements.txt -nt .venv/.installed ]; then
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  touch .venv/.installed
fi
[ -f .env ] || cp .env.example .env
.venv/bin/python scripts/ensure-secrets.py .env
