#!/usr/bin/env bash
# The example: installs what is missing (apt-get), builds the module and the
# express launcher, and runs Apache in the foreground on 127.0.0.1:8000 with
# example/site protected by example/auth_user.py (Ctrl-C stops it).
# Environment: AUTHNZ_WSGI_EXAMPLE_PORT (default 8000), TMPDIR (where the
# server's private directory is made, default /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${AUTHNZ_WSGI_EXAMPLE_PORT:-8000}"
bash scripts/install-deps.sh
bash scripts/build.sh

# Everything the server uses (a copy of the site and script that Apache's
# children, running as www-data, can read wherever this checkout lives; the
# configuration; the pid file) goes into a directory of its own. mktemp
# makes it under a fresh name with mode 0700, so it is never a file or link
# someone else put in the shared temporary directory; it is opened for
# reading (0755, still writable by us only) once it is ours, and removed
# when the server stops.
work=$(mktemp -d "${TMPDIR:-/tmp}/authnz-wsgi-example.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
chmod 0755 "$work"
cp -r example/site example/auth_user.py "$work/"
chmod -R a+rX "$work/site" "$work/auth_user.py"

echo
echo "Example site: http://127.0.0.1:$port/  (user: demo, password: demo-password)"
echo "Try: curl -u demo:demo-password http://127.0.0.1:$port/"
echo
target/release/authnz-wsgi-express start-server \
    --port "$port" \
    --server-root "$work/server" \
    --document-root "$work/site" \
    --auth-user-script "$work/auth_user.py" \
    --auth-realm "mod_authnz_wsgi example" \
    --log-to-terminal
