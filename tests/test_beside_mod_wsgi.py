"""Beside mod_wsgi (docs/migrating-from-mod_wsgi.md, Coexistence): mod_wsgi — Debian's 4.9 and
PyPI's 6.x, built here against the same Apache and Python — hosts a Django
application — in daemon mode (with and without `WSGIRestrictEmbedded On`)
and in embedded mode (`WSGIApplicationGroup %{GLOBAL}`, and mod_wsgi's
default sub-interpreter) — and this module, loaded before or after it,
answers the `WSGIAuthUserScript`/`WSGIAuthGroupScript`/`WSGIAccessScript`
of a `/secret` area through `django.contrib.auth.handlers.modwsgi`, with
the users and groups only in Django's database. Each script is called once
per request, always in the main interpreter of an Apache child, the
application keeps answering while auth scripts run, and a graceful restart
under load loses no request and crashes no child."""

import os
import signal
import subprocess
import textwrap
import threading
import time
import urllib.error
import urllib.request

import pytest

from harness import MODULE_DIR, MODULE_SO, Apache, access_for, basic_header
from test_django import cached_venv, django_venv, make_django_project

# PyPI's mod_wsgi, built with apache2-dev (apxs) by pip in a cached venv.
PYPI_MOD_WSGI = "6.1.1"
BUILDS = ["debian", "pypi"]
MODES = ["daemon", "daemon-restrict-embedded", "embedded-global", "embedded-sub-interpreter"]
ORDERS = ["authnz-wsgi-first", "mod-wsgi-first"]

URLS = """\
import os, sys
from django.http import HttpResponse
from django.urls import re_path

def _interpreter():
    try:
        import _xxsubinterpreters as si
        return "main" if si.get_current() == si.get_main() else "sub"
    except ImportError:
        return "?"

def page(request, rest=""):
    return HttpResponse("django %s user=%s pid=%d interpreter=%s\\n" % (
        request.path, request.META.get("REMOTE_USER"), os.getpid(), _interpreter()),
        content_type="text/plain")

urlpatterns = [re_path(r"^(?P<rest>.*)$", page)]
"""

WSGI = """\
import os, sys
sys.path.insert(0, {project!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
"""

AUTH_SCRIPT = """
import os, sys, time

sys.path.insert(0, {project!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

import django
django.setup()

from django.contrib.auth.handlers import modwsgi

def _main():
    import _xxsubinterpreters as si
    return si.get_current() == si.get_main()

def check_password(environ, user, password):
    if user == "slowpoke":
        time.sleep(1.5)
    result = modwsgi.check_password(environ, user, password)
    record("authn", user=user, result=result, pid=os.getpid(), main=_main(),
           uri=environ["REQUEST_URI"])
    return result

def groups_for_user(environ, user):
    groups = modwsgi.groups_for_user(environ, user)
    record("groups", user=user, groups=[g.decode() for g in groups], pid=os.getpid(),
           main=_main())
    return groups

def allow_access(environ, host):
    record("access", uri=environ["REQUEST_URI"], pid=os.getpid(), main=_main())
    return True
"""

POPULATE_MORE = """\
import django
django.setup()
from django.contrib.auth.models import Group, User
u = User.objects.create_user("slowpoke", password="slowpoke-pw")
u.groups.set([Group.objects.get(name="staff")])
"""


@pytest.fixture(scope="module")
def venv():
    return django_venv()


def mod_wsgi_so(build):
    """The mod_wsgi module to load: Debian's package, or PyPI's built here."""
    if build == "debian":
        so = MODULE_DIR / "mod_wsgi.so"
        assert so.exists(), f"{so} is missing: install libapache2-mod-wsgi-py3"
        return so
    built = cached_venv(f"authnz-wsgi-mod-wsgi-{PYPI_MOD_WSGI}", f"mod_wsgi=={PYPI_MOD_WSGI}")
    location = subprocess.run([str(built / "bin/mod_wsgi-express"), "module-location"],
                              capture_output=True, text=True, check=True, timeout=60)
    return location.stdout.strip()


def mod_wsgi_conf(mode, venv, project):
    wsgi = project / "mysite" / "wsgi.py"
    alias = f'WSGIScriptAlias / "{wsgi}"\n'
    daemon = (f'WSGIDaemonProcess django python-home="{venv}" python-path="{project}" '
              f"processes=1 threads=4 display-name=%{{GROUP}}\nWSGIProcessGroup django\n"
              f"WSGIApplicationGroup %{{GLOBAL}}\n")
    home = f'WSGIPythonHome "{venv}"\nWSGIPythonPath "{project}"\n'
    return {
        "daemon": home + daemon + alias,
        "daemon-restrict-embedded": home + "WSGIRestrictEmbedded On\n" + daemon + alias,
        "embedded-global": home + "WSGIApplicationGroup %{GLOBAL}\n" + alias,
        "embedded-sub-interpreter": home + alias,
    }[mode]


