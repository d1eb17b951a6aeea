# Conventional entry points; the scripts do the work.
#   make build     the module (target/release/libmod_authnz_wsgi.so) and the launcher
#   make install   the built module into Apache's module directory (as root)
#   make test      everything: lints, unit tests, the suite against real Apache
#   make image     the container image authnz-wsgi:latest (docker/)
#   make deb       the Debian package libapache2-mod-authnz-wsgi_<version>_<arch>.deb
.PHONY: build install test image deb
build:
	bash scripts/build.sh
install:
	bash scripts/install.sh
test:
	bash scripts/test.sh
image:
	bash docker/build-image.sh
deb:
	bash scripts/build-deb.sh
