#!/usr/bin/env bash
# The Debian packages the test suite needs beyond the build: mod_wsgi (only to
# prove the two modules refuse to load together), memcached (shared cache
# test), debootstrap (the container base image) and wrk (load tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh libapache2-mod-wsgi-py3 memcached debootstrap wrk
