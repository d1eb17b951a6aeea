"""The Debian package (scripts/build-deb.sh, `make deb`) installed the way
an administrator installs it, in a container of each release: Debian 12
(bookworm) with the package built on this machine, Debian 13 (trixie) with
the package built inside a trixie container (docker/build-in-container.sh).

The containers run on a Docker network without a way out, so `apt-get
install ./the.deb` must be satisfied by what the base image holds: the
package's dependencies are installed there, mod_wsgi's package lies in
/var/cache/authnz-wsgi/extra (docker/make-base-image.sh).

Each test: install (nothing enabled, Apache not started), `a2enmod
authnz_wsgi`, the shipped examples (basic.conf and scripts/users.py from
/usr/share/doc) answer 401 without and with a wrong password and 200 with
the right one, as the access and error logs inside the container show;
`apt-get remove` disables the module and Apache still passes `apache2ctl
-t`, starts and answers; installed again, it stays disabled; `apt-get
purge` leaves no file of the package (the file lists before installing and
after purging are the same). The second test does the same beside mod_wsgi's
package (libapache2-mod-wsgi-py3), installed before or after this one:
mod_wsgi's package enables itself, this one waits for `a2enmod`; the .load
files are read in name order (authnz_wsgi.load before wsgi.load), both
modules are loaded, and an application mod_wsgi hosts is protected by this
module (401, 401, 200 and the user the application saw); remove and purge
leave mod_wsgi enabled and hosting the application.

Both releases run both tests; beside mod_wsgi, both install orders run on
bookworm and mod_wsgi's package first on trixie (9-20 s a case). With
the images made, the file takes about a minute and a half; building the
trixie package in its container is the slow part of a first run, and it is
shared with test_container.py.

When no Docker engine answers the tests skip, except when the CI variable
is set: there they fail.
"""

import base64
import re
import time
import urllib.error
import urllib.request
import uuid

import pytest

from containers import (PYTHON_VERSIONS, base_image, deb_package, docker, remove_labelled,
                        require_docker)

RUN_ID = uuid.uuid4().hex[:8]
LABEL = f"authnz-wsgi-deb-test={RUN_ID}"
PACKAGE = "libapache2-mod-authnz-wsgi"
DOC = f"/usr/share/doc/{PACKAGE}"
ACCESS_LOG = "/var/log/apache2/access.log"  # Debian's default site: combined format
COMBINED = re.compile(r'^\S+ \S+ (?P<user>\S+) \[[^]]*\] "GET (?P<uri>\S+) [^"]*" (?P<status>\d+) ')
ERROR_LOG = "/var/log/apache2/error.log"
# The example site: the shipped basic.conf, which reads the shipped
# scripts/users.py (alice / wonderland, among others).
SITE = f"""
LogLevel info
Define AUTHNZ_WSGI_EXAMPLES {DOC}/examples
Include {DOC}/examples/basic.conf
"""
# Everything outside these is compared before installing and after purging.
SNAPSHOT = ("find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run "
            "-o -path /tmp -o -path /var/log -o -path /var/cache -o -path /var/lib/apt "
            "-o -path /var/lib/dpkg -o -path /debs \\) -prune -o -print | sort")


@pytest.fixture(scope="module")
def network():
    require_docker()
    name = f"authnz-wsgi-deb-{RUN_ID}"
    # --internal: no route out, so apt-get cannot reach a mirror.
    docker("network", "create", "--internal", "--label", LABEL, name)
    try:
        yield name
    finally:
        remove_labelled(LABEL, name)


