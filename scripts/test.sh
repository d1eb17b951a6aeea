#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, checks formatting and
# lints, runs the pure unit tests, then the suite against real Apache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
bash scripts/build.sh
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
cargo test --release --workspace
/usr/bin/python3 -m pytest -v -p no:cacheprovider tests "$@"
