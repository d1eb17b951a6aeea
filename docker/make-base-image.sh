#!/usr/bin/env bash
# Builds the base image authnz-wsgi-base:bookworm without a registry:
# debootstrap a minimal Debian 12 with Apache and the Python runtime into a
# directory under /var/tmp, bring it up to date from bookworm-updates and
# bookworm-security (so its Apache matches the host's, whose headers the
# module is built against), then `docker import` it.
#
# Everything the image needs is installed here, on the host, because a
# container may not reach Debian's mirror during `docker build`.
#
# Skipped when the image already exists; FORCE=1 rebuilds it.
# Environment: BASE_IMAGE (tag), DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR.
set -euo pipefail

IMAGE="${BASE_IMAGE:-authnz-wsgi-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
# apache2 brings the auth_digest and cgid modules; libpython3.11 is the
# library the module links; procps gives `ps` for looking inside.
PACKAGES=apache2,libpython3.11,python3,curl,ca-certificates,procps

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

echo "debootstrap bookworm into $root"
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" "$MIRROR"

cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY_MIRROR bookworm-security main
EOF
# Package scripts must not start services inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -q
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -q
chroot "$root" apt-get clean
umount "$root/proc"
rm -f "$root/usr/sbin/policy-rc.d"
# Package lists are not needed at run time.
rm -rf "$root"/var/lib/apt/lists/*

tar --numeric-owner -C "$root" -c . | docker import - "$IMAGE"
echo "built base image $IMAGE ($(docker run --rm "$IMAGE" apache2 -v | head -n1))"
