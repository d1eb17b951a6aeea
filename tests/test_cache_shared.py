"""A cache shared by a fleet (docs/caching.md): two Apache servers whose
mod_authn_socache uses one store, run twice: against one memcached
(`AuthnCacheSOCache memcache:...`, mod_socache_memcache) and against one
redis-server (`AuthnCacheSOCache redis:...`, mod_socache_redis). Each store
is a process of the test's own on a free 127.0.0.1 port, not a system
service. A login checked by Python on the first server is answered by the
second without calling Python, for Basic and Digest. What the store holds is
read back raw: a salted hash for Basic (never the password) — `$sha1$` by
default, bcrypt where `WSGISocacheHash bcrypt` says so — and the realm hash
for Digest. Then: entries expire after AuthnCacheTimeout (in the store and
for both servers), a restarted (emptied) store is used again, and with the
store unreachable logins still work through Python."""

import ctypes
import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from harness import Apache, free_port

REALM = "shared realm"
TIMEOUT = 60

SCRIPT = """
import hashlib, json, os

_PASSWORDS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "passwords.json")

def _passwords():
    with open(_PASSWORDS, encoding="utf-8") as f:
        return json.load(f)

def check_password(environ, user, password):
    record("basic", user=user)
    expected = _passwords().get(user)
    if expected is None:
        return None
    return password == expected

def get_realm_hash(environ, user, realm):
    record("digest", user=user)
    expected = _passwords().get(user)
    if expected is None:
        return None
    return hashlib.md5(f"{user}:{realm}:{expected}".encode()).hexdigest()
"""

PASSWORDS = {"alice": "alice-pw", "dora": "dora-pw", "walt": "walt-pw", "erin": "erin-pw",
             "fred": "fred-pw", "gina": "gina-pw"}
SHORT_TIMEOUT = 2  # seconds, for /shared-short


def _run_user(*names):
    for name in names:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    return "nobody"


class Store:
    """memcached or redis-server on a free 127.0.0.1 port, started and
    stopped by the test; get and delete speak its protocol raw."""

    def __init__(self, kind):
        self.kind = kind
        self.port = free_port()
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix=f"authnz-wsgi-{kind}-")
        os.chmod(self.dir, 0o755)

    @property
    def socache(self):
        return ("memcache" if self.kind == "memcached" else "redis") + f":127.0.0.1:{self.port}"

    @property
    def module(self):
        return "socache_memcache" if self.kind == "memcached" else "socache_redis"

    @property
    def directives(self):
        # mod_socache_redis's own: how long an idle connection is kept, and
        # the read/write timeout (seconds).
        return "RedisConnPoolTTL 15\nRedisTimeout 2\n" if self.kind == "redis" else ""

    def start(self):
        binary = "memcached" if self.kind == "memcached" else "redis-server"
        if shutil.which(binary) is None:
            pytest.fail(f"{binary} is not installed (apt-get install {binary})")
        if self.kind == "memcached":
            argv = ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "16",
                    "-u", _run_user("memcache")]
            user = None
        else:
            # No persistence: a restart empties it, as a restarted memcached is.
            argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
                    "--save", "", "--appendonly", "no", "--dir", self.dir,
                    "--logfile", "", "--daemonize", "no"]
            user = _run_user("redis")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     user=user, cwd=self.dir)
        deadline = time.time() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.proc.kill()
                    pytest.fail(f"{binary} did not start")
                time.sleep(0.05)

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def _command(self, line, done):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(line + b"\r\n")
            data = b""
            while not done(data):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data

    def get(self, key):
        """The raw value stored under key; None when absent."""
        if self.kind == "memcached":
            data = self._command(b"get " + key, lambda d: d.endswith(b"END\r\n"))
            if data.startswith(b"END"):
                return None
            header, rest = data.split(b"\r\n", 1)
            return rest[:int(header.split()[3])]

        def complete(d):
            if not d.endswith(b"\r\n"):
                return False
            if d.startswith(b"$-1") or not d.startswith(b"$"):
                return True
            return len(d) >= len(d.split(b"\r\n", 1)[0]) + 2 + int(d[1:d.index(b"\r\n")]) + 2

        data = self._command(b"GET " + key, complete)
        if data.startswith(b"$-1"):
            return None
        assert data.startswith(b"$"), data
        header, rest = data.split(b"\r\n", 1)
        return rest[:int(header[1:])]

    def delete(self, key):
        self._command((b"delete " if self.kind == "memcached" else b"DEL ") + key,
                      lambda d: d.endswith(b"\r\n"))

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module", params=["memcached", "redis"])
def store(request):
    """The shared store: memcached, then redis-server."""
    store = Store(request.param)
    store.start()
    try:
        yield store
    finally:
        store.cleanup()


