"""A cache shared by a fleet (docs/caching.md): two Apache servers whose
mod_authn_socache uses one memcached (`AuthnCacheSOCache memcache:...`).
A login checked by Python on the first server is answered by the second
without calling Python, for Basic and Digest. What memcached holds is read
back raw: a salted hash for Basic (never the password) — `$sha1$` by
default, bcrypt where `WSGISocacheHash bcrypt` says so — and the realm hash
for Digest."""

import ctypes
import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
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

PASSWORDS = {"alice": "alice-pw", "dora": "dora-pw", "walt": "walt-pw"}


@pytest.fixture(scope="module")
def memcached():
    if shutil.which("memcached") is None:
        pytest.fail("memcached is not installed (apt-get install memcached)")
    port = free_port()
    user = "memcache"
    try:
        pwd.getpwnam(user)
    except KeyError:
        user = "nobody"
    proc = subprocess.Popen(
        ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16", "-u", user],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("memcached did not start")
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def make_server(name, memcached_port):
    server = Apache(
        name=name,
        modules=["authn_socache", "socache_memcache"],
        server_conf=f"AuthnCacheSOCache memcache:127.0.0.1:{memcached_port}\n"
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
    for d in ("shared", "shared-bcrypt", "shared-digest"):
        (server.docroot / d).mkdir()
        (server.docroot / d / "index.html").write_text(f"{d} on {name}\n")
    return server


@pytest.fixture(scope="module")
def fleet(memcached):
    first = make_server("fleet-one", memcached)
    second = make_server("fleet-two", memcached)
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        first.cleanup()
        second.cleanup()


def memcached_get(port, key):
    """A raw `get` over the memcached text protocol; None when absent."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"get " + key + b"\r\n")
        data = b""
        while not (data.endswith(b"END\r\n")):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if data.startswith(b"END"):
        return None
    header, rest = data.split(b"\r\n", 1)
    length = int(header.split()[3])
    return rest[:length]


def socache_key(context, user, realm=None):
    """mod_authn_socache's key (context:user[:realm]) as mod_socache_memcache
    names it: its namespace tag, then the key bytes in hex."""
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


def test_second_server_answers_basic_without_python(fleet, memcached):
    first, second = fleet
    assert first.get_basic("/shared/index.html", "alice", "alice-pw").status == 200
    assert len(calls(first, "alice")) == 1
    for _ in range(3):
        assert second.get_basic("/shared/index.html", "alice", "alice-pw").status == 200
    assert calls(second, "alice") == []
    # The cache entry does not accept another password.
    assert second.get_basic("/shared/index.html", "alice", "wrong").status == 401
    assert calls(second, "alice") == []


def test_second_server_answers_digest_without_python(fleet, memcached):
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
def test_memcached_holds_a_salted_hash_not_the_password(fleet, memcached, location, form):
    first, second = fleet
    key = socache_key(f"127.0.0.1/{location}", "alice")
    memcached_delete(memcached, key)
    path = f"/{location}/index.html"
    before = len(calls(first, "alice"))
    assert first.get_basic(path, "alice", "alice-pw").status == 200
    assert len(calls(first, "alice")) == before + 1
    # AuthnCacheContext "directory": ServerName plus the URI's directory.
    value = memcached_get(memcached, key)
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
    memcached_delete(memcached, key)
    assert first.get_basic(path, "alice", "alice-pw").status == 200
    again = memcached_get(memcached, key)
    assert again is not None and again != value and form.fullmatch(again)
    assert apr_password_validate("alice-pw", again)


def test_memcached_holds_the_realm_hash_for_digest(fleet, memcached):
    first, _ = fleet
    assert digest_get(first, "dora", "dora-pw") == 200
    value = memcached_get(memcached, socache_key("127.0.0.1/shared-digest", "dora", REALM))
    assert value == hashlib.md5(f"dora:{REALM}:dora-pw".encode()).hexdigest().encode()


def test_wrong_passwords_reach_python_and_memcached_never_sees_them(fleet, memcached):
    first, second = fleet
    for server in (first, second):
        for i in range(2):
            assert server.get_basic("/shared/index.html", "walt", "wrong").status == 401
    assert len(calls(first, "walt")) == 2
    assert len(calls(second, "walt")) == 2
    assert memcached_get(memcached, socache_key("127.0.0.1/shared", "walt")) is None


def test_graceful_restart_refetches_the_store_function(fleet, memcached):
    first, second = fleet
    first.graceful()
    memcached_delete(memcached, socache_key("127.0.0.1/shared", "alice"))
    before = len(calls(first, "alice"))
    assert first.get_basic("/shared/index.html", "alice", "alice-pw").status == 200
    assert len(calls(first, "alice")) == before + 1
    assert memcached_get(memcached, socache_key("127.0.0.1/shared", "alice")) is not None
    second_before = len(calls(second, "alice"))
    assert second.get_basic("/shared/index.html", "alice", "alice-pw").status == 200
    assert len(calls(second, "alice")) == second_before


def memcached_delete(port, key):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"delete " + key + b"\r\n")
        s.recv(1024)
