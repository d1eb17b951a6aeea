"""What the container tests share (test_container.py, test_deb.py): the
docker command, the rule that CI must not skip them, and the images and
builds of each Debian release, made once per test run.

Releases: bookworm (Debian 12, Python 3.11), where the module is built on
this machine, and trixie (Debian 13, Python 3.13), where it is built inside
a container of that release (docker/build-in-container.sh) from the same
source. Base images come from docker/make-base-image.sh (debootstrap and
`docker import`, no registry)."""

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULE_SO = Path(os.environ.get("AUTHNZ_WSGI_SO", ROOT / "target/release/libmod_authnz_wsgi.so"))
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
PYTHON_VERSIONS = {"bookworm": "3.11", "trixie": "3.13"}
HOST_SUITE = "bookworm"


def docker(*args, check=True, timeout=300, input=None):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=timeout, input=input)


def remove_labelled(label, network):
    """Remove every container carrying `label` (whatever a failed test left
    running), then `network`."""
    leftovers = docker("ps", "-aq", "--filter", f"label={label}", check=False).stdout.split()
    if leftovers:
        docker("rm", "-f", *leftovers, check=False)
    docker("network", "rm", network, check=False)


def ci_is_set():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_docker():
    try:
        answers = docker("info", check=False, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        answers = False
    if not answers:
        message = "no Docker engine answers (`docker info` failed)"
        if ci_is_set():
            pytest.fail(message + "; CI must run the container tests", pytrace=False)
        pytest.skip(message)


def _run(argv, env=None, timeout=2400):
    run = subprocess.run(argv, env=dict(os.environ, **(env or {})), capture_output=True,
                         text=True, timeout=timeout, cwd=ROOT)
    assert run.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{run.stdout}{run.stderr}"
    return run.stdout


@functools.cache
def base_image(suite):
    """The suite's base image, made when missing; its tag."""
    _run(["bash", str(ROOT / "docker/make-base-image.sh")], env={"SUITE": suite})
    return _run(["bash", str(ROOT / "docker/make-base-image.sh"), "--tag"],
                env={"SUITE": suite}).strip()


@functools.cache
def _container_build(suite):
    """docker/build-in-container.sh for a release other than this
    machine's: (module .so, .deb)."""
    out = TARGET_DIR / suite
    deb = _run(["bash", str(ROOT / "docker/build-in-container.sh")],
               env={"SUITE": suite, "OUT_DIR": str(out)}).strip().splitlines()[-1]
    return out / "target/release/libmod_authnz_wsgi.so", Path(deb)


@functools.cache
def module_so(suite):
    """The module built for the suite's Apache and Python."""
    if suite == HOST_SUITE:
        if not MODULE_SO.is_file():
            _run(["bash", str(ROOT / "scripts/build.sh")])
        return MODULE_SO
    return _container_build(suite)[0]


@functools.cache
def deb_package(suite):
    """libapache2-mod-authnz-wsgi_<version>_<arch>.deb built for the suite
    (on this machine with scripts/build-deb.sh, which also runs lintian, or
    in a container of the release)."""
    if suite != HOST_SUITE:
        return _container_build(suite)[1]
    out = Path(tempfile.mkdtemp(prefix="authnz-wsgi-deb-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    deb = _run(["bash", str(ROOT / "scripts/build-deb.sh")],
               env={"DEB_OUT_DIR": str(out)}).strip().splitlines()[-1]
    return Path(deb)