def make_server(venv, mode, order, mpm, mod_wsgi_so):
    # One event child with its threads (and a second scoreboard slot, for
    # the new generation while the old one finishes after a graceful
    # restart), or four prefork children: requests that wait for a slow
    # auth script leave others free.
    processes = ("StartServers 1\nServerLimit 2\nMaxRequestWorkers 25\n" if mpm != "prefork" else
                 "StartServers 4\nMinSpareServers 4\nMaxSpareServers 6\nServerLimit 6\n"
                 "MaxRequestWorkers 6\n")
    server = Apache(name=f"beside-{mode}-{mpm}", mpm=mpm, load_authnz_wsgi=False,
                    server_conf=processes + "LogLevel info authnz_wsgi:debug\n")
    project, _ = make_django_project(server.dir, venv)
    with open(project / "mysite" / "settings.py", "a") as settings:
        settings.write('ROOT_URLCONF = "mysite.urls"\nALLOWED_HOSTS = ["*"]\n')
    (project / "mysite" / "urls.py").write_text(URLS)
    (project / "mysite" / "wsgi.py").write_text(WSGI.format(project=str(project)))
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="mysite.settings", PYTHONPATH=str(project))
    subprocess.run([str(venv / "bin/python"), "-c", POPULATE_MORE], check=True, cwd=project,
                   env=env, capture_output=True, timeout=300)
    subprocess.run(["chmod", "-R", "a+rX", str(project)], check=True)
    script = server.write_script("django_auth.py", AUTH_SCRIPT.format(project=str(project)))
    ours = f'LoadModule authnz_wsgi_module "{MODULE_SO}"\n'
    theirs = f'LoadModule wsgi_module "{mod_wsgi_so}"\n'
    loads = ours + theirs if order == "authnz-wsgi-first" else theirs + ours
    # Daemon processes' sockets in the server's own directory, not in
    # Debian's /var/run/apache2 (which only the system's Apache creates).
    sockets = f'WSGISocketPrefix "{server.dir}/run/wsgi"\n'
    server.server_conf = loads + server.server_conf + sockets + mod_wsgi_conf(mode, venv, project)
    server.site_conf = f"""
<Directory "{project}/mysite">
  <Files wsgi.py>
    Require all granted
  </Files>
</Directory>
<Location /secret>
  AuthType Basic
  AuthName "Django secret"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  WSGIAuthGroupScript "{script}"
  WSGIAccessScript "{script}"
  AuthzSendForbiddenOnFailure On
  Require wsgi-group staff
</Location>
"""
    return server


def get(server, path, user=None, password=None, timeout=30):
    headers = {"Authorization": basic_header(user, password)} if user else {}
    req = urllib.request.Request(server.url(path), headers=headers)
    server._mark_access()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def apache_children(server):
    """(worker children, mod_wsgi daemon processes): daemon processes are
    forked by the parent too, and name themselves `(wsgi:GROUP)`."""
    workers, daemons = set(), set()
    for pid in server.child_pids():
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            (daemons if f.read().startswith(b"(wsgi:") else workers).add(pid)
    return workers, daemons


def error_summary(server):
    """Error-level lines of the log, for assertion messages."""
    return [l[-200:] for l in server.error_log().splitlines() if ":error]" in l][-8:]


def crash_lines(server):
    return [l for l in server.error_log().splitlines()
            if "exit signal" in l or "Segmentation" in l or "Fatal Python" in l
            or ("AUTHNZ_WSGI" in l and ":error]" in l)]


# Every combination with Debian's build; PyPI's under the event MPM.
SERVED = [(build, mode, order, mpm) for build in BUILDS for mode in MODES for order in ORDERS
          for mpm in ("event", "prefork") if build == "debian" or mpm == "event"]


