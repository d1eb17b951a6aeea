"""The project's shell scripts run as root. None of them may use a fixed
name in a directory everybody can write to (/tmp, /var/tmp, /dev/shm,
/run/lock): anyone could put a symbolic link there first, and root would
then create, truncate, delete, copy into or chmod whatever it points at.

Checked two ways: no script names such a path except as a `mktemp`
template, and the two scripts that did are run for real with a link
planted at their old fixed names (in a mount namespace of the test's own,
with a private /var/tmp, so nothing outside the test sees the links), and
must leave the link and what it points at alone."""

import base64
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from harness import ROOT, free_port

SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock")
FIXED_SHARED_PATH = re.compile(r"(?<![\w.$/])(" + "|".join(map(re.escape, SHARED_DIRS)) + r")(?![\w-])")


def shell_scripts():
    """Every file of the repository that is a shell script (by name or by
    its #! line), as paths relative to the root."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    scripts = []
    for name in filter(None, files):
        path = ROOT / name
        if not path.is_file():
            continue
        with open(path, "rb") as f:
            first = f.readline(200)
        if name.endswith(".sh") or re.match(rb"#!\s*\S*(/env\s+)?\S*\b(ba|da)?sh\b", first):
            scripts.append(name)
    return sorted(scripts)


def fixed_shared_paths(text):
    """(line number, line) for each use of a fixed path in a shared
    directory, outside comments; a `mktemp` template (a name ending in
    XXXXXX) is not fixed."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        code = line.strip()
        if not code or code.startswith("#"):
            continue
        for match in FIXED_SHARED_PATH.finditer(code):
            token = re.match(r"[^\s\"')]*", code[match.start():]).group(0)
            if "mktemp" in code and token.endswith("XXXXXX"):
                continue
            found.append((number, line))
    return found


def test_the_check_finds_fixed_paths():
    assert fixed_shared_paths('site=/var/tmp/authnz-wsgi-example\nrm -rf "$site"\n') \
        == [(1, "site=/var/tmp/authnz-wsgi-example")]
    assert fixed_shared_paths("exec 9>/var/tmp/x.lock\n") == [(1, "exec 9>/var/tmp/x.lock")]
    assert len(fixed_shared_paths('cp a "/tmp/b"\nls /dev/shm\nx=/run/lock/apache2\n')) == 3
    assert fixed_shared_paths('d=$(mktemp -d /var/tmp/name.XXXXXX)\n'
                              'd=$(mktemp -d "${TMPDIR:-/tmp}/name.XXXXXX")\n'
                              '# a comment about /tmp\n'
                              'x="$HOME/tmp/y" y=/srv/var/tmp/z\n') == []


def test_there_are_scripts_to_check():
    scripts = shell_scripts()
    assert {"scripts/run-example.sh", "docker/make-base-image.sh", "docker/apache2-foreground",
            ".ci/run"} <= set(scripts), scripts


@pytest.mark.parametrize("name", shell_scripts())
def test_no_script_uses_a_fixed_name_in_a_shared_directory(name):
    assert fixed_shared_paths((ROOT / name).read_text()) == []


@pytest.mark.parametrize("name", [n for n in shell_scripts() if not n.endswith(".cgi")])
def test_every_script_stops_on_errors(name):
    assert re.search(r"^set -euo pipefail$", (ROOT / name).read_text(), re.M), name


def in_private_var_tmp(setup, command):
    """Run `command` (a shell command line) as root in a mount namespace of
    its own whose /var/tmp is an empty tmpfs (mode 1777, as usual), after the
    shell command `setup` ran there."""
    script = (f"mount -t tmpfs -o mode=1777 tmpfs /var/tmp && {setup} && exec {command}")
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]


def make_canary_dir():
    """A directory with one file, outside the namespace's /var/tmp; the
    planted links point at it."""
    canary = Path(tempfile.mkdtemp(prefix="authnz-wsgi-canary-"))
    (canary / "keep").write_text("canary\n")
    os.chmod(canary, 0o700)
    return canary


def canary_state(canary):
    return (oct(canary.stat().st_mode), sorted(p.name for p in canary.iterdir()),
            (canary / "keep").read_text(), oct((canary / "keep").stat().st_mode))


def test_base_image_script_leaves_a_link_at_the_old_lock_name_alone():
    """docker/make-base-image.sh took its build lock by opening
    /var/tmp/authnz-wsgi-base-image.lock for writing, which truncates the
    file a link there points at. Run it for an image that does not exist,
    with the Debian mirror pointed at a closed port on 127.0.0.1, so it
    goes past the lock and stops at debootstrap's first download."""
    canary = make_canary_dir()
    target = canary / "keep"
    try:
        before = canary_state(canary)
        link = "/var/tmp/authnz-wsgi-base-image.lock"
        env = dict(os.environ, BASE_IMAGE=f"authnz-wsgi-base:absent-{uuid.uuid4().hex[:8]}",
                   DEBIAN_MIRROR="http://127.0.0.1:9/debian",
                   DEBIAN_SECURITY_MIRROR="http://127.0.0.1:9/debian-security")
        # The shell that runs the script reports the link as it finds it afterwards.
        command = (f"sh -c 'bash {ROOT}/docker/make-base-image.sh; echo rc=$?; "
                   f"readlink {link}; ls -A /var/tmp'")
        run = subprocess.run(in_private_var_tmp(f"ln -s {target} {link}", command),
                             env=env, capture_output=True, text=True, timeout=300)
        output = run.stdout + run.stderr
        # It got past the lock to debootstrap, in a fresh directory of its own.
        assert re.search(r"debootstrap bookworm into /var/tmp/authnz-wsgi-rootfs\.\w{6}\n",
                         output), output
        assert "Failed getting release file http://127.0.0.1:9/debian/" in output, output
        assert "rc=1\n" in run.stdout, output
        # The link is where it was, pointing where it did; the rootfs is gone.
        assert run.stdout.endswith(f"{target}\nauthnz-wsgi-base-image.lock\n"), output
        assert canary_state(canary) == before
    finally:
        subprocess.run(["rm", "-rf", "--", str(canary)], check=True)


