#!/usr/bin/env bash
# Installs the module the Apache way: the .so into `apxs -q LIBEXECDIR`
# (/usr/lib/apache2/modules without apxs) as mod_authnz_wsgi.so and, on
# Debian (where /etc/apache2/mods-available exists), the
# mods-available/authnz_wsgi.{load,conf} files so `a2enmod authnz_wsgi`
# enables it. Nothing is enabled or restarted here.
# Usage: scripts/install.sh [path/to/libmod_authnz_wsgi.so]
# (default target/release/libmod_authnz_wsgi.so); DESTDIR is honoured.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
so="${1:-$repo/target/release/libmod_authnz_wsgi.so}"
[ -f "$so" ] || { echo "install.sh: $so not found; run scripts/build.sh first" >&2; exit 1; }

if command -v apxs >/dev/null 2>&1; then
  libexec=$(apxs -q LIBEXECDIR)
else
  libexec=/usr/lib/apache2/modules
fi
dest="${DESTDIR:-}"

install -d "$dest$libexec"
install -m 0644 "$so" "$dest$libexec/mod_authnz_wsgi.so"
echo "installed $dest$libexec/mod_authnz_wsgi.so"

if [ -d /etc/apache2/mods-available ] || [ -d "$dest/etc/apache2/mods-available" ]; then
  avail="$dest/etc/apache2/mods-available"
  install -d "$avail"
  # The .load names the module where it was installed (without DESTDIR).
  sed "s#/usr/lib/apache2/modules/#$libexec/#" "$repo/install/debian/authnz_wsgi.load" \
    >"$avail/authnz_wsgi.load"
  chmod 0644 "$avail/authnz_wsgi.load"
  install -m 0644 "$repo/install/debian/authnz_wsgi.conf" "$avail/authnz_wsgi.conf"
  echo "wrote $avail/authnz_wsgi.load and authnz_wsgi.conf; enable with: a2enmod authnz_wsgi"
fi
