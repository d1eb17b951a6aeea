#!/usr/bin/env bash
# Installs the Debian 12 packages the build and the tests need (as root).
# Skips apt-get entirely when everything is already installed.
set -euo pipefail
PACKAGES=(apache2 apache2-dev apache2-utils libclang-dev clang python3 python3-dev python3-pytest
          python3-venv curl ca-certificates openssl pkg-config build-essential libcrypt-dev)
PACKAGES+=("$@")
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
