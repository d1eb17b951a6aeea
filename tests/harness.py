"""Real-Apache test harness: writes an httpd config into a private directory,
starts Debian's apache2 in the foreground on a free 127.0.0.1 port, and reads
back what the error log, the access log and the Python scripts recorded.

Nothing here imitates httpd: every request in the test suite goes through the
real server with mod_authnz_wsgi loaded.
"""

import base64
import hashlib
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULE_SO = Path(os.environ.get("AUTHNZ_WSGI_SO", ROOT / "target/release/libmod_authnz_wsgi.so"))
APACHE_BIN = os.environ.get("APACHE_BIN", "/usr/sbin/apache2")
MODULE_DIR = Path("/usr/lib/apache2/modules")
# Scripts for configuration checks (check_password.py is a good one).
CONFIG_SCRIPTS = ROOT / "tests" / "scripts" / "config"
RUN_USER = "www-data"

# Modules every test server loads (Debian compiles log_config, unixd and so in).
BASE_MODULES = [
    "authn_core",
    "authz_core",
    "authz_user",
    "authz_host",
    "auth_basic",
    "auth_digest",
    "dir",
    "mime",
    "alias",
    "env",
    "headers",
]

# Prepended to test scripts by write_script(record=True): `record(name, **fields)`
# appends a JSON line to record/<name>.jsonl, which the test reads back.
RECORD_SNIPPET = """\
import json as _json, os as _os
_RECORD_DIR = _os.path.join(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))), "record")
def record(_name="calls", **fields):
    with open(_os.path.join(_RECORD_DIR, _name + ".jsonl"), "a", encoding="utf-8") as f:
        f.write(_json.dumps(fields) + "\\n")
"""

# The client's port first: it tells which line is which request's
# (`Apache.access_entry`).
LOG_FORMAT = '"%{remote}p|%>s|%u|%m|%U%q|%{AUTH_TYPE}e"'


def records(root, name="calls"):
    """JSON lines a test script appended to `root`/record/<name>.jsonl."""
    path = Path(root) / "record" / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def clear_records(root, name="calls"):
    (Path(root) / "record" / f"{name}.jsonl").unlink(missing_ok=True)


def basic_location(directive, path="/private"):
    """A <Location> asking for Basic credentials of the wsgi provider, with
    `directive` (a script line) in it."""
    return f"""
<Location {path}>
  AuthType Basic
  AuthName "check"
  AuthBasicProvider wsgi
  {directive}
  Require valid-user
</Location>
"""


def config_check_server(name):
    """An Apache whose configuration is only ever checked with `apache2 -t`;
    `.good` is a good check_password script."""
    srv = Apache(name=name)
    srv.good = srv.write_script("good.py", (CONFIG_SCRIPTS / "check_password.py").read_text())
    return srv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def basic_header(user, password):
    """An Authorization header value from raw bytes or str (UTF-8)."""
    if isinstance(user, str):
        user = user.encode()
    if isinstance(password, str):
        password = password.encode()
    return "Basic " + base64.b64encode(user + b":" + password).decode("ascii")


def digest_header(server, path, user, password, realm):
    """A Digest Authorization header (MD5, qop=auth) for GET `path`, from a
    fresh challenge of `server`. Under `AuthDigestNonceLifetime -1` it stays
    valid for every later request: httpd 2.4 does not check nonce counts."""
    challenge = server.request(path).headers.get("WWW-Authenticate", "")
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    nonce = fields["nonce"]
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"GET:{path}".encode()).hexdigest()
    nc, cnonce = "00000001", "0a4f113b5c6d7e8f"
    response = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    header = (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{path}", '
              f'algorithm=MD5, response="{response}", qop=auth, nc={nc}, cnonce="{cnonce}"')
    if "opaque" in fields:
        header += f', opaque="{fields["opaque"]}"'
    return header


