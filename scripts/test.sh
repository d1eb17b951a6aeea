#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, checks formatting and
# lints, runs the pure unit tests, then the suite against real Apache.
set -euo pipefail
cd "$(dirname "$0")/.."
# Beyond the build's packages the tests need mod_wsgi (hosting applications
# beside this module), mod_python (which must be refused), memcached and
# redis-server (shared cache tests), debootstrap (the container base images),
# wrk (load tests), and debhelper, fakeroot and lintian (the Debian package,
# scripts/build-deb.sh); install-deps.sh runs apt-get update and apt-get
# install for whatever is missing.
bash scripts/install-deps.sh libapache2-mod-wsgi-py3 libapache2-mod-python memcached redis-server \
  debootstrap wrk debhelper fakeroot lintian
bash scripts/build.sh
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
cargo test --release --workspace
/usr/bin/python3 -m pytest -v -p no:cacheprovider tests "$@"
