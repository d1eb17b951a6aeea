#!/usr/bin/env bash
# Builds a base image without a registry: debootstrap a minimal Debian
# (SUITE: bookworm, the default, is Debian 12 with Python 3.11; trixie is
# Debian 13 with Python 3.13) with Apache and the Python runtime into a
# directory under /var/tmp, bring it up to date from the suite's -updates
# and -security archives (so its Apache matches the one whose headers the
# module is built against), then `docker import` it.
#
# Everything the image needs is installed here, on the host, because a
# container may not reach Debian's mirror (the package tests run containers
# on a network without a way out). Besides the runtime, two sets of .deb
# files are left in the image without being installed, for `apt-get
# install` to take offline:
#   /var/cache/authnz-wsgi/extra  mod_wsgi's package (libapache2-mod-wsgi-py3)
#   /var/cache/authnz-wsgi/build  what building the module and its .deb needs
#                                 (apache2-dev, python3-dev, clang, ...), for
#                                 the releases built in a container (trixie);
#                                 docker/build-in-container.sh installs them.
#
# The tag names the suite and a digest of this script, so an image made by
# an older or newer version of it is never taken for this one:
#   bash docker/make-base-image.sh --tag   prints the tag and exits.
# Skipped when the image already exists; FORCE=1 rebuilds it.
# Environment: SUITE, BASE_IMAGE (tag), DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR.
set -euo pipefail

SUITE="${SUITE:-bookworm}"
# BUILD_SET: whether the image carries the build's .debs. Bookworm's
# module is built on this (Debian 12) machine, so its image does not.
case "$SUITE" in
  bookworm) PYTHON_VERSION=3.11 BUILD_SET=no ;;
  trixie) PYTHON_VERSION=3.13 BUILD_SET=yes ;;
  *) echo "make-base-image.sh: SUITE must be bookworm or trixie, not $SUITE" >&2; exit 2 ;;
esac
digest=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
IMAGE="${BASE_IMAGE:-authnz-wsgi-base:$SUITE-$digest}"
if [ "${1:-}" = --tag ]; then
  echo "$IMAGE"
  exit 0
fi
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
# apache2 brings the auth_digest and cgid modules; libpython3.X is the
# library the module links; procps gives `ps` for looking inside.
PACKAGES="apache2,libpython$PYTHON_VERSION,python3,curl,ca-certificates,procps"
EXTRA_DEBS="libapache2-mod-wsgi-py3"
BUILD_DEBS="apache2-dev python3-dev libclang-dev clang build-essential libcrypt-dev pkg-config
            dpkg-dev debhelper"

image_exists() { docker image inspect "$IMAGE" >/dev/null 2>&1; }

if [ "${FORCE:-0}" != 1 ] && image_exists; then
  echo "base image $IMAGE exists (FORCE=1 rebuilds it)"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "make-base-image.sh: building the base image needs root (debootstrap, chroot, mount)" >&2
  exit 1
fi

# One build at a time on this machine: a second caller waits, then finds
# the image made. The lock file lives in a directory only root can write to:
# in /tmp or /var/tmp anyone could put a link under a fixed name, and root
# would create or truncate whatever file it points at.
LOCK_DIR=/run
if [ -L "$LOCK_DIR" ] || [ ! -d "$LOCK_DIR" ] || [ "$(stat -c %u "$LOCK_DIR")" != 0 ] ||
   [ $((0$(stat -c %a "$LOCK_DIR") & 022)) != 0 ]; then
  echo "make-base-image.sh: $LOCK_DIR is not a directory that only root can write to;" \
       "not taking the build lock there" >&2
  exit 1
fi
exec 9>>"$LOCK_DIR/authnz-wsgi-base-image.lock"
flock 9

if [ "${FORCE:-0}" != 1 ] && image_exists; then
  echo "base image $IMAGE exists (FORCE=1 rebuilds it)"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends debootstrap
fi

root=$(mktemp -d /var/tmp/authnz-wsgi-rootfs.XXXXXX)

# Unmounts whatever is still mounted inside the chroot (debootstrap or we
# may have been interrupted with /proc mounted), deepest first, then
# removes it without ever crossing into another file system.
cleanup() {
  local mounts
  mounts=$(awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts |
           sort -r)
  for m in $mounts; do
    umount -l "$m" || true
  done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT

echo "debootstrap $SUITE into $root"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR"

cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
# Package scripts must not start services inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -q
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -q
chroot "$root" apt-get clean
# Downloaded with their dependencies that are not installed yet, so that
# `apt-get install /var/cache/authnz-wsgi/<set>/*.deb` needs no mirror.
sets=extra
if [ "$BUILD_SET" = yes ]; then sets="extra build"; fi
for set in $sets; do
  if [ "$set" = extra ]; then debs=$EXTRA_DEBS; else debs=$BUILD_DEBS; fi
  mkdir -p "$root/var/cache/authnz-wsgi/$set/partial"
  # shellcheck disable=SC2086 # a list of package names
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --download-only \
    -o Dir::Cache::archives="/var/cache/authnz-wsgi/$set" $debs
  rm -rf "$root/var/cache/authnz-wsgi/$set/partial" "$root/var/cache/authnz-wsgi/$set/lock"
done
umount "$root/proc"
rm -f "$root/usr/sbin/policy-rc.d"
# Package lists are not needed at run time.
rm -rf "$root"/var/lib/apt/lists/*

tar --numeric-owner -C "$root" -c . | docker import - "$IMAGE"
echo "built base image $IMAGE ($(docker run --rm "$IMAGE" apache2 -v | head -n1))"
