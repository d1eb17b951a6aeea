#!/usr/bin/env bash
# Builds the module and its Debian package inside a container of another
# Debian release (SUITE, default trixie), against that release's Apache
# headers and Python, from this same source tree.
#
# The build image is the suite's base image (docker/make-base-image.sh)
# with one layer more: the build's packages (apache2-dev, python3-dev,
# clang, debhelper, ...), installed from the .debs the base image carries,
# so that neither this nor the build itself needs a mirror (the container
# runs without a network). Rust comes from this machine's toolchain (the
# sysroot of its rustc, e.g. a rustup toolchain; RUST_SYSROOT), mounted
# read-only, and the crates from its cargo registry (CARGO_HOME), also
# read-only: the build is offline.
#
# Output, under OUT_DIR (default ${CARGO_TARGET_DIR:-target}/$SUITE):
#   target/release/libmod_authnz_wsgi.so, target/release/authnz-wsgi-express
#   debian/libapache2-mod-authnz-wsgi_<version>_<arch>.deb
# cargo's target directory is kept there, so a second build is incremental.
# The last line printed is the path of the .deb.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
SUITE="${SUITE:-trixie}"
export SUITE
OUT_DIR="${OUT_DIR:-${CARGO_TARGET_DIR:-$repo/target}/$SUITE}"
CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
# The toolchain this machine's rustc belongs to (a rustup toolchain
# directory holds rustc, cargo and the standard library together).
RUST_SYSROOT="${RUST_SYSROOT:-$(rustc --print sysroot)}"

[ -x "$RUST_SYSROOT/bin/cargo" ] && [ -x "$RUST_SYSROOT/bin/rustc" ] ||
  { echo "build-in-container.sh: no cargo and rustc in $RUST_SYSROOT/bin" >&2; exit 1; }
[ -d "$CARGO_HOME/registry" ] ||
  { echo "build-in-container.sh: no cargo registry in $CARGO_HOME (run cargo fetch)" >&2; exit 1; }

bash docker/make-base-image.sh
base=$(bash docker/make-base-image.sh --tag)
docker run --rm --network none "$base" test -d /var/cache/authnz-wsgi/build ||
  { echo "build-in-container.sh: $base carries no build packages (see make-base-image.sh)" >&2
    exit 1; }
build_image="authnz-wsgi-build:${base#*:}"
if ! docker image inspect "$build_image" >/dev/null 2>&1; then
  docker build -q --network none -t "$build_image" - <<DOCKERFILE
FROM $base
RUN DEBIAN_FRONTEND=noninteractive apt-get install -y -q /var/cache/authnz-wsgi/build/*.deb \
    && rm -rf /var/cache/authnz-wsgi/build
DOCKERFILE
fi

mkdir -p "$OUT_DIR"
# The source goes in as a tar of the files git knows (tracked, or new and
# not ignored), so no build output of this machine's release comes along.
git ls-files -z -c -o --exclude-standard |
  tar --null -T - -c |
  docker run --rm -i --network none \
    -v "$OUT_DIR:/out" \
    -v "$RUST_SYSROOT:/opt/rust:ro" \
    -v "$CARGO_HOME/registry:/opt/cargo/registry:ro" \
    -e CARGO_HOME=/opt/cargo -e CARGO_NET_OFFLINE=true \
    -e CARGO_TARGET_DIR=/out/target -e DEB_OUT_DIR=/out/debian -e LINTIAN=0 \
    -e PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    "$build_image" \
    sh -c 'set -e; mkdir -p /build && cd /build && tar -x && bash scripts/build-deb.sh'
ls "$OUT_DIR"/debian/libapache2-mod-authnz-wsgi_*.deb | tail -n 1