def make_server(name, store):
    server = Apache(
        name=name,
        modules=["authn_socache", store.module],
        server_conf=f"AuthnCacheSOCache {store.socache}\n" + store.directives +
                    "LogLevel info authnz_wsgi:debug authn_socache:debug\n",
    )
    script = server.write_script("users.py", SCRIPT)
    passwords = server.dir / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    os.chmod(passwords, 0o644)
    server.site_conf = f"""
    <Location /shared>
      AuthType Basic
      AuthName "{REALM}"
      AuthBasicProvider socache wsgi
      AuthnCacheProvideFor wsgi
      AuthnCacheTimeout {TIMEOUT}
      WSGIAuthUserScript "{script}"
      Require valid-user
    </Location>
    <Location /shared-bcrypt>
      AuthType Basic
      AuthName "{REALM}"
      AuthBasicProvider socache wsgi
      AuthnCacheProvideFor wsgi
      AuthnCacheTimeout {TIMEOUT}
      WSGISocacheHash bcrypt
      WSGIAuthUserScript "{script}"
      Require valid-user
    </Location>
    <Location /shared-short>
      AuthType Basic
      AuthName "{REALM}"
      AuthBasicProvider socache wsgi
      AuthnCacheProvideFor wsgi
      AuthnCacheTimeout {SHORT_TIMEOUT}
      WSGIAuthUserScript "{script}"
      Require valid-user
    </Location>
    <Location /shared-digest>
      AuthType Digest
      AuthName "{REALM}"
      AuthDigestProvider socache wsgi
      AuthnCacheProvideFor wsgi
      AuthnCacheTimeout {TIMEOUT}
      WSGIAuthUserScript "{script}"
      Require valid-user
    </Location>
    """
    for d in ("shared", "shared-bcrypt", "shared-short", "shared-digest"):
        (server.docroot / d).mkdir()
        (server.docroot / d / "index.html").write_text(f"{d} on {name}\n")
    return server


@pytest.fixture(scope="module")
def fleet(store):
    first = make_server("fleet-one", store)
    second = make_server("fleet-two", store)
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        first.cleanup()
        second.cleanup()


def socache_key(context, user, realm=None):
    """mod_authn_socache's key (context:user[:realm]) as mod_socache_memcache
    and mod_socache_redis name it: its namespace tag, then the key bytes in
    hex."""
    raw = f"{context}:{user}" + (f":{realm}" if realm is not None else "")
    return b"authn-socache:" + raw.encode().hex().encode()


def apr_password_validate(password, hashed):
    """The very function mod_authn_socache uses (through ap_password_validate)."""
    apr = ctypes.CDLL("libapr-1.so.0")
    apr.apr_initialize()
    aprutil = ctypes.CDLL("libaprutil-1.so.0")
    aprutil.apr_password_validate.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return aprutil.apr_password_validate(password.encode(), hashed) == 0


def calls(server, user, kind="basic"):
    return [c for c in server.records(kind) if c["user"] == user]


def digest_get(server, user, password):
    return server.open_with_handler("/shared-digest/index.html",
                                    urllib.request.HTTPDigestAuthHandler, user, password,
                                    REALM).status


def test_second_server_answers_basic_without_python(fleet, store):
    first, second = fleet
    assert first.get_basic("/shared/index.html", "alice", "alice-pw").status == 200
    assert len(calls(first, "alice")) == 1
    for _ in range(3):
        assert second.get_basic("/shared/index.html", "alice", "alice-pw").status == 200
    assert calls(second, "alice") == []
    # The cache entry does not accept another password.
    assert second.get_basic("/shared/index.html", "alice", "wrong").status == 401
    assert calls(second, "alice") == []