@pytest.mark.parametrize("build,mode,order,mpm", SERVED)
def test_django_app_hosted_by_mod_wsgi_and_secret_area_guarded_here(venv, build, mode, order,
                                                                    mpm):
    server = make_server(venv, mode, order, mpm, mod_wsgi_so(build))
    try:
        server.start(timeout=60)
        children, daemons = apache_children(server)
        # The application, served by mod_wsgi.
        status, body = get(server, "/public/page")
        assert status == 200 and body.startswith("django /public/page user=None"), body
        app_pid = int(body.split("pid=")[1].split()[0])
        assert app_pid in (daemons if mode.startswith("daemon") else children), (app_pid, daemons)
        expected_interpreter = "sub" if mode == "embedded-sub-interpreter" else "main"
        assert body.rstrip().endswith(f"interpreter={expected_interpreter}"), body
        assert server.records("access") == [] and server.records("authn") == []

        cases = [
            ("alice", "alice-pw", 200),   # staff
            ("bob", "bob-pw", 403),       # a user, not staff
            ("carol", "carol-pw", 401),   # inactive: Django says None
            ("alice", "wrong-pw", 401),
            (None, None, 401),
        ]
        for i, (user, password, want) in enumerate(cases):
            for name in ("authn", "groups", "access"):
                server.clear_records(name)
            status, body = get(server, f"/secret/{i}", user, password)
            assert status == want, (user, status, body)
            if want == 200:
                assert body.startswith(f"django /secret/{i} user={user} "), body
            authn, groups, access = (server.records(n) for n in ("authn", "groups", "access"))
            # One call of each script per request, in the main interpreter
            # of an Apache child (never in mod_wsgi's daemon or one of its
            # sub-interpreters).
            assert len(access) == 1 and access[0]["uri"] == f"/secret/{i}"
            assert len(authn) == (1 if user else 0)
            assert len(groups) == (1 if want in (200, 403) else 0)
            children, daemons = apache_children(server)
            for call in access + authn + groups:
                assert call["main"] is True and call["pid"] in children, (call, children)
            entry = access_for(server, f"/secret/{i}", timeout=5)
            assert entry["status"] == want and entry["user"] == (user if user else "-")

        # The application keeps answering while auth scripts run.
        slow = [threading.Thread(target=get, args=(server, "/secret/slow", "slowpoke",
                                                   "slowpoke-pw")) for _ in range(2)]
        for t in slow:
            t.start()
        time.sleep(0.3)
        started = time.monotonic()
        status, _ = get(server, "/public/while-auth-runs")
        took = time.monotonic() - started
        for t in slow:
            t.join(timeout=30)
        assert status == 200 and took < 1.0, took
        assert crash_lines(server) == []
        assert server.error_lines("AUTHNZ_WSGI0003")
    finally:
        server.cleanup()


# Both orders with Debian's build; PyPI's loaded after this module.
RESTARTED = [(build, mode, order) for build in BUILDS for mode in MODES for order in ORDERS
             if build == "debian" or order == ORDERS[0]]


@pytest.mark.parametrize("build,mode,order", RESTARTED)
def test_graceful_restart_under_load_loses_no_request(venv, build, mode, order):
    server = make_server(venv, mode, order, "event", mod_wsgi_so(build))
    try:
        server.start(timeout=60)
        results = []
        stop = threading.Event()

        def load(path, user, password):
            while not stop.is_set():
                try:
                    results.append(get(server, path, user, password, timeout=20)[0])
                except OSError as e:
                    results.append(repr(e))

        threads = [threading.Thread(target=load, args=args) for args in [
            ("/public/a", None, None), ("/secret/b", "alice", "alice-pw"),
            ("/secret/c", "bob", "bob-pw"), ("/secret/d", "alice", "alice-pw")]]
        for t in threads:
            t.start()
        time.sleep(1.5)
        server.graceful(timeout=60)
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        # mod_wsgi restarts its daemon processes with the server: a request an
        # old child hands to the old daemon as it stops is answered 503 or
        # 500 by mod_wsgi itself, with a [wsgi:error] line about the daemon
        # process each (not this module's doing).
        daemon_gone = [l for l in server.error_lines("[wsgi:error]") if "daemon process" in l]
        unexpected = [r for r in results if r not in (200, 403)]
        if mode.startswith("daemon"):
            by_daemon = [r for r in unexpected if r in (500, 503)]
            assert len(by_daemon) <= len(daemon_gone), (unexpected, error_summary(server))
            unexpected = [r for r in unexpected if r not in (500, 503)]
        assert unexpected == [] and len(results) > 20, (unexpected[:5], len(results),
                                                         error_summary(server))
        assert results.count(403) > 0 and results.count(200) > 0
        status, body = get(server, "/secret/after", "alice", "alice-pw")
        assert status == 200 and "user=alice" in body
        assert crash_lines(server) == []
        # Python was started in (or attached by) the children of both generations.
        assert len(server.error_lines("AUTHNZ_WSGI0003")) >= 2
    finally:
        server.cleanup()
