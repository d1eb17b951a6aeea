#!/usr/bin/env bash
# The example: installs what is missing (apt-get), builds the module and the
# express launcher, and runs Apache in the foreground on 127.0.0.1:8000 with
# example/site protected by example/auth_user.py (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
# Apache's children run as www-data: serve a copy they can read wherever
# this checkout lives.
site=/var/tmp/authnz-wsgi-example
rm -rf "$site"
mkdir -p "$site"
cp -r example/site example/auth_user.py "$site/"
chmod -R a+rX "$site"
echo
echo "Example site: http://127.0.0.1:8000/  (user: demo, password: demo-password)"
echo "Try: curl -u demo:demo-password http://127.0.0.1:8000/"
echo
exec target/release/authnz-wsgi-express start-server \
    --port 8000 \
    --document-root "$site/site" \
    --auth-user-script "$site/auth_user.py" \
    --auth-realm "mod_authnz_wsgi example" \
    --log-to-terminal
