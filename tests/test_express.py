"""authnz-wsgi-express (crates/express), the launcher like
`mod_wsgi-express start-server`: every option's generated configuration
passes `apache2 -t`, start-server serves through a real Apache (Basic and
Digest in front of a proxied Python backend, groups, host access, identity
reflection), bad options fail with a message, and SIGTERM/SIGINT stop
Apache without leaving a process behind.

Needs `cargo build --release --workspace` (the launcher and the module in
target/release/)."""

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness import APACHE_BIN, MODULE_SO, ROOT, basic_header, free_port

EXPRESS = Path(os.environ.get("AUTHNZ_WSGI_EXPRESS", ROOT / "target/release/authnz-wsgi-express"))

USERS = {"alice": "alice-pw", "bob": "bob-pw"}

AUTH_SCRIPT = f"""
import hashlib

USERS = {USERS!r}

def check_password(environ, user, password):
    if user not in USERS:
        return None
    return USERS[user] == password

def get_realm_hash(environ, user, realm):
    if user not in USERS:
        return None
    return hashlib.md5(f"{{user}}:{{realm}}:{{USERS[user]}}".encode()).hexdigest()
"""

GROUPS_SCRIPT = """
GROUPS = {"alice": ["admins", "g 2"], "bob": ["staff"]}

def groups_for_user(environ, user):
    return GROUPS.get(user, [])
"""

HOSTS_SCRIPT = """
def allow_access(environ, host):
    return "HTTP_X_DENY" not in environ
"""


# ---- helpers ---------------------------------------------------------------

def need_binaries():
    if not EXPRESS.is_file():
        pytest.fail(f"{EXPRESS} is missing: build it with cargo build --release --workspace")
    if not MODULE_SO.is_file():
        pytest.fail(f"{MODULE_SO} is missing: build it with scripts/build.sh")


def make_work(prefix, dirs, files):
    """A fresh directory Apache's children can read, with `dirs` (name ->
    mode) and `files` (path in it -> text, readable by all)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    for sub, mode in dirs.items():
        (path / sub).mkdir()
        os.chmod(path / sub, mode)
    for name, body in files.items():
        (path / name).write_text(body)
        os.chmod(path / name, 0o644)
    return path


def setup_conf(work, *args):
    """setup-server into a fresh root; returns (conf text, stdout, stderr)
    after checking the configuration with apache2 -t."""
    root = work / f"setup-{free_port()}"
    p = express("setup-server", "--server-root", root, "--port", free_port(), *args)
    assert p.returncode == 0, p.stderr
    t = subprocess.run([APACHE_BIN, "-t", "-f", str(root / "httpd.conf")],
                       capture_output=True, text=True, timeout=60)
    assert t.returncode == 0 and "Syntax OK" in t.stdout + t.stderr, t.stdout + t.stderr
    return (root / "httpd.conf").read_text(), p.stdout, p.stderr


def express(*args, timeout=60):
    """Run the launcher to completion; returns the CompletedProcess."""
    return subprocess.run([str(EXPRESS), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def processes_with(text):
    """Pids whose command line mentions `text` (e.g. a server root)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


