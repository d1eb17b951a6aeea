#!/usr/bin/env bash
# Throughput benchmark (not part of the test run; about 30 minutes on 2 cores).
# Builds the module, measures what apr_password_validate costs for each salted
# hash scheme mod_authn_socache could be given (bench/hashcost.c) and what one
# request-and-reply over a Unix socket costs (bench/roundtrip.c), then runs
# bench/benchmark.py: wrk over loopback against no auth, mod_authn_file (also
# answered from mod_authn_socache), Debian's mod_wsgi and this module
# uncached / WSGIAuthCacheTimeout / socache / in daemon processes, for a
# trivial check, Digest, a PBKDF2 check and a check that holds the GIL for
# 5 ms (embedded against two daemon processes). Run as root (Apache switches
# to www-data). Options are passed on to bench/benchmark.py, e.g.
#   bash scripts/benchmark.sh --rounds 7 --seconds 8 --pairs-reps 10
#   bash scripts/benchmark.sh --only digest
#   bash scripts/benchmark.sh --only daemon    # daemon mode and its pairs
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v gcc >/dev/null || missing+=(gcc)
[ -e /usr/lib/apache2/modules/mod_wsgi.so ] || missing+=(libapache2-mod-wsgi-py3)
[ -e /usr/include/crypt.h ] || missing+=(libcrypt-dev)
if [ ${#missing[@]} -gt 0 ]; then
    echo "benchmark needs: apt-get install ${missing[*]}" >&2
    exit 1
fi
bash scripts/build.sh
mkdir -p target/bench
gcc -O2 -o target/bench/hashcost bench/hashcost.c $(apr-1-config --includes) \
    -laprutil-1 -lapr-1 -lcrypt
gcc -O2 -o target/bench/roundtrip bench/roundtrip.c
echo "== apr_password_validate cost per salted scheme (one core)"
target/bench/hashcost
echo
echo "== the floor under a daemon call: one request and reply between two processes"
target/bench/roundtrip
echo
echo "== load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 bench/benchmark.py "$@"
echo "== load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
