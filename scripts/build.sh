#!/usr/bin/env bash
# Builds target/release/libmod_authnz_wsgi.so against the installed httpd and
# Debian's libpython (the one Apache loads at run time).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYO3_PYTHON="${PYO3_PYTHON:-/usr/bin/python3}"
cargo build --release --workspace