def test_base_image_script_takes_its_lock_only_where_root_alone_writes():
    """With a /run that everybody may write to (a tmpfs of mode 1777 in the
    namespace; it also hides the Docker socket, so the image looks absent),
    the script refuses to take the lock there."""
    command = f"bash {ROOT}/docker/make-base-image.sh"
    argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            f"mount -t tmpfs -o mode=1777 tmpfs /run && exec {command}"]
    env = dict(os.environ, BASE_IMAGE=f"authnz-wsgi-base:absent-{uuid.uuid4().hex[:8]}",
               DEBIAN_MIRROR="http://127.0.0.1:9/debian")
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stderr == ("make-base-image.sh: /run is not a directory that only root can write "
                          "to; not taking the build lock there\n"), run.stderr
    assert "debootstrap" not in run.stdout


def test_base_image_script_needs_root_to_build():
    run = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         "bash", str(ROOT / "docker/make-base-image.sh")],
        env=dict(os.environ, BASE_IMAGE=f"authnz-wsgi-base:absent-{uuid.uuid4().hex[:8]}"),
        capture_output=True, text=True, timeout=120, cwd="/")
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stderr.endswith(
        "make-base-image.sh: building the base image needs root (debootstrap, chroot, mount)\n")
    assert "debootstrap bookworm" not in run.stdout


class Output:
    """Collects the lines a process writes, in a thread."""

    def __init__(self, stream):
        self.lines = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line)

    def text(self):
        return "".join(self.lines)

    def wait_for(self, pattern, proc, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text())
            if found:
                return found
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} in the output:\n{self.text()[-4000:]}")


def get(url, user=None, password=None):
    request = urllib.request.Request(url)
    if user:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_run_example_uses_a_private_directory_and_leaves_a_link_at_the_old_name_alone():
    """scripts/run-example.sh ran `rm -rf`, `mkdir -p`, `cp -r` and
    `chmod -R a+rX` on /var/tmp/authnz-wsgi-example. With a link planted
    there, the example must still start, serve the site from a directory of
    its own, never touch the link or what it points at, and remove its
    directory when stopped with Ctrl-C (SIGINT to its process group)."""
    canary = make_canary_dir()
    tmpdir = Path(tempfile.mkdtemp(prefix="authnz-wsgi-run-example-"))
    os.chmod(tmpdir, 0o755)  # the children (www-data) reach the site through it
    port = free_port()
    link = "/var/tmp/authnz-wsgi-example"
    proc = subprocess.Popen(
        in_private_var_tmp(f"ln -s {canary} {link}", f"bash {ROOT}/scripts/run-example.sh"),
        env=dict(os.environ, AUTHNZ_WSGI_EXAMPLE_PORT=str(port), TMPDIR=str(tmpdir)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = Output(proc.stdout)
    try:
        before = canary_state(canary)
        url = output.wait_for(r"Example site: (http://127\.0\.0\.1:(\d+)/)", proc, 900)
        # The planted link and what it points at are as they were (seen
        # through the namespace's own /var/tmp).
        assert os.readlink(f"/proc/{proc.pid}/root{link}") == str(canary)
        assert canary_state(canary) == before
        assert int(url.group(2)) == port
        docroot = Path(output.wait_for(r"Document Root\s*: (\S+)\n", proc, 120).group(1))
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, output.text()
                time.sleep(0.2)

        status, _ = get(url.group(1))
        assert status == 401
        status, body = get(url.group(1), "demo", "demo-password")
        assert status == 200 and b"a Python function let you through" in body
        output.wait_for(r'127\.0\.0\.1 - demo \[[^\]]+\] "GET / HTTP/1\.1" 200 ', proc, 10)

        # The site is served from a fresh directory under TMPDIR that only
        # root can write to.
        work = docroot.parent
        assert work.parent == tmpdir and re.fullmatch(r"authnz-wsgi-example\.\w{6}", work.name)
        info = work.lstat()
        assert info.st_uid == 0 and info.st_mode & 0o7777 == 0o755
        assert os.readlink(f"/proc/{proc.pid}/root{link}") == str(canary)
        assert canary_state(canary) == before

        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0, output.text()
        assert list(tmpdir.iterdir()) == []
        assert canary_state(canary) == before
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        subprocess.run(["rm", "-rf", "--", str(canary), str(tmpdir)], check=True)


def test_the_django_venv_is_kept_where_nobody_else_writes():
    """The suite keeps a virtualenv with Django between runs and runs its
    Python as root: every directory above it belongs to root and is
    writable by nobody else."""
    from test_django import django_venv

    path = django_venv()
    while True:
        info = path.lstat()
        assert info.st_uid == 0 and not info.st_mode & 0o022, (path, oct(info.st_mode))
        if path == path.parent:
            break
        path = path.parent
