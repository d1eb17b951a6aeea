#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, checks formatting and
# lints, runs the pure unit tests, then the suite against real Apache.
set -euo pipefail
cd "$(dirname "$0")/.."
# Beyond the build's packages the tests need mod_wsgi (hosting applications
# beside this module), mod_python (which must be refused), memcached (shared
# cache test), debootstrap (the container base image) and wrk (load tests);
# install-deps.sh runs apt-get update and apt-get install for whatever is
# missing.
bash scripts/install-deps.sh libapache2-mod-wsgi-py3 libapache2-mod-python memcached debootstrap wrk
bash scripts/build.sh
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
cargo test --release --workspace
/usr/bin/python3 -m pytest -v -p no:cacheprovider tests "$@"