def test_second_server_answers_digest_without_python(fleet, store):
    first, second = fleet
    assert digest_get(first, "dora", "dora-pw") == 200
    assert len(calls(first, "dora", "digest")) == 1
    for _ in range(3):
        assert digest_get(second, "dora", "dora-pw") == 200
    assert calls(second, "dora", "digest") == []
    assert digest_get(second, "dora", "wrong") == 401


SHA1_CRYPT = re.compile(rb"\$sha1\$1\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{28}")
BCRYPT = re.compile(rb"\$2y\$04\$[./0-9A-Za-z]{53}")


@pytest.mark.parametrize("location,form", [("shared", SHA1_CRYPT), ("shared-bcrypt", BCRYPT)],
                         ids=["sha1-crypt", "bcrypt"])
def test_the_store_holds_a_salted_hash_not_the_password(fleet, store, location, form):
    first, second = fleet
    key = socache_key(f"127.0.0.1/{location}", "alice")
    store.delete(key)
    path = f"/{location}/index.html"
    before = len(calls(first, "alice"))
    assert first.get_basic(path, "alice", "alice-pw").status == 200
    assert len(calls(first, "alice")) == before + 1
    # AuthnCacheContext "directory": ServerName plus the URI's directory.
    value = store.get(key)
    assert value is not None
    assert form.fullmatch(value), value
    assert b"alice-pw" not in value
    assert apr_password_validate("alice-pw", value)
    assert not apr_password_validate("alice-pwx", value)
    # The second server answers from exactly this entry.
    before_second = len(calls(second, "alice"))
    assert second.get_basic(path, "alice", "alice-pw").status == 200
    assert second.get_basic(path, "alice", "alice-pwx").status == 401
    assert len(calls(second, "alice")) == before_second
    # Salted: a second store of the same password is a different string.
    store.delete(key)
    assert first.get_basic(path, "alice", "alice-pw").status == 200
    again = store.get(key)
    assert again is not None and again != value and form.fullmatch(again)
    assert apr_password_validate("alice-pw", again)


def test_the_store_holds_the_realm_hash_for_digest(fleet, store):
    first, _ = fleet
    assert digest_get(first, "dora", "dora-pw") == 200
    value = store.get(socache_key("127.0.0.1/shared-digest", "dora", REALM))
    assert value == hashlib.md5(f"dora:{REALM}:dora-pw".encode()).hexdigest().encode()


def test_wrong_passwords_reach_python_and_the_store_never_sees_them(fleet, store):
    first, second = fleet
    for server in (first, second):
        for i in range(2):
            assert server.get_basic("/shared/index.html", "walt", "wrong").status == 401
    assert len(calls(first, "walt")) == 2
    assert len(calls(second, "walt")) == 2
    assert store.get(socache_key("127.0.0.1/shared", "walt")) is None


def test_graceful_restart_refetches_the_store_function(fleet, store):
    first, second = fleet
    first.graceful()
    store.delete(socache_key("127.0.0.1/shared", "alice"))
    before = len(calls(first, "alice"))
    assert first.get_basic("/shared/index.html", "alice", "alice-pw").status == 200
    assert len(calls(first, "alice")) == before + 1
    assert store.get(socache_key("127.0.0.1/shared", "alice")) is not None
    second_before = len(calls(second, "alice"))
    assert second.get_basic("/shared/index.html", "alice", "alice-pw").status == 200
    assert len(calls(second, "alice")) == second_before


def test_entries_expire_in_the_store_and_on_both_servers(fleet, store):
    first, second = fleet
    path = "/shared-short/index.html"
    key = socache_key("127.0.0.1/shared-short", "erin")
    assert first.get_basic(path, "erin", "erin-pw").status == 200
    assert len(calls(first, "erin")) == 1
    assert store.get(key) is not None
    assert second.get_basic(path, "erin", "erin-pw").status == 200
    assert calls(second, "erin") == []
    time.sleep(SHORT_TIMEOUT + 1.5)
    # The store dropped it, and each server asks Python again.
    assert store.get(key) is None
    assert second.get_basic(path, "erin", "erin-pw").status == 200
    assert len(calls(second, "erin")) == 1
    assert first.get_basic(path, "erin", "erin-pw").status == 200
    assert len(calls(first, "erin")) == 1  # answered from the entry second just stored


