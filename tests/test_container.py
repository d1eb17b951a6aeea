"""Apache with mod_authnz_wsgi inside a container, checked from the host.

The images come from docker/build-image.sh, under tags of this run's own
(removed at the end): a debootstrapped Debian base (no registry is needed),
the module installed by scripts/install.sh and enabled the Debian way
(`a2enmod authnz_wsgi`), the example site of docker/site/ and example/site/.
Two releases: Debian 12 (bookworm, the module built on this machine) and
Debian 13 (trixie, Python 3.13, the module built inside a trixie container by
docker/build-in-container.sh from the same source; tests/containers.py). Each
container runs on a private Docker network and is reached at its own address,
with passwords for the demo users drawn at random here (the image has none of
its own and refuses to start without one). Every server test runs against a
bookworm event-MPM, a bookworm prefork-MPM and a trixie event-MPM container
(prefork is run on bookworm only, to keep CI time down): Basic, Digest, a
group location, identity reflection, the demo CGI reachable nowhere else, and
`apachectl -k graceful` under light load without a failed request. Every
answer is checked against what Apache logged, read as a container's user
reads it: `docker logs` (the error log on stderr, the access log on stdout;
nothing is written to files inside the container). The tests of the image's
start-up script (no password, the lock directory) run on bookworm only: the
script is the same on both.

When no Docker engine answers the tests skip, except when the CI variable is
set: there they fail, because CI must run them.
"""

import base64
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from containers import (PYTHON_VERSIONS, base_image, docker, module_so, remove_labelled,
                        require_docker)

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = uuid.uuid4().hex[:8]
# Tags of this run's own: runs from other checkouts on the same engine
# build and remove theirs.
IMAGES = {suite: f"authnz-wsgi:test-{RUN_ID}-{suite}" for suite in PYTHON_VERSIONS}
IMAGE = IMAGES["bookworm"]
# The image has no demo passwords: a container is given them at start.
DEMO_PASSWORD = secrets.token_urlsafe(18)
GUEST_PASSWORD = secrets.token_urlsafe(18)
PASSWORD_ENV = {"AUTHNZ_WSGI_DEMO_PASSWORD": DEMO_PASSWORD,
                "AUTHNZ_WSGI_GUEST_PASSWORD": GUEST_PASSWORD}
# Every container and the network of this run carry this label, so teardown
# removes exactly what this run started, whatever failed on the way.
LABEL = f"authnz-wsgi-test={RUN_ID}"
NETWORK = f"authnz-wsgi-test-{RUN_ID}"
# Where Debian's Apache would log: nothing may be written there.
LOG_FILES = ("/var/log/apache2/error.log", "/var/log/apache2/access.log",
             "/var/log/apache2/other_vhosts_access.log")
FOREGROUND = "/usr/local/bin/apache2-foreground"
MPM_SWITCH = {
    "event": None,  # the image's default
    "prefork": "a2dismod -q -f mpm_event && a2enmod -q mpm_prefork",
}


@dataclass(frozen=True)
class Case:
    """One request to the example site and what Apache must make of it."""

    path: str
    auth: str | None  # None, "basic" or "digest"
    user: str | None
    password: str | None
    status: int
    logged_user: str  # %u in the access log
    error: str | None = None  # the error log line it causes, if any


# The example site's protected locations (docker/site/authnz-wsgi-example.conf).
# A new location there needs only new rows here.
CASES = [
    Case("/basic/index.html", "basic", "demo", DEMO_PASSWORD, 200, "demo"),
    Case("/basic/index.html", "basic", "demo", "wrong", 401, "demo",
         'AH01617: user demo: authentication failure for "/basic/index.html": Password Mismatch'),
    Case("/basic/index.html", "basic", "nobody", "x", 401, "nobody",
         "AH01618: user nobody not found: /basic/index.html"),
    Case("/basic/index.html", None, None, None, 401, "-"),
    # The image has no password of its own: the one earlier images had is refused.
    Case("/basic/index.html", "basic", "demo", "demo-password", 401, "demo",
         'AH01617: user demo: authentication failure for "/basic/index.html": Password Mismatch'),
    Case("/digest/index.html", "digest", "demo", DEMO_PASSWORD, 200, "demo"),
    Case("/digest/index.html", "digest", "demo", "wrong", 401, "demo",
         "AH01794: user demo: password mismatch: /digest/index.html"),
    Case("/digest/index.html", "digest", "nobody", "x", 401, "nobody",
         "AH01790: user `nobody' in realm `authnz_wsgi digest' not found: /digest/index.html"),
    Case("/staff/index.html", "basic", "demo", DEMO_PASSWORD, 200, "demo"),
    Case("/staff/index.html", "basic", "guest", GUEST_PASSWORD, 403, "guest",
         'AH01631: user guest: authorization failure for "/staff/index.html"'),
]


