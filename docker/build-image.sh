#!/usr/bin/env bash
# Builds the runtime image (default tag authnz-wsgi:latest): the module is
# built on this machine with scripts/build.sh (or taken from MODULE_SO), the
# base image is made without a registry (make-base-image.sh, skipped when it
# exists), and a small build context gets only what the image needs.
# Environment: IMAGE (tag), MODULE_SO (a built .so; skips the build),
# SUITE (bookworm or trixie; MODULE_SO must then be built for it, see
# docker/build-in-container.sh), BASE_IMAGE, FORCE=1 (rebuild the base image
# too).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${IMAGE:-authnz-wsgi:latest}"
BASE_IMAGE="${BASE_IMAGE:-$(bash docker/make-base-image.sh --tag)}"
export BASE_IMAGE

so="${MODULE_SO:-target/release/libmod_authnz_wsgi.so}"
if [ -z "${MODULE_SO:-}" ]; then
  bash scripts/build.sh
fi
[ -f "$so" ] || { echo "build-image.sh: $so not found" >&2; exit 1; }

bash docker/make-base-image.sh

# The module is built against this machine's httpd headers: say so when the
# image's Apache is a different release (FORCE=1 brings the base up to date).
# (Only for this machine's own release: another release's module is built
# in a container of that release, docker/build-in-container.sh.)
host_apache=""
if [ "${SUITE:-bookworm}" = "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" ]; then
  host_apache=$(dpkg-query -W -f='${Version}' apache2-dev 2>/dev/null || true)
fi
image_apache=$(docker run --rm "$BASE_IMAGE" dpkg-query -W -f='${Version}' apache2)
if [ -n "$host_apache" ] && [ "$host_apache" != "$image_apache" ]; then
  echo "warning: module built against apache2-dev $host_apache, image has apache2" \
       "$image_apache; FORCE=1 $0 rebuilds the base image" >&2
fi

context=$(mktemp -d /var/tmp/authnz-wsgi-context.XXXXXX)
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/install" "$context/example" "$context/docker" "$context/scripts"
cp "$so" "$context/mod_authnz_wsgi.so"
cp -r install/debian "$context/install/"
cp scripts/install.sh "$context/scripts/"
cp -r example/site "$context/example/"
cp -r docker/site docker/apache2-foreground "$context/docker/"
cp docker/Dockerfile "$context/Dockerfile"

previous=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
docker build -q --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$context"
current=$(docker image inspect -f '{{.Id}}' "$IMAGE")
# The image this tag named before is now unnamed: remove it unless a
# container still uses it.
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  docker rmi "$previous" >/dev/null 2>&1 || true
fi
echo "built image $IMAGE"
