#!/usr/bin/env bash
# Load, soak and fault run against real Apache servers on 127.0.0.1, then a
# memory-leak check (bench/soak/soak.py has the details). Defaults: under
# the event, worker and prefork MPMs, 200,000 mixed requests at 64
# connections with MaxConnectionsPerChild 2000 (prefork: 100), then the
# graceful, restart, reload, raise and hang phases, then 100,000 requests
# between two memory snapshots per MPM. Exits 1 when any request failed or
# got an unexpected status, a child crashed, or a child's RSS grew 10% or
# more after warm-up. Takes a few minutes.
#
#   bash scripts/soak.sh
#   bash scripts/soak.sh --mpms event --requests 50000 --leak-requests 0
#   bash scripts/soak.sh --json target/soak.json   # the full report
#   bash scripts/soak.sh --daemon --mpms event --requests 100000 --leak-requests 0
#       # every script in a WSGIAuthDaemonProcess group (processes=2)
#   bash scripts/soak.sh --help
#
# Run as root (Apache's children run as www-data). Builds the module first
# when target/release/libmod_authnz_wsgi.so is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f target/release/libmod_authnz_wsgi.so ] && [ -z "${AUTHNZ_WSGI_SO:-}" ]; then
    bash scripts/build.sh
fi
exec /usr/bin/python3 bench/soak/soak.py "$@"