def port_recording_handlers(ports, context=None):
    """urllib handlers (http, and https with `context`) that append the
    client port of each connection they open to `ports`: the port names the
    request's access-log line (`Apache.access_entry`)."""

    def recording(base):
        class Connection(base):
            def connect(self):
                super().connect()
                ports.append(self.sock.getsockname()[1])
        return Connection

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(recording(http.client.HTTPConnection), req)

    class TLSHandler(urllib.request.HTTPSHandler):
        def __init__(self):
            super().__init__(context=context)

        def https_open(self, req):
            return self.do_open(recording(http.client.HTTPSConnection), req,
                                context=self._context, check_hostname=self._check_hostname)

    return [Handler, TLSHandler()] if context is not None else [Handler]


class Response:
    def __init__(self, status, headers, body, port=None, mark=0):
        self.status = status
        self.headers = headers
        self.body = body
        # The client's port for the request that got this response, and how
        # many access-log lines there were before it was sent.
        self.port = port
        self.mark = mark
        # Sent with X-Forwarded-For: where mod_remoteip takes the client's
        # address from it, %{remote}p is 0 (`Apache.access_entry`).
        self.forwarded = False

    def __repr__(self):
        return f"<Response {self.status}>"


class Apache:
    """One apache2 instance with its own ServerRoot, logs and port."""

    def __init__(self, mpm="event", modules=(), server_conf="", site_conf="", name="httpd",
                 load_authnz_wsgi=True, environment=None):
        self.mpm = mpm
        # Extra environment variables for apache2 (e.g. LD_PRELOAD).
        self.environment = dict(environment or {})
        self.load_authnz_wsgi = load_authnz_wsgi
        self.modules = list(BASE_MODULES) + [m for m in modules if m not in BASE_MODULES]
        self.server_conf = server_conf
        self.site_conf = site_conf
        self.dir = Path(tempfile.mkdtemp(prefix=f"authnz-wsgi-{name}-"))
        os.chmod(self.dir, 0o755)
        self.docroot = self.dir / "htdocs"
        self.docroot.mkdir()
        (self.docroot / "index.html").write_text("hello from the protected site\n")
        (self.docroot / "private").mkdir()
        (self.docroot / "private" / "index.html").write_text("private index\n")
        self.scripts = self.dir / "scripts"
        self.scripts.mkdir()
        # Python scripts record what they saw here; the child runs as www-data.
        self.record_dir = self.dir / "record"
        self.record_dir.mkdir()
        os.chmod(self.record_dir, 0o777)
        (self.dir / "logs").mkdir()
        (self.dir / "run").mkdir()
        self.port = free_port()
        self.proc = None

    # ---- files -------------------------------------------------------------
    def write_script(self, name, body, record=True):
        """Write a Python script (dedented) readable by the child user; with
        `record`, the script can call `record(name, **fields)`."""
        path = self.scripts / name
        path.write_text((RECORD_SNIPPET if record else "") + textwrap.dedent(body))
        os.chmod(path, 0o644)
        return path

    @property
    def conf_path(self):
        return self.dir / "httpd.conf"

    @property
    def error_log_path(self):
        return self.dir / "logs" / "error.log"

    @property
    def access_log_path(self):
        return self.dir / "logs" / "access.log"

    def config_text(self):
        loads = "\n".join(
            f"LoadModule {m}_module {MODULE_DIR}/mod_{m}.so" for m in self.modules
        )
        return textwrap.dedent(
            f"""\
            ServerRoot "{self.dir}"
            ServerName 127.0.0.1
            Listen 127.0.0.1:{self.port}
            PidFile "{self.dir}/run/httpd.pid"
            DefaultRuntimeDir "{self.dir}/run"
            LoadModule mpm_{self.mpm}_module {MODULE_DIR}/mod_mpm_{self.mpm}.so
            """
        ) + loads + "\n" + (
            f'LoadModule authnz_wsgi_module "{MODULE_SO}"\n' if self.load_authnz_wsgi else ""
        ) + textwrap.dedent(
            f"""\
            User {RUN_USER}
            Group {RUN_USER}
            ErrorLog "{self.error_log_path}"
            LogLevel info
            LogFormat {LOG_FORMAT} test
            CustomLog "{self.access_log_path}" test
            DocumentRoot "{self.docroot}"
            DirectoryIndex index.html
            TypesConfig /etc/mime.types
            Timeout 30
            """
        ) + self.server_conf + "\n" + self.site_conf + "\n"

    def write_config(self):
        self.conf_path.write_text(self.config_text())

    # ---- lifecycle ---------------------------------------------------------
    def configtest(self):
        """Run `apache2 -t` on the config; returns (returncode, output)."""
        self.write_config()
        p = subprocess.run(
            [APACHE_BIN, "-t", "-f", str(self.conf_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return p.returncode, p.stdout + p.stderr

    def syntax_error(self, directive_line):
        """`apache2 -t` fails at `directive_line` with httpd's "Syntax error
        on line N of FILE:" (N and FILE that line's and the config file's);
        returns the message after it."""
        code, output = self.configtest()
        assert code != 0, output
        lines = self.conf_path.read_text().splitlines()
        expected = next(i for i, l in enumerate(lines, 1) if l.strip() == directive_line.strip())
        m = re.search(r"Syntax error on line (\d+) of (\S+):\n(.*)", output)
        assert m, output
        assert (int(m.group(1)), m.group(2)) == (expected, str(self.conf_path)), output
        return m.group(3)

    def start(self, timeout=20):
        self.write_config()
        self.stderr_path = self.dir / "logs" / "stderr.log"
        self.proc = subprocess.Popen(
            [APACHE_BIN, "-f", str(self.conf_path), "-DFOREGROUND"],
            stdout=open(self.stderr_path, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **self.environment},
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"apache2 exited with {self.proc.returncode}:\n"
                    + self.stderr_path.read_text(errors="replace")
                    + self.error_log()
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("apache2 did not start listening in time:\n" + self.error_log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def graceful(self, timeout=20):
        """SIGUSR1: graceful restart; waits until the server answers again."""
        before = self.error_log().count("resuming normal operations")
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.error_log().count("resuming normal operations") > before:
                return
            time.sleep(0.05)
        raise RuntimeError("graceful restart did not complete:\n" + self.error_log())

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.cleanup()

    # ---- observations ------------------------------------------------------
    def error_log(self):
        try:
            return self.error_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def child_pids(self):
        return child_pids(self.proc.pid)

    def error_lines(self, needle):
        return [l for l in self.error_log().splitlines() if needle in l]

    def access_entries(self):
        """Parsed access-log lines: dicts with port (the client's), status,
        user, method, uri, auth_type."""
        try:
            text = self.access_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        entries = []
        for line in text.splitlines():
            port, status, user, method, uri, auth_type = line.strip('"').split("|", 5)
            entries.append(
                {"port": int(port), "status": int(status), "user": user, "method": method,
                 "uri": uri, "auth_type": auth_type}
            )
        return entries

    def wait_access(self, count, timeout=5):
        """The access log is written after the response: wait for `count` entries."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            entries = self.access_entries()
            if len(entries) >= count:
                return entries
            time.sleep(0.02)
        return self.access_entries()

    def access_count(self):
        """How many lines the access log has (for a Response's `mark`)."""
        try:
            return self.access_log_path.read_bytes().count(b"\n")
        except FileNotFoundError:
            return 0

    def _mark_access(self):
        """Before a request made without this class's clients: remember how
        many access-log lines exist, so `last_access` reads only later ones."""
        self._access_mark = self.access_count()
        self._last_response = None

    def access_entry(self, resp, timeout=5):
        """The access-log entry of the request that got `resp` (from
        `request`, `get_basic`, `curl` or `open_with_handler`): the line with
        its client port and status (for another client, a Response with
        `port` and `mark` set). The log phase runs after the response is
        sent, so wait for the line; None if it never comes."""
        deadline = time.time() + timeout
        while True:
            entries = self.access_entries()[resp.mark:]
            ports = (resp.port, 0) if resp.forwarded else (resp.port,)
            mine = [e for e in entries if e["port"] in ports]
            # Requests on one connection (a challenge and its answer) share
            # the port: the last one is the one whose status the client saw.
            if mine and mine[-1]["status"] == resp.status:
                return mine[-1]
            if time.time() > deadline:
                return mine[-1] if mine else None
            time.sleep(0.02)

    def last_access(self, status=None, timeout=5):
        """The access-log entry of the latest request made through this
        class's clients (`access_entry`). After `_mark_access` (a request
        made some other way), the newest entry written since, waiting (with
        `status`) until the newest entry has that status."""
        resp = getattr(self, "_last_response", None)
        if resp is not None:
            return self.access_entry(resp, timeout)
        mark = getattr(self, "_access_mark", 0)
        deadline = time.time() + timeout
        while True:
            entries = self.access_entries()
            if len(entries) > mark and (status is None or entries[-1]["status"] == status):
                return entries[-1]
            if time.time() > deadline:
                return entries[-1] if entries else None
            time.sleep(0.02)

    def records(self, name="calls"):
        """JSON lines a test script appended to record/<name>.jsonl."""
        return records(self.dir, name)

    def clear_records(self, name="calls"):
        clear_records(self.dir, name)

    # ---- clients -----------------------------------------------------------
    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def open(self, req, *handlers, timeout=30):
        """Open `req` through urllib with `handlers`; the Response carries the
        client port of the last connection (the one whose response it is)."""
        ports = []
        opener = urllib.request.build_opener(*port_recording_handlers(ports), *handlers)
        mark = self.access_count()
        try:
            with opener.open(req, timeout=timeout) as resp:
                result = Response(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as e:
            result = Response(e.code, dict(e.headers), e.read())
        result.port, result.mark = ports[-1], mark
        result.forwarded = req.has_header("X-forwarded-for")
        self._last_response = result
        return result

    def request(self, path="/", headers=None, method="GET", timeout=30):
        """A plain request through urllib with explicit headers (no auth handler)."""
        req = urllib.request.Request(self.url(path), headers=headers or {}, method=method)
        return self.open(req, timeout=timeout)

    def get_basic(self, path, user, password, **kw):
        """A request carrying a Basic Authorization header built from raw bytes."""
        headers = dict(kw.pop("headers", {}) or {})
        headers["Authorization"] = basic_header(user, password)
        return self.request(path, headers=headers, **kw)

    def curl(self, *args):
        """Run curl against this server; returns (http_status, stdout_text).
        `last_access` then reads the line of curl's last request."""
        mark = self.access_count()
        p = subprocess.run(
            ["curl", "-sS", "-o", "/dev/stderr", "-w", "%{http_code} %{local_port}", *args],
            capture_output=True,
            timeout=60,
        )
        status, _, port = p.stdout.decode().partition(" ")
        self._last_response = Response(int(status or 0), {}, b"", int(port or 0), mark)
        return int(status or 0), p.stderr.decode(errors="replace")

    def open_with_handler(self, path, handler_cls, user, password, realm=None):
        """Python's own Basic/Digest handler, the way a real client logs in."""
        mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        mgr.add_password(realm, self.url("/"), user, password)
        return self.open(urllib.request.Request(self.url(path)), handler_cls(mgr))


def access_for(server, uri, timeout=10):
    """The access-log entry of the latest request for `uri`, waited for at
    most `timeout` seconds (the log phase writes it after the response);
    None if there is none."""
    deadline = time.time() + timeout
    while True:
        found = [e for e in server.access_entries() if e["uri"] == uri]
        if found or time.time() > deadline:
            return found[-1] if found else None
        time.sleep(0.02)


def wait_for(predicate, timeout=10, step=0.05):
    """`predicate()`'s value once it is true, or its value at the timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def child_pids(parent):
    """The pids of the processes whose parent is `parent`, in order."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command may contain spaces: fields after the closing paren.
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            pids.append(int(entry))
    return sorted(pids)


def run_user_ids():
    pw = pwd.getpwnam(RUN_USER)
    return pw.pw_uid, pw.pw_gid