def build_image(suite):
    """docker/build-image.sh for the suite, with the module built for it
    (for bookworm the one the rest of the suite tests)."""
    env = dict(os.environ, IMAGE=IMAGES[suite], SUITE=suite, MODULE_SO=str(module_so(suite)),
               BASE_IMAGE=base_image(suite))
    build = subprocess.run(["bash", str(ROOT / "docker/build-image.sh")], env=env,
                           capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, f"docker/build-image.sh failed:\n{build.stdout}{build.stderr}"


@pytest.fixture(scope="module")
def network():
    require_docker()
    try:
        build_image("bookworm")
        docker("network", "create", "--label", LABEL, NETWORK)
        yield NETWORK
    finally:
        remove_labelled(LABEL, NETWORK)
        for image in IMAGES.values():
            docker("rmi", image, check=False)


BUILT = {"bookworm"}


def image_for(suite):
    """The suite's image, built on first use (bookworm with the network)."""
    if suite not in BUILT:
        build_image(suite)
        BUILT.add(suite)
    return IMAGES[suite]


class Container:
    """Apache from the image, in the foreground as the container's PID 1."""

    def __init__(self, network, mpm="event", suite="bookworm"):
        self.suite = suite
        self.name = f"authnz-wsgi-test-{RUN_ID}-{uuid.uuid4().hex[:6]}"
        command = [FOREGROUND]
        if MPM_SWITCH[mpm]:
            command = ["sh", "-c", f"{MPM_SWITCH[mpm]} && exec {FOREGROUND}"]
        env = [arg for name, value in PASSWORD_ENV.items() for arg in ("-e", f"{name}={value}")]
        docker("run", "-d", "--name", self.name, "--label", LABEL, "--network", network,
               *env, image_for(suite), *command)
        self._find_and_wait()

    def _find_and_wait(self):
        self.ip = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                         self.name).stdout.strip()
        self._wait_listening()

    def restart(self):
        """`docker restart`: the same container (its files kept) starts anew."""
        docker("restart", self.name)
        self._find_and_wait()

    def _wait_listening(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.ip, 80), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        output = docker("logs", self.name, check=False)
        raise AssertionError("Apache in the container does not listen:\n"
                             + output.stdout + output.stderr)

    def url(self, path):
        return f"http://{self.ip}{path}"

    def exec(self, *args, user=None):
        return docker("exec", *(["-u", user] if user else []), self.name, *args, check=False)

    def read(self, path):
        return self.exec("cat", path).stdout

    def error_log(self):
        """What Apache wrote to the container's stderr (`docker logs`)."""
        return docker("logs", self.name).stderr

    def access_log(self):
        """The access log lines of the container's stdout (`docker logs`),
        LogFormat "%>s|%u|%m|%U%q" (the prefork container's command prints
        a2enmod's own lines there first)."""
        lines = docker("logs", self.name).stdout.splitlines(keepends=True)
        return "".join(l for l in lines if re.match(r"\d{3}\|[^|]*\|[A-Z]+\|", l))

    def access_entries(self, uri):
        """Access log entries for one URI (path and query), oldest first."""
        entries = []
        for line in self.access_log().splitlines():
            status, user, method, logged_uri = line.split("|", 3)
            if logged_uri == uri:
                entries.append({"status": status, "user": user, "method": method})
        return entries

    def wait_access_entries(self, uri, count=1, timeout=10):
        """Apache logs a request after answering it: wait for the entries."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.access_entries(uri)
            if len(entries) >= count or time.monotonic() > deadline:
                return entries
            time.sleep(0.1)

    def wait_access_entries_ending(self, suffix, timeout=10):
        """Access log entries whose URI (as logged: path and query) ends with
        `suffix`, once there is one."""
        deadline = time.monotonic() + timeout
        while True:
            entries = []
            for line in self.access_log().splitlines():
                status, user, method, logged_uri = line.split("|", 3)
                if logged_uri.endswith(suffix):
                    entries.append({"status": status, "user": user, "method": method})
            if entries or time.monotonic() > deadline:
                return entries
            time.sleep(0.1)

    def remove(self):
        docker("rm", "-f", self.name, check=False)


@pytest.fixture(scope="module", params=[("bookworm", "event"), ("bookworm", "prefork"),
                                        ("trixie", "event")],
                ids=["bookworm-event", "bookworm-prefork", "trixie-event"])
def server(request, network):
    suite, mpm = request.param
    container = Container(network, mpm=mpm, suite=suite)
    container.mpm = mpm
    try:
        yield container
    finally:
        container.remove()


class ErrorLogMark:
    """What Apache wrote to the error log since the mark was taken."""

    def __init__(self, container):
        self.container = container
        self.offset = len(container.error_log())

    def new_text(self):
        return self.container.error_log()[self.offset:]


def fetch(url, auth=None, user=None, password=None):
    """GET url. auth None sends no credentials, "basic" sends them at once,
    "digest" lets urllib's HTTPDigestAuthHandler answer the challenge.
    Returns (status, headers, body)."""
    handlers = []
    headers = {}
    if auth == "basic":
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif auth == "digest":
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        passwords.add_password(None, url, user, password)
        handlers.append(urllib.request.HTTPDigestAuthHandler(passwords))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def raw_get(host, path, host_header=None, version="HTTP/1.1"):
    """The response bytes exactly as they crossed the wire. The path is sent
    as given (no normalisation); HTTP/1.0 is sent without a Host header."""
    lines = [f"GET {path} {version}"]
    if version == "HTTP/1.1":
        lines.append(f"Host: {host_header or host}")
    lines.append("Connection: close")
    with socket.create_connection((host, 80), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def test_module_enabled_the_debian_way(server):
    modules = server.exec("apache2ctl", "-M").stdout
    assert "authnz_wsgi_module (shared)" in modules
    assert "auth_digest_module (shared)" in modules
    assert f"mpm_{server.mpm}_module" in modules
    assert server.exec("readlink", "/etc/apache2/mods-enabled/authnz_wsgi.load").stdout.strip() \
        == "../mods-available/authnz_wsgi.load"
    assert server.read("/etc/apache2/mods-available/authnz_wsgi.load").strip() \
        == "LoadModule authnz_wsgi_module /usr/lib/apache2/modules/mod_authnz_wsgi.so"
    assert server.exec("test", "-f", "/usr/lib/apache2/modules/mod_authnz_wsgi.so").returncode == 0
    # Apache itself is the container's main process.
    assert server.exec("cat", "/proc/1/comm").stdout.strip() == "apache2"
    errors = server.error_log()
    assert f"[mpm_{server.mpm}:notice]" in errors and "resuming normal operations" in errors
    # Logged by each child at start: the release's Python.
    assert f"AUTHNZ_WSGI0003: Python {PYTHON_VERSIONS[server.suite]}" in errors


def test_logs_go_to_docker_logs_not_to_files(server):
    """`docker logs` shows the error log (stderr) and the access log
    (stdout); no log file grows inside the container."""
    uri = f"/basic/index.html?logs={uuid.uuid4().hex[:8]}"
    assert fetch(server.url(uri), "basic", "demo", "wrong")[0] == 401
    entries = server.wait_access_entries(uri)
    assert entries == [{"status": "401", "user": "demo", "method": "GET"}]
    errors = server.error_log()
    assert f'user demo: authentication failure for "{uri.split("?")[0]}"' in errors
    assert "resuming normal operations" in errors
    # Neither stream holds the other's lines.
    assert "resuming normal operations" not in server.access_log()
    assert "|demo|GET|" not in errors
    for path in LOG_FILES:
        size = server.exec("sh", "-c", f"test -e {path} && wc -c < {path} || echo absent")
        assert size.stdout.strip() in ("absent", "0"), (path, size.stdout)


@pytest.mark.parametrize(
    "case", CASES,
    ids=[f"{c.path.split('/')[1]}-{c.user or 'anonymous'}-{c.status}" for c in CASES])
def test_answer_and_logs(server, case):
    uri = f"{case.path}?case={uuid.uuid4().hex[:8]}"
    mark = ErrorLogMark(server)
    status, _, body = fetch(server.url(uri), case.auth, case.user, case.password)
    assert status == case.status
    if status == 200:
        assert b"a Python function let you through" in body
    # Digest first meets a challenge: the last entry is the answer that counted.
    entries = server.wait_access_entries(uri)
    assert entries, f"no access log entry for {uri}"
    assert entries[-1] == {"status": str(case.status), "user": case.logged_user, "method": "GET"}
    new_errors = mark.new_text()
    if case.error:
        assert case.error in new_errors
    else:
        assert ":error]" not in new_errors


def test_reflection_logs_the_app_user_and_hides_the_header(server):
    # whoami.cgi names "alice" in X-Remote-User; WSGIReflectAuth is On for /app.
    uri = f"/app/whoami.cgi?case={uuid.uuid4().hex[:8]}"
    raw = raw_get(server.ip, uri)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"x-remote-user" not in head.lower() and b"x-auth-type" not in head.lower()
    assert b"hello from the app" in body
    assert server.wait_access_entries(uri)[-1]["user"] == "alice"


# The demo CGI (docker/site/whoami.cgi) names a user in X-Remote-User for
# whoever asks: only under /app/, where WSGIReflectAuth removes the header and
# strips request headers of that name, may it run. Debian's serve-cgi-bin.conf
# (ScriptAlias /cgi-bin/ /usr/lib/cgi-bin/, live once cgid is enabled) would
# serve any CGI there without either.
CGI_OUTPUT = b"hello from the app"
OUTSIDE_PROBES = [
    "/cgi-bin/whoami.cgi", "/cgi-bin/", "/cgi-bin/whoami.cgi/extra", "//cgi-bin/whoami.cgi",
    "/cgi-bin//whoami.cgi", "/cgi-bin/./whoami.cgi", "/cgi-bin/%77hoami.cgi",
    "/CGI-BIN/whoami.cgi", "/app/../cgi-bin/whoami.cgi", "/basic/../cgi-bin/whoami.cgi",
    "/app/..%2fcgi-bin/whoami.cgi", "/whoami.cgi", "/usr/lib/cgi-bin/whoami.cgi",
    "/usr/lib/authnz-wsgi-example/cgi-bin/whoami.cgi", "/cgi/whoami.cgi", "/APP/whoami.cgi",
    "/apps/whoami.cgi", "/appwhoami.cgi", "/icons/../cgi-bin/whoami.cgi", "/app",
]
INSIDE_PROBES = ["/app/whoami.cgi", "/app//whoami.cgi", "//app/whoami.cgi", "/app/./whoami.cgi",
                 "/app/whoami.cgi/extra", "/basic/../app/whoami.cgi"]


def test_the_demo_cgi_runs_only_in_the_reflecting_location(server):
    probes = [(path, inside, host, version)
              for paths, inside in ((OUTSIDE_PROBES, False), (INSIDE_PROBES, True))
              for path in paths
              for host, version in ((None, "HTTP/1.1"), ("other.example", "HTTP/1.1"),
                                    (None, "HTTP/1.0"))]
    for path, inside, host, version in probes:
        probe = uuid.uuid4().hex[:8]
        raw = raw_get(server.ip, f"{path}?probe={probe}", host, version)
        head, _, body = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        where = (path, host, version, head.decode(errors="replace"))
        # Never an identity header, wherever the request went.
        assert b"x-remote-user" not in head.lower() and b"x-auth-type" not in head.lower(), where
        if inside:
            assert status == 200 and CGI_OUTPUT in body, where
        else:
            assert status in (301, 400, 403, 404) and CGI_OUTPUT not in body, where
        [entry] = server.wait_access_entries_ending(f"probe={probe}")
        assert entry["status"] == str(status), where
        # Reflected only where the CGI ran behind WSGIReflectAuth.
        assert entry["user"] == ("alice" if inside else "-"), where
    # Debian's ScriptAlias for /usr/lib/cgi-bin is off in the image.
    assert server.exec("test", "-e", "/etc/apache2/conf-enabled/serve-cgi-bin.conf").returncode == 1


def test_no_start_without_a_demo_password(network):
    """The image has no password of its own: without one, or with a short
    one, the container stops at once and says what to set."""
    for env in ({}, {"AUTHNZ_WSGI_DEMO_PASSWORD": "short"},
                {"AUTHNZ_WSGI_DEMO_PASSWORD": DEMO_PASSWORD, "AUTHNZ_WSGI_GUEST_PASSWORD": "x"}):
        args = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
        run = docker("run", "--rm", "--label", LABEL, "--network", network, *args, IMAGE,
                     check=False, timeout=60)
        assert run.returncode != 0, (env, run.stdout, run.stderr)
        name = "AUTHNZ_WSGI_GUEST_PASSWORD" if "AUTHNZ_WSGI_GUEST_PASSWORD" in env \
            else "AUTHNZ_WSGI_DEMO_PASSWORD"
        assert f"apache2-foreground: set {name} to a password of 12 characters or more" \
            in run.stderr, (env, run.stderr)
        assert "resuming normal operations" not in run.stdout + run.stderr


def test_a_link_left_in_place_of_the_lock_dir_is_not_followed(network):
    """Apache's lock directory is /run/lock/apache2: /run/lock is writable by
    everybody, and the directory belongs to www-data. A symbolic link that
    www-data (a CGI, a script) leaves in its place is removed when the
    container starts again, not followed by root's chown."""
    container = Container(network)
    try:
        plant = container.exec("sh", "-c", "rmdir /run/lock/apache2 && ln -s /etc /run/lock/apache2",
                               user="www-data")
        assert plant.returncode == 0, plant.stderr
        container.restart()
        assert container.exec("stat", "-c", "%U", "/etc").stdout.strip() == "root"
        assert container.exec("stat", "-c", "%F %U", "/run/lock/apache2").stdout.strip() \
            == "directory www-data"
        status, _, body = fetch(container.url("/basic/index.html"), "basic", "demo", DEMO_PASSWORD)
        assert status == 200 and b"a Python function let you through" in body
    finally:
        container.remove()


