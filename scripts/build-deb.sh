#!/usr/bin/env bash
# Builds the Debian package libapache2-mod-authnz-wsgi_<version>_<arch>.deb
# with debhelper (debian/rules) against this machine's Apache and Python:
# the module, its mods-available/authnz_wsgi.{load,conf}, the
# authnz-wsgi-express launcher, the documentation and the example scripts.
# Its Depends name the Apache module ABI (apache2-api-<MMN>, from
# dh_apache2) and the libpython the module links (from dpkg-shlibdeps),
# which is checked here against the installed headers.
#
# Output: $DEB_OUT_DIR (default ${CARGO_TARGET_DIR:-target}/debian); the
# path of the .deb is the last line printed. Runs lintian on it when
# lintian is installed (LINTIAN=0 skips it; a lintian error fails the build).
# Needs: debhelper, dh-apache2 (apache2-dev), dpkg-dev, and the build's
# packages (scripts/install-deps.sh); cargo from rustup or Debian.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
export DEB_OUT_DIR="${DEB_OUT_DIR:-$CARGO_TARGET_DIR/debian}"
export PYO3_PYTHON="${PYO3_PYTHON:-/usr/bin/python3}"

# One version: Cargo.toml's must be the changelog's (a native package).
cargo_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
deb_version=$(dpkg-parsechangelog -S Version)
if [ "$cargo_version" != "$deb_version" ]; then
  echo "build-deb.sh: Cargo.toml says $cargo_version, debian/changelog $deb_version" >&2
  exit 1
fi
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
deb="$DEB_OUT_DIR/libapache2-mod-authnz-wsgi_${deb_version}_${arch}.deb"
rm -f "$deb"

debian/rules clean
debian/rules build
if [ "$(id -u)" = 0 ]; then
  debian/rules binary
else
  fakeroot debian/rules binary
fi
debian/rules clean

# What the package depends on must be what it was built against: the
# module magic number of the installed headers, and the libpython of the
# python3 the build used.
mmn=$(sed -n 's/^HTTPD_MMN = //p' /usr/share/apache2/build/config_vars.mk)
python_version=$("$PYO3_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
depends=$(dpkg-deb -f "$deb" Depends)
for needed in "apache2-api-$mmn" "libpython$python_version"; do
  # A whole package name in the comma-separated list, with or without a version.
  if ! tr ',' '\n' <<<"$depends" | grep -Eq "^ *${needed//./\\.}( |\$)"; then
    echo "build-deb.sh: Depends lacks $needed: $depends" >&2
    exit 1
  fi
done
echo "Depends: $depends"

if [ "${LINTIAN:-1}" != 0 ] && command -v lintian >/dev/null 2>&1; then
  lintian --fail-on error,warning --info "$deb"
fi
echo "$deb"