def test_a_restarted_store_is_used_again(fleet, store):
    """The store restarts empty on the same port. The connections each
    child kept fail, APR marks the server dead and tries it again a little
    later: meanwhile logins go to Python and are answered. Then the entry
    one server stores answers the other again without Python."""
    first, second = fleet
    key = socache_key("127.0.0.1/shared", "fred")
    store.stop()
    store.start()
    assert store.get(key) is None
    deadline = time.time() + 30
    logins = 0
    while store.get(key) is None:
        assert time.time() < deadline, "no server stored an entry after the restart"
        assert first.get_basic("/shared/index.html", "fred", "fred-pw").status == 200
        logins += 1
        time.sleep(0.1)
    # Until then (APR retries a server it marked dead only after a while)
    # every login was answered by Python.
    assert len(calls(first, "fred")) == logins
    # Each child process (and each connection it pools) of the second
    # server finds its old connection dead once: those logins go to Python.
    deadline = time.time() + 30
    while True:
        before = len(calls(second, "fred"))
        assert second.get_basic("/shared/index.html", "fred", "fred-pw").status == 200
        if len(calls(second, "fred")) == before:
            break
        assert time.time() < deadline, "the second server never answered from the store again"
        time.sleep(0.1)


# What httpd's own modules log for a login while the store is down: the
# lookup (mod_socache_memcache AH00791 / mod_socache_redis AH03479, then
# mod_authn_socache AH01686) and the store after Python granted
# (AH00790 / AH03478, then mod_authn_socache AH01682).
STORE_FAILURE_CODES = {
    "memcached": {"lookup": ("AH00791", "AH01686"), "store": ("AH00790", "AH01682")},
    "redis": {"lookup": ("AH03479", "AH01686"), "store": ("AH03478", "AH01682")},
}
UNREACHABLE_LOGINS = 8


def store_error_lines(text):
    """The error log's lines about the store failing."""
    codes = {c for kinds in STORE_FAILURE_CODES.values() for pair in kinds.values() for c in pair}
    return [line for line in text.splitlines() if any(f"{code}:" in line for code in codes)]


def _unreachable(fleet, store):
    first, _ = fleet
    store.stop()
    try:
        mark = len(first.error_log())
        before = len(calls(first, "gina"))
        statuses = [first.get_basic("/shared/index.html", "gina", "gina-pw").status
                    for _ in range(UNREACHABLE_LOGINS)]
        python_calls = len(calls(first, "gina")) - before
        new = first.error_log()[mark:]
    finally:
        store.start()
    return statuses, python_calls, store_error_lines(new)


def test_with_the_store_unreachable_logins_still_work(fleet, store):
    """Logins are answered by Python, and httpd's modules log the failure
    (how often is what the xfail below is about)."""
    statuses, python_calls, lines = _unreachable(fleet, store)
    assert statuses == [200] * UNREACHABLE_LOGINS
    # Every login asked Python: nothing could be cached.
    assert python_calls == UNREACHABLE_LOGINS
    # Which of httpd's lines appear depends on the state of APR's connection to
    # the store (a lookup on a connection APR already marked dead logs nothing;
    # the store that follows does), so any of the store's failure lines counts.
    codes = [c for pair in STORE_FAILURE_CODES[store.kind].values() for c in pair]
    assert lines and all(any(f"{c}:" in line for c in codes) for line in lines), lines


@pytest.mark.xfail(strict=True, reason=(
    "mod_socache_memcache and mod_socache_redis log failed lookups and stores at "
    "error/crit level per request (AH00791/AH00790, AH03479/AH03478), and mod_authn_socache "
    "adds AH01686/AH01682 for each: up to four lines per login while the store is down (fewer "
    "once APR has marked the server dead in a connection pool), for both stores. The lookup "
    "runs in httpd's socache provider before this module is asked, and the store's result "
    "never reaches it (ap_authn_cache_store returns nothing), so the module cannot hold "
    "those lines back."))
def test_an_unreachable_store_is_logged_once_not_per_request(fleet, store):
    _statuses, _calls, lines = _unreachable(fleet, store)
    assert len(lines) == 1, lines