def wait_gone(text, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not processes_with(text):
            return []
        time.sleep(0.1)
    return processes_with(text)


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode(errors="replace")


def get_digest(url, user, password, realm):
    mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    mgr.add_password(realm, url, user, password)
    opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(mgr))
    try:
        with opener.open(url, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        # urllib's own "digest auth failed" error has no real body.
        body = e.read() if e.fp is not None else b""
        return e.code, body.decode(errors="replace") if isinstance(body, bytes) else body


# ---- fixtures --------------------------------------------------------------

@pytest.fixture(scope="module")
def work():
    """A directory Apache's children (www-data) can read, with the scripts."""
    need_binaries()
    path = Path(tempfile.mkdtemp(prefix="authnz-wsgi-express-test-"))
    os.chmod(path, 0o755)
    for name, body in [("auth.py", AUTH_SCRIPT), ("groups.py", GROUPS_SCRIPT),
                       ("hosts.py", HOSTS_SCRIPT)]:
        (path / name).write_text(body)
        os.chmod(path / name, 0o644)
    docs = path / "my docs"
    docs.mkdir()
    os.chmod(docs, 0o755)
    (docs / "index.html").write_text("static page\n")
    os.chmod(docs / "index.html", 0o644)
    odd = path / 'odd "dir" \\ here'
    odd.mkdir()
    os.chmod(odd, 0o755)
    shutil.copy(path / "auth.py", odd / "auth.py")
    os.chmod(odd / "auth.py", 0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Backend(BaseHTTPRequestHandler):
    """The proxied application: says which path it served; on /reflect it
    names a user in X-Remote-User, as an app with its own login would."""

    def do_GET(self):
        body = f"backend saw {self.path}\n".encode()
        if self.path.startswith("/whoami"):
            # Every spelling of the user header the backend received.
            seen = [f"{k}={v}" for k, v in self.headers.items()
                    if k.lower().replace("_", "-") == "x-remote-user"]
            body = ("backend saw " + " ".join(seen) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if self.path.startswith("/reflect"):
            self.send_header("X-Remote-User", "carol")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def backend():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Express:
    """One `authnz-wsgi-express start-server` run on a free port."""

    def __init__(self, work, *args, env=None):
        self.env = dict(env or {})
        self.port = free_port()
        self.root = work / f"root-{self.port}"
        self.conf = self.root / "httpd.conf"
        self.args = ["start-server", "--port", self.port, "--server-root", self.root, *args]
        self.output_path = work / f"output-{self.port}.txt"
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def output(self):
        text = self.output_path.read_text(errors="replace") if self.output_path.exists() else ""
        log = self.root / "error_log"
        return text + (log.read_text(errors="replace") if log.exists() else "")

    def start(self, timeout=30):
        self.proc = subprocess.Popen(
            [str(EXPRESS), *map(str, self.args)],
            stdout=open(self.output_path, "wb"), stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **self.env},
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                out = self.output()
                raise AssertionError(f"start-server exited with {self.proc.returncode}:\n{out}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise AssertionError("Apache did not start listening:\n" + self.output())

    def stop(self, sig=signal.SIGTERM):
        """Signal the launcher's pid; returns its exit status."""
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        for pid in processes_with(str(self.conf)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def access_log(self, wait_for=None, timeout=5):
        path = self.root / "access_log"
        deadline = time.time() + timeout
        while True:
            text = path.read_text() if path.exists() else ""
            if wait_for is None or wait_for in text or time.time() > deadline:
                return text
            time.sleep(0.05)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                pass
        self.kill()


# ---- every option passes apache2 -t ----------------------------------------

def has_module(name):
    return Path(f"/usr/lib/apache2/modules/mod_{name}.so").is_file()


# id -> (arguments given the work dir, directives that may not exist yet)
CONFIG_CASES = {
    "example-page": lambda w: [],
    "basic": lambda w: ["--auth-user-script", w / "auth.py"],
    "basic-realm": lambda w: ["--auth-user-script", w / "auth.py", "--auth-type", "Basic",
                                "--auth-realm", "Staff only, 50% off"],
    "digest": lambda w: ["--auth-user-script", w / "auth.py", "--auth-type", "Digest",
                          "--auth-realm", "digest realm"],
    "groups": lambda w: ["--auth-user-script", w / "auth.py", "--auth-group-script",
                          w / "groups.py", "--auth-group", "admins", "--auth-group", "g 2"],
    "digest-groups": lambda w: ["--auth-user-script", w / "auth.py", "--auth-type", "Digest",
                                 "--auth-group-script", w / "groups.py", "--auth-group", "staff"],
    "host-access": lambda w: ["--host-access-script", w / "hosts.py"],
    "host-access-with-auth": lambda w: ["--auth-user-script", w / "auth.py",
                                         "--host-access-script", w / "hosts.py"],
    "reflect": lambda w: ["--reflect-auth"],
    "reflect-proxy": lambda w: ["--reflect-auth", "--proxy-to", "http://127.0.0.1:9/app"],
    "proxy-user-header": lambda w: ["--proxy-to", "http://127.0.0.1:9/", "--auth-user-script",
                                     w / "auth.py", "--proxy-user-header", "X-Remote-User"],
    "application-group": lambda w: ["--auth-user-script", w / "auth.py", "--host-access-script",
                                     w / "hosts.py", "--application-group", "site 1"],
    "application-group-server": lambda w: ["--auth-user-script", w / "auth.py",
                                            "--application-group", "%{SERVER}"],
    "python-home": lambda w: ["--auth-user-script", w / "auth.py", "--python-home", "/usr"],
    "python-path": lambda w: ["--auth-user-script", w / "auth.py", "--python-path", w,
                               "--python-path", f"{w / 'my docs'}:{w}"],
    "document-root": lambda w: ["--document-root", w / "my docs",
                                 "--auth-user-script", w / "auth.py"],
    "proxy-http": lambda w: ["--proxy-to", "http://127.0.0.1:9/", "--auth-user-script",
                              w / "auth.py"],
    "proxy-https": lambda w: ["--proxy-to", "https://backend.example:8443/app"],
    "mpm-worker": lambda w: ["--mpm", "worker", "--auth-user-script", w / "auth.py"],
    "mpm-prefork": lambda w: ["--mpm", "prefork", "--auth-user-script", w / "auth.py"],
    "host-ipv6": lambda w: ["--host", "::1"],
    "host-any": lambda w: ["--host", "0.0.0.0"],
    "log-level": lambda w: ["--log-level", "info authnz_wsgi:debug"],
    "log-to-terminal": lambda w: ["--log-to-terminal"],
    "user-group": lambda w: ["--user", "nobody", "--group", "nogroup",
                              "--auth-user-script", w / "auth.py"],
    "module": lambda w: ["--module", MODULE_SO],
    "httpd-executable": lambda w: ["--httpd-executable", APACHE_BIN],
    "quoted-paths": lambda w: ["--auth-user-script", w / 'odd "dir" \\ here' / "auth.py",
                                "--document-root", w / "my docs"],
    "everything": lambda w: ["--host", "127.0.0.1", "--port", "8001", "--mpm", "worker",
                              "--document-root", w / "my docs", "--auth-user-script",
                              w / "auth.py", "--auth-type", "Digest", "--auth-realm", "all",
                              "--auth-group-script", w / "groups.py", "--auth-group", "admins",
                              "--host-access-script", w / "hosts.py",
                              "--python-home", "/usr", "--python-path", w, "--log-level", "info",
                              "--application-group", "everything"],
}


def setup_server(work, args):
    """Run setup-server into a fresh server root; returns (root, stdout)."""
    root = work / f"setup-{free_port()}"
    args = list(args)
    if "--port" not in args:
        args = ["--port", free_port(), *args]
    p = express("setup-server", "--server-root", root, *args)
    assert p.returncode == 0, p.stderr
    return root, p.stdout


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_generated_config_passes_configtest(work, case):
    make_args = CONFIG_CASES[case]
    if case == "proxy-https" and not has_module("ssl"):
        pytest.skip("mod_ssl is not installed")
    root, _ = setup_server(work, make_args(work))
    p = subprocess.run([APACHE_BIN, "-t", "-f", str(root / "httpd.conf")],
                       capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "Syntax OK" in out


def test_groups_are_required_inside_require_all(work):
    root, _ = setup_server(work, CONFIG_CASES["groups"](work))
    conf = (root / "httpd.conf").read_text()
    block = conf[conf.index("<RequireAll>"):conf.index("</RequireAll>")]
    assert "Require valid-user" in block
    assert 'Require wsgi-group "admins" "g 2"' in block
    outside = conf.replace(conf[conf.index("<RequireAll>"):conf.index("</RequireAll>")], "")
    assert "Require wsgi-group" not in outside
    assert "Require valid-user" not in outside


def test_setup_server_writes_files_and_reports_them(work):
    root, out = setup_server(work, ["--auth-user-script", work / "auth.py"])
    conf = root / "httpd.conf"
    assert f"Server Conf       : {conf}" in out
    assert str(root / "error_log") in out
    assert (root / "htdocs" / "index.html").is_file()
    ctl = root / "apachectl"
    assert os.access(ctl, os.X_OK)
    p = subprocess.run([str(ctl), "configtest"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    # Relative paths are made absolute against the working directory.
    p = subprocess.run([str(EXPRESS), "setup-server", "--server-root", "rel-root",
                        "--auth-user-script", "auth.py", "--document-root", "my docs"],
                       cwd=work, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    conf = (work / "rel-root" / "httpd.conf").read_text()
    assert f'WSGIAuthUserScript "{work}/auth.py"' in conf
    assert f'DocumentRoot "{work}/my docs"' in conf


def test_help_lists_every_option():
    need_binaries()
    p = express("--help")
    assert p.returncode == 0
    for option in ["--port", "--host", "--document-root", "--proxy-to", "--auth-user-script",
                   "--auth-type", "--auth-realm", "--auth-group-script", "--auth-group",
                   "--host-access-script", "--reflect-auth", "--python-home", "--python-path",
                   "--mpm", "--server-root", "--log-level", "--module", "--user", "--group",
                   "--proxy-user-header"]:
        assert option in p.stdout
    # What --auth-group does to a logged-in user outside the groups.
    help_of = lambda option: next(l for l in p.stdout.splitlines()
                                  if l.strip().startswith(option + " "))
    assert "gets 403" in help_of("--auth-group") and \
        "AuthzSendForbiddenOnFailure On" in help_of("--auth-group")
    assert "not with --auth-user-script" in help_of("--reflect-auth")


# ---- bad options -------------------------------------------------------------

BAD_OPTIONS = {
    "no-subcommand": (lambda w: [], "subcommand is required"),
    "unknown-subcommand": (lambda w: ["serve"], "unknown subcommand 'serve'"),
    "unknown-option": (lambda w: ["start-server", "--bogus"], "unknown option '--bogus'"),
    "missing-value": (lambda w: ["start-server", "--auth-user-script"], "needs a value"),
    "value-is-an-option": (lambda w: ["start-server", "--port", "--mpm", "event"],
                           "--port needs a value"),
    "port-zero": (lambda w: ["start-server", "--port", "0"], "not a port number"),
    "port-too-big": (lambda w: ["start-server", "--port", "70000"], "not a port number"),
    "port-not-number": (lambda w: ["start-server", "--port", "http"], "not a port number"),
    "root-and-proxy": (lambda w: ["start-server", "--document-root", w / "my docs",
                                  "--proxy-to", "http://127.0.0.1:9/"], "exclude each other"),
    "proxy-not-url": (lambda w: ["start-server", "--proxy-to", "127.0.0.1:9000"],
                      "not an http:// or https:// URL"),
    "group-without-script": (lambda w: ["start-server", "--auth-user-script", w / "auth.py",
                                        "--auth-group", "admins"],
                             "--auth-group needs --auth-group-script"),
    "group-script-without-group": (lambda w: ["start-server", "--auth-user-script",
                                              w / "auth.py", "--auth-group-script",
                                              w / "groups.py"], "at least one --auth-group"),
    "group-script-without-auth": (lambda w: ["start-server", "--auth-group-script",
                                             w / "groups.py", "--auth-group", "admins"],
                                  "needs --auth-user-script"),
    "auth-type-without-auth": (lambda w: ["setup-server", "--auth-type", "Digest"],
                               "needs --auth-user-script"),
    "auth-type-invalid": (lambda w: ["start-server", "--auth-user-script", w / "auth.py",
                                     "--auth-type", "NTLM"], "Basic or Digest"),
    "mpm-invalid": (lambda w: ["start-server", "--mpm", "threaded"], "not an MPM"),
    "log-level-invalid": (lambda w: ["start-server", "--log-level", "loud"], "not a log level"),
    "missing-script": (lambda w: ["start-server", "--auth-user-script", w / "nope.py"],
                       "No such file"),
    "missing-group-script": (lambda w: ["start-server", "--auth-user-script", w / "auth.py",
                                        "--auth-group-script", w / "nope.py",
                                        "--auth-group", "x"], "No such file"),
    "missing-access-script": (lambda w: ["start-server", "--host-access-script", w / "nope.py"],
                              "No such file"),
    "script-is-directory": (lambda w: ["start-server", "--auth-user-script", w],
                            "not a regular file"),
    "missing-document-root": (lambda w: ["start-server", "--document-root", w / "nowhere"],
                              "No such file"),
    "missing-python-home": (lambda w: ["start-server", "--python-home", w / "nowhere"],
                            "No such file"),
    "missing-module": (lambda w: ["start-server", "--module", w / "nowhere.so"], "No such file"),
    "unknown-user": (lambda w: ["start-server", "--user", "no-such-user-x"], "no user"),
    "realm-with-quote": (lambda w: ["start-server", "--auth-user-script", w / "auth.py",
                                    "--auth-realm", 'a"b'], "quote"),
    "config-variable": (lambda w: ["start-server", "--document-root", "/srv/${HOME}"], "${"),
    "duplicate": (lambda w: ["start-server", "--port", "1", "--port", "2"],
                  "given more than once"),
    # Apache's own user is never replaced by the backend's header.
    "reflect-with-auth": (lambda w: ["start-server", "--reflect-auth", "--proxy-to",
                                     "http://127.0.0.1:9/", "--auth-user-script", w / "auth.py"],
                          "--reflect-auth and --auth-user-script exclude each other"),
    "proxy-user-header-without-proxy": (lambda w: ["start-server", "--auth-user-script",
                                                   w / "auth.py", "--proxy-user-header", "X-U"],
                                        "--proxy-user-header needs --proxy-to"),
    "proxy-user-header-without-auth": (lambda w: ["start-server", "--proxy-to",
                                                  "http://127.0.0.1:9/",
                                                  "--proxy-user-header", "X-U"],
                                       "and --auth-user-script"),
    "proxy-user-header-bad-name": (lambda w: ["start-server", "--proxy-to", "http://127.0.0.1:9/",
                                              "--auth-user-script", w / "auth.py",
                                              "--proxy-user-header", "X:U"],
                                   "--proxy-user-header: "),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_options_fail_with_a_message(work, case):
    make_args, message = BAD_OPTIONS[case]
    root = work / f"never-{case}"
    args = [str(a) for a in make_args(work)]
    if args and args[0] in ("start-server", "setup-server"):
        args[1:1] = ["--server-root", str(root)]
    p = express(*args, timeout=30)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "authnz-wsgi-express: error:" in p.stderr
    assert message in p.stderr, p.stderr
    assert not root.exists(), "nothing is written for bad options"
    assert not processes_with(str(root / "httpd.conf"))


# ---- start-server, end to end --------------------------------------------------

def test_basic_in_front_of_a_proxied_backend(work, backend):
    with Express(work, "--proxy-to", backend, "--auth-user-script", work / "auth.py") as srv:
        status, _, body = get(srv.url + "/app/page?x=1",
                              {"Authorization": basic_header("alice", "alice-pw")})
        assert (status, body) == (200, "backend saw /app/page?x=1\n")
        status, headers, _ = get(srv.url + "/app/page",
                                 {"Authorization": basic_header("alice", "wrong")})
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Basic realm="Restricted"'
        assert get(srv.url + "/", {"Authorization": basic_header("mallory", "x")})[0] == 401
        assert get(srv.url + "/")[0] == 401
        log = srv.access_log(wait_for='"GET /app/page?x=1 HTTP/1.1" 200')
        assert any(line.startswith("127.0.0.1 - alice [") and
                   '"GET /app/page?x=1 HTTP/1.1" 200' in line for line in log.splitlines()), log
        assert srv.stop() == 0
        assert wait_gone(str(srv.conf)) == []


def test_digest_in_front_of_a_proxied_backend(work, backend):
    realm = "express digest"
    with Express(work, "--proxy-to", backend, "--auth-user-script", work / "auth.py",
                 "--auth-type", "Digest", "--auth-realm", realm) as srv:
        assert get_digest(srv.url + "/d", "bob", "bob-pw", realm) == (200, "backend saw /d\n")
        assert get_digest(srv.url + "/d", "bob", "wrong", realm)[0] == 401
        assert get_digest(srv.url + "/d", "nobody-here", "x", realm)[0] == 401
        status, headers, _ = get(srv.url + "/d")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Digest ")


def test_groups_admit_only_members(work):
    """The trap of docs/authorization.md#the-requireany-trap: bob is a valid user but not an admin and must not get in."""
    with Express(work, "--document-root", work / "my docs", "--auth-user-script",
                 work / "auth.py", "--auth-group-script", work / "groups.py",
                 "--auth-group", "admins") as srv:
        status, _, body = get(srv.url + "/", {"Authorization": basic_header("alice", "alice-pw")})
        assert (status, body) == (200, "static page\n")
        # A logged-in user outside the group: 403, not a new password prompt.
        status, headers, _ = get(srv.url + "/", {"Authorization": basic_header("bob", "bob-pw")})
        assert status == 403 and "WWW-Authenticate" not in headers
        assert get(srv.url + "/", {"Authorization": basic_header("alice", "bad")})[0] == 401


def test_the_backend_learns_the_user_from_the_proxy_user_header(work, backend):
    with Express(work, "--proxy-to", backend, "--auth-user-script", work / "auth.py",
                 "--proxy-user-header", "X-Remote-User") as srv:
        forged = {"X-Remote-User": "mallory", "X_Remote_User": "mallory",
                  "Authorization": basic_header("alice", "alice-pw")}
        status, _, body = get(srv.url + "/whoami", forged)
        # Only the user Apache authenticated, once, under the header's name.
        assert (status, body) == (200, "backend saw X-Remote-User=alice\n")
        status, _, body = get(srv.url + "/whoami",
                              {"Authorization": basic_header("bob", "bob-pw")})
        assert (status, body) == (200, "backend saw X-Remote-User=bob\n")
        # Without a login nothing reaches the backend.
        assert get(srv.url + "/whoami", {"X-Remote-User": "mallory"})[0] == 401


def test_host_access_and_identity_reflection(work, backend):
    with Express(work, "--proxy-to", backend, "--host-access-script", work / "hosts.py",
                 "--reflect-auth") as srv:
        status, headers, body = get(srv.url + "/reflect")
        assert (status, body) == (200, "backend saw /reflect\n")
        assert "X-Remote-User" not in headers
        assert " carol [" in srv.access_log(wait_for=" carol [")
        assert get(srv.url + "/reflect", {"X-Deny": "1"})[0] == 403


def test_the_interpreter_of_the_launched_server_ignores_python_variables(work):
    """PYTHONPATH in the launcher's environment reaches Apache, whose
    interpreter does not read it: its sitecustomize.py never runs."""
    planted = work / "planted"
    planted.mkdir(exist_ok=True)
    os.chmod(planted, 0o777)
    canary = planted / "canary"
    (planted / "sitecustomize.py").write_text(f"open({str(canary)!r}, 'w').close()\n")
    os.chmod(planted / "sitecustomize.py", 0o644)
    with Express(work, "--document-root", work / "my docs", "--auth-user-script",
                 work / "auth.py", "--module", MODULE_SO,
                 env={"PYTHONPATH": str(planted)}) as srv:
        status, _, body = get(srv.url + "/", {"Authorization": basic_header("alice", "alice-pw")})
        assert (status, body) == (200, "static page\n")
        assert get(srv.url + "/", {"Authorization": basic_header("alice", "bad")})[0] == 401
    assert not canary.exists()


def test_example_page_when_nothing_to_serve_is_given(work):
    with Express(work, "--mpm", "prefork", "--log-to-terminal") as srv:
        status, _, body = get(srv.url + "/")
        assert status == 200 and "It works" in body
        # --log-to-terminal: the access log goes to the launcher's stdout
        # (written after the response, so wait for it).
        deadline = time.time() + 5
        while '"GET / HTTP/1.1" 200' not in srv.output() and time.time() < deadline:
            time.sleep(0.05)
        assert '"GET / HTTP/1.1" 200' in srv.output()
        assert not (srv.root / "access_log").exists()


@pytest.mark.parametrize("sig,mpm", [(signal.SIGTERM, "event"), (signal.SIGINT, "event"),
                                     (signal.SIGTERM, "prefork"), (signal.SIGINT, "worker")],
                         ids=["TERM-event", "INT-event", "TERM-prefork", "INT-worker"])
def test_signal_stops_apache_and_leaves_nothing(work, sig, mpm):
    with Express(work, "--mpm", mpm, "--auth-user-script", work / "auth.py") as srv:
        assert get(srv.url + "/", {"Authorization": basic_header("alice", "alice-pw")})[0] == 200
        assert len(processes_with(str(srv.conf))) >= 2  # parent and children
        assert srv.stop(sig) == 0
        assert wait_gone(str(srv.conf)) == []
        assert not (srv.root / "httpd.pid").exists()
        assert "shutting down" in srv.output()


def test_exit_status_is_apaches_when_it_cannot_start(work):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        root = work / f"busy-{port}"
        p = express("start-server", "--port", port, "--server-root", root, timeout=60)
    assert p.returncode != 0
    assert "Address already in use" in p.stderr, p.stderr
    assert wait_gone(str(root / "httpd.conf")) == []