class Box:
    """A container of the suite's base image, idle, with the package
    mounted at /debs; Apache is started and stopped by hand."""

    def __init__(self, network, suite):
        self.suite = suite
        deb = deb_package(suite)
        self.deb = f"/debs/{deb.name}"
        self.name = f"authnz-wsgi-deb-{RUN_ID}-{uuid.uuid4().hex[:6]}"
        # --init: a PID 1 that reaps, so a stopped Apache leaves no zombies.
        docker("run", "-d", "--init", "--name", self.name, "--label", LABEL, "--network", network,
               "-v", f"{deb.parent}:/debs:ro", base_image(suite), "sleep", "infinity")
        self.ip = docker("inspect", "-f",
                         "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                         self.name).stdout.strip()

    def sh(self, command, ok=True):
        run = docker("exec", "-e", "DEBIAN_FRONTEND=noninteractive", self.name,
                     "sh", "-c", command, check=False, timeout=600)
        if ok:
            assert run.returncode == 0, (command, run.stdout, run.stderr)
        return run

    def read(self, path):
        return self.sh(f"cat {path} 2>/dev/null || true").stdout

    def apache_running(self):
        return self.sh("pgrep -x apache2", ok=False).returncode == 0

    def start_apache(self):
        self.sh("apache2ctl start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.ip}/", timeout=2).close()
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("Apache does not answer:\n" + self.read(ERROR_LOG))

    def stop_apache(self):
        self.sh("apache2ctl stop; for i in $(seq 100); do pgrep -x apache2 >/dev/null || exit 0; "
                "sleep 0.1; done; exit 1")

    def get(self, path, user=None, password=None):
        headers = {}
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        request = urllib.request.Request(f"http://{self.ip}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def access_entry(self, uri):
        deadline = time.monotonic() + 10
        while True:
            for line in self.read(ACCESS_LOG).splitlines():
                entry = COMBINED.match(line)
                if entry and entry["uri"] == uri:
                    return entry["status"], entry["user"]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def remove(self):
        docker("rm", "-f", self.name, check=False)


@pytest.fixture(params=list(PYTHON_VERSIONS))
def box(request, network):
    b = Box(network, request.param)
    try:
        yield b
    finally:
        b.remove()


def install_ours(box):
    run = box.sh(f"apt-get install -y -q {box.deb}")
    # Nothing was fetched: the network has no way out.
    assert "Get:1 http" not in run.stdout
    assert box.sh(f"dpkg-query -W -f='${{Status}}' {PACKAGE}").stdout == "install ok installed"


def install_mod_wsgi(box):
    box.sh("apt-get install -y -q /var/cache/authnz-wsgi/extra/libapache2-mod-wsgi-py3_*.deb")


def check_example_site(box):
    """401 without and with a wrong password, 200 with the right one, each
    as Apache logged it; the child started the suite's Python."""
    mark = len(box.read(ERROR_LOG))
    tag = uuid.uuid4().hex[:8]
    cases = [(None, None, 401, "-"), ("alice", "wrong", 401, "alice"),
             ("alice", "wonderland", 200, "alice")]
    for number, (user, password, status, logged) in enumerate(cases):
        uri = f"/basic/?case={tag}{number}"
        got, _ = box.get(uri, user, password)
        assert got == status, (uri, user, box.read(ERROR_LOG)[mark:])
        assert box.access_entry(uri) == (str(status), logged)
    errors = box.read(ERROR_LOG)[mark:]
    assert (f'AH01617: user alice: authentication failure for "/basic/": Password Mismatch'
            in errors), errors
    # Each child logs its Python as it starts (before the requests).
    assert f"AUTHNZ_WSGI0003: Python {PYTHON_VERSIONS[box.suite]}" in box.read(ERROR_LOG)


def enable_and_serve(box):
    box.sh(f"mkdir -p /var/www/html/basic && echo protected > /var/www/html/basic/index.html "
           f"&& printf '%s' '{SITE}' > /etc/apache2/conf-available/authnz-example.conf "
           "&& a2enmod -q authnz_wsgi && a2enconf -q authnz-example && apache2ctl -t")
    assert box.sh("readlink /etc/apache2/mods-enabled/authnz_wsgi.load").stdout.strip() \
        == "../mods-available/authnz_wsgi.load"
    box.start_apache()
    assert "authnz_wsgi_module (shared)" in box.sh("apache2ctl -M").stdout
    check_example_site(box)


def remove_and_check_apache(box):
    """apt-get remove with the module enabled and Apache running: the
    package's prerm disables it (the example that uses its directives was
    taken out first, as an administrator must), Apache still starts."""
    box.sh("a2disconf -q authnz-example")
    box.sh(f"apt-get remove -y -q {PACKAGE}")
    assert box.sh("test -e /etc/apache2/mods-enabled/authnz_wsgi.load", ok=False).returncode == 1
    assert box.sh("test -e /usr/lib/apache2/modules/mod_authnz_wsgi.so", ok=False).returncode == 1
    # Its conffiles stay until purge.
    assert box.sh("test -f /etc/apache2/mods-available/authnz_wsgi.load", ok=False).returncode == 0
    assert "Syntax OK" in box.sh("apache2ctl -t 2>&1").stdout
    if box.apache_running():
        box.stop_apache()
    box.start_apache()
    assert "authnz_wsgi" not in box.sh("apache2ctl -M").stdout
    assert box.get("/")[0] == 200


def purge(box):
    box.stop_apache()
    box.sh(f"apt-get purge -y -q {PACKAGE}")
    assert box.sh(f"dpkg-query -W -f='${{Status}}' {PACKAGE}", ok=False).stdout \
        in ("", "unknown ok not-installed")
    assert box.sh("ls /var/lib/apache2/module/*/authnz_wsgi /etc/apache2/mods-*/authnz_wsgi.* "
                  "2>/dev/null || true").stdout == ""


def test_install_enable_serve_remove_purge(box):
    before = box.sh(SNAPSHOT).stdout
    install_ours(box)
    # Installed, not enabled, and no Apache started or restarted.
    assert box.sh("test -e /etc/apache2/mods-enabled/authnz_wsgi.load", ok=False).returncode == 1
    assert not box.apache_running()
    files = box.sh(f"dpkg -L {PACKAGE}").stdout.split()
    for path in ("/usr/lib/apache2/modules/mod_authnz_wsgi.so",
                 "/etc/apache2/mods-available/authnz_wsgi.load",
                 "/etc/apache2/mods-available/authnz_wsgi.conf",
                 "/usr/bin/authnz-wsgi-express", f"{DOC}/examples/basic.conf",
                 f"{DOC}/examples/scripts/users.py", f"{DOC}/copyright"):
        assert path in files, path
    assert "start-server" in box.sh("authnz-wsgi-express --help 2>&1", ok=False).stdout
    enable_and_serve(box)
    remove_and_check_apache(box)
    # Installed again after a remove: still only enabled on request.
    install_ours(box)
    assert box.sh("test -e /etc/apache2/mods-enabled/authnz_wsgi.load", ok=False).returncode == 1
    box.sh("a2disconf -q authnz-example 2>/dev/null; rm -f "
           "/etc/apache2/conf-available/authnz-example.conf; rm -rf /var/www/html/basic")
    purge(box)
    after = box.sh(SNAPSHOT).stdout
    changed = set(before.splitlines()) ^ set(after.splitlines())
    # a2enconf/a2disconf of the test's own example leave their state here.
    leftovers = sorted(p for p in changed if not p.startswith("/var/lib/apache2/conf/"))
    # a2enmod and the maintainer-script helper keep their state for every
    # module in directories of apache2's own, made on first use; purging
    # empties them of this module's entries (see purge()).
    state_dirs = [p for p in leftovers if p.startswith("/var/lib/apache2/module/")]
    for directory in state_dirs:
        assert box.sh(f"find {directory} -mindepth 1").stdout == "", directory
    assert [p for p in leftovers if p not in state_dirs] == [], leftovers


WSGI_APP = """def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("app saw " + environ.get("REMOTE_USER", "-")).encode()]
"""


def serve_wsgi_app(box, protected):
    """mod_wsgi hosts /app; with `protected`, behind this module's Basic
    check (the shipped users.py) in the same server."""
    auth = f"""<Location /app>
    AuthType Basic
    AuthName "app"
    AuthBasicProvider wsgi
    WSGIAuthUserScript {DOC}/examples/scripts/users.py
    Require valid-user
</Location>
""" if protected else ""
    conf = f"""WSGIScriptAlias /app /var/www/wsgi/app.wsgi
<Directory /var/www/wsgi>
    Require all granted
</Directory>
{auth}"""
    box.sh(f"mkdir -p /var/www/wsgi && printf '%s' '{WSGI_APP}' > /var/www/wsgi/app.wsgi "
           f"&& printf '%s' '{conf}' > /etc/apache2/conf-available/authnz-app.conf "
           "&& a2enconf -q authnz-app && apache2ctl -t")
    if box.apache_running():
        box.stop_apache()
    box.start_apache()


# Both install orders on bookworm, mod_wsgi's package first on trixie: the
# order matters to the maintainer scripts, which are the same on both, and a
# bookworm case costs about 20 s (bookworm's mod_wsgi 4.9.4 leaves embedded
# children that do not exit on `apache2ctl stop` after serving the
# application, with or without this module loaded: Apache kills them after
# 10 s; trixie's mod_wsgi 5.0.2 does not, a case there takes 9 s).
@pytest.mark.parametrize("box,mod_wsgi_first",
                         [("bookworm", True), ("bookworm", False), ("trixie", True)],
                         ids=["bookworm-mod_wsgi-first", "bookworm-ours-first",
                              "trixie-mod_wsgi-first"],
                         indirect=["box"])
def test_beside_mod_wsgi(box, mod_wsgi_first):
    if mod_wsgi_first:
        install_mod_wsgi(box)
        install_ours(box)
    else:
        install_ours(box)
        install_mod_wsgi(box)
    # mod_wsgi's package enables itself; ours waits for a2enmod.
    assert box.sh("test -e /etc/apache2/mods-enabled/wsgi.load", ok=False).returncode == 0
    assert box.sh("test -e /etc/apache2/mods-enabled/authnz_wsgi.load", ok=False).returncode == 1
    enable_and_serve(box)
    # apache2.conf reads mods-enabled/*.load in name order: ours first.
    loads = box.sh("ls /etc/apache2/mods-enabled/ | grep 'wsgi.load$'").stdout.split()
    assert loads == ["authnz_wsgi.load", "wsgi.load"]
    modules = box.sh("apache2ctl -M").stdout
    assert "wsgi_module (shared)" in modules and "authnz_wsgi_module (shared)" in modules
    # mod_wsgi hosts an application that this module protects, in one server.
    serve_wsgi_app(box, protected=True)
    assert box.get("/app")[0] == 401
    assert box.get("/app", "alice", "wrong")[0] == 401
    uri = f"/app?case={uuid.uuid4().hex[:8]}"
    assert box.get(uri, "alice", "wonderland") == (200, b"app saw alice")
    assert box.access_entry(uri) == ("200", "alice")
    box.sh("a2disconf -q authnz-app")
    remove_and_check_apache(box)
    assert "wsgi_module (shared)" in box.sh("apache2ctl -M").stdout
    purge(box)
    assert box.sh("test -e /etc/apache2/mods-enabled/wsgi.load", ok=False).returncode == 0
    # mod_wsgi still hosts the application once this package is gone.
    box.sh("rm -f /etc/apache2/conf-available/authnz-app.conf")
    serve_wsgi_app(box, protected=False)
    assert box.get("/app") == (200, b"app saw -")
    assert box.get("/")[0] == 200