def test_graceful_restart_under_load_loses_no_request(server):
    uri = f"/basic/index.html?load={uuid.uuid4().hex[:8]}"
    mark = ErrorLogMark(server)
    statuses, failures = [], []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                status = fetch(server.url(uri), "basic", "demo", DEMO_PASSWORD)[0]
            except Exception as error:  # a refused or reset connection is a failure too
                failures.append(repr(error))
                continue
            statuses.append(status)
            if status != 200:
                failures.append(status)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        for _ in range(2):
            restart = server.exec("apachectl", "-k", "graceful")
            assert restart.returncode == 0, restart.stderr
            time.sleep(1.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert failures == []
    assert len(statuses) > 50
    # Every request was answered by an authenticated 200 and logged as demo.
    entries = server.wait_access_entries(uri, count=len(statuses))
    assert len(entries) == len(statuses)
    assert {(e["status"], e["user"]) for e in entries} == {("200", "demo")}
    errors = mark.new_text()
    assert errors.count("resuming normal operations") == 2  # both restarts done
    assert "exit signal" not in errors  # no child crashed
    assert ":error]" not in errors


@pytest.mark.parametrize("ci,outcome", [("true", "failed"), ("1", "failed"),
                                        (None, "skipped"), ("false", "skipped")])
def test_without_an_engine_ci_fails_instead_of_skipping(ci, outcome):
    """The rule .ci/run relies on: with no Docker engine, the container tests
    fail where CI is set and skip elsewhere. Checked by running one of them
    against an engine address where nothing listens."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    if ci:
        env["CI"] = ci
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
         f"{__file__}::test_module_enabled_the_debian_way"],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    output = run.stdout + run.stderr
    assert "no Docker engine answers" in output, output
    if outcome == "failed":
        assert run.returncode != 0, output
        assert "CI must run the container tests" in output, output
        assert " skipped" not in output, output
    else:
        assert run.returncode == 0, output
        assert "3 skipped" in output, output


SHA1_CRYPT_CHECK = r"""
import ctypes
crypt = ctypes.CDLL("libcrypt.so.1")
crypt.crypt.restype = ctypes.c_char_p
entry = crypt.crypt(b"a password", b"$sha1$1$abcdefghijklmnop$")
apr = ctypes.CDLL("libapr-1.so.0")
apr.apr_initialize()
aprutil = ctypes.CDLL("libaprutil-1.so.0")
print(entry.decode(), aprutil.apr_password_validate(b"a password", entry) == 0,
      aprutil.apr_password_validate(b"another", entry) == 0)
"""


def test_the_release_makes_and_checks_sha1_crypt(server):
    """The module's socache entries for Basic are `$sha1$` hashes from
    libxcrypt, checked by APR's apr_password_validate (docs/caching.md):
    both must work in each release's image, or the module falls back to
    bcrypt (AUTHNZ_WSGI0078)."""
    run = server.exec("python3", "-c", SHA1_CRYPT_CHECK)
    assert run.returncode == 0, run.stderr
    entry, right, wrong = run.stdout.split()
    assert entry.startswith("$sha1$1$abcdefghijklmnop$") and len(entry) == 53
    assert (right, wrong) == ("True", "False")
    assert "AUTHNZ_WSGI0078" not in server.error_log()
