"""Concurrent misses of the in-process cache (`WSGIAuthCacheTimeout`, SPEC §8)
against a real Apache: requests that arrive together with the same
credentials, before any entry exists, make one Python call; the others wait
for it and are answered from the entry it stored. Different credentials never
wait for each other, and a refused login is never shared.

The scripts sleep, so the requests really overlap, and record when each call
started and ended. The server runs one child, so one cache sees every
request."""

import threading
import time
import urllib.request

import pytest

from harness import Apache, digest_header

REALM = "concurrent realm"
DIGEST_REALM = "concurrent digest"
CALL_SECONDS = 0.6
CLIENTS = 10

SCRIPT = f"""
import hashlib, time

PASSWORDS = {{"ann": "ann-pw", "bob": "bob-pw", "cy": "cy-pw", "dee": "dee-pw", "eve": "eve-pw",
             "fay": "fay-pw", "gina": "gina-pw"}}

def check_password(environ, user, password):
    started = time.time()
    time.sleep({CALL_SECONDS})
    record("basic", user=user, uri=environ["REQUEST_URI"], started=started, ended=time.time())
    expected = PASSWORDS.get(user)
    if expected is None:
        return None
    return password == expected

def get_realm_hash(environ, user, realm):
    time.sleep({CALL_SECONDS})
    record("digest", user=user, uri=environ["REQUEST_URI"])
    expected = PASSWORDS.get(user)
    if expected is None:
        return None
    return hashlib.md5(f"{{user}}:{{realm}}:{{expected}}".encode()).hexdigest()

def groups_for_user(environ, user):
    time.sleep({CALL_SECONDS})
    record("groups", user=user, uri=environ["REQUEST_URI"])
    return ["staff"] if user == "gina" else []
"""


@pytest.fixture(scope="module")
def apache():
    server = Apache(
        name="cache-concurrency",
        server_conf="StartServers 1\nServerLimit 1\nThreadsPerChild 25\n"
                    "MaxRequestWorkers 25\nMinSpareThreads 1\nMaxSpareThreads 25\n"
                    "LogLevel info authnz_wsgi:debug\n",
    )
    script = server.write_script("users.py", SCRIPT)
    mem = "WSGIAuthCacheTimeout 60"

    def location(path, auth_type, extra, require="valid-user"):
        provider = "AuthDigestProvider" if auth_type == "Digest" else "AuthBasicProvider"
        realm = DIGEST_REALM if auth_type == "Digest" else REALM
        return f"""
    <Location {path}>
      AuthType {auth_type}
      AuthName "{realm}"
      {provider} wsgi
      AuthDigestNonceLifetime -1
      WSGIAuthUserScript "{script}"
      {extra}
      Require {require}
    </Location>
    """

    server.site_conf = "".join([
        location("/nocache", "Basic", ""),
        location("/mem", "Basic", mem),
        location("/mem-groups", "Basic", f'{mem}\n      WSGIAuthGroupScript "{script}"',
                 require="wsgi-group staff"),
        location("/mem-digest", "Digest", mem),
    ])
    for d in ("nocache", "mem", "mem-groups", "mem-digest"):
        (server.docroot / d).mkdir()
        (server.docroot / d / "index.html").write_text(f"{d} page\n")
    server.start()
    yield server
    server.cleanup()


def together(requests):
    """Send every request at the same moment; their statuses, in order."""
    statuses = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def send(i, make):
        start.wait()
        statuses[i] = make().status

    threads = [threading.Thread(target=send, args=(i, make)) for i, make in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return statuses


def basic_requests(server, path, user, password, count=CLIENTS):
    return [lambda: server.get_basic(path, user, password) for _ in range(count)]


def calls(server, kind, user, uri_prefix):
    return [c for c in server.records(kind) if c["user"] == user and c["uri"].startswith(uri_prefix)]


def test_concurrent_identical_logins_make_one_python_call(apache):
    statuses = together(basic_requests(apache, "/mem/index.html", "ann", "ann-pw"))
    assert statuses == [200] * CLIENTS
    assert len(calls(apache, "basic", "ann", "/mem/")) == 1
    answered = apache.error_lines("login of 'ann' granted from the in-process cache")
    assert len(answered) == CLIENTS - 1
    assert all("AUTHNZ_WSGI0070" in line for line in answered)
    assert "ann-pw" not in apache.error_log()


def test_without_the_cache_every_concurrent_login_calls_python(apache):
    statuses = together(basic_requests(apache, "/nocache/index.html", "bob", "bob-pw"))
    assert statuses == [200] * CLIENTS
    assert len(calls(apache, "basic", "bob", "/nocache/")) == CLIENTS
    assert apache.error_lines("login of 'bob' granted from the in-process cache") == []


def test_concurrent_wrong_passwords_each_reach_python(apache):
    statuses = together(basic_requests(apache, "/mem/index.html", "cy", "not-cy-pw"))
    assert statuses == [401] * CLIENTS
    assert len(calls(apache, "basic", "cy", "/mem/")) == CLIENTS
    assert apache.error_lines("login of 'cy' granted from the in-process cache") == []
    # The right password afterwards is checked by Python, not answered by a
    # result of the wrong one.
    assert apache.get_basic("/mem/index.html", "cy", "cy-pw").status == 200
    assert len(calls(apache, "basic", "cy", "/mem/")) == CLIENTS + 1


def test_different_credentials_do_not_wait_for_each_other(apache):
    requests = [lambda: apache.get_basic("/mem/index.html", "dee", "dee-pw"),
                lambda: apache.get_basic("/mem/index.html", "eve", "eve-pw"),
                lambda: apache.get_basic("/mem/index.html", "dee", "dee-wrong"),
                lambda: apache.get_basic("/mem/index.html", "eve", "eve-wrong")]
    assert together(requests) == [200, 200, 401, 401]
    made = calls(apache, "basic", "dee", "/mem/") + calls(apache, "basic", "eve", "/mem/")
    assert len(made) == 4
    # All four calls ran at the same time: none started after another ended.
    assert max(c["started"] for c in made) < min(c["ended"] for c in made)


def test_concurrent_group_lookups_make_one_python_call(apache):
    statuses = together(basic_requests(apache, "/mem-groups/index.html", "gina", "gina-pw"))
    assert statuses == [200] * CLIENTS
    assert len(calls(apache, "basic", "gina", "/mem-groups/")) == 1
    assert len(calls(apache, "groups", "gina", "/mem-groups/")) == 1
    assert len(apache.error_lines("groups of 'gina' taken from the in-process cache")) \
        == CLIENTS - 1


def test_concurrent_digest_logins_make_one_python_call(apache):
    path = "/mem-digest/index.html"
    header = digest_header(apache, path, "ann", "ann-pw", DIGEST_REALM)
    statuses = together([lambda: apache.request(path, headers={"Authorization": header})
                         for _ in range(CLIENTS)])
    assert statuses == [200] * CLIENTS
    assert len(calls(apache, "digest", "ann", "/mem-digest/")) == 1
    assert len(apache.error_lines("realm hash of 'ann' answered from the in-process cache")) \
        == CLIENTS - 1
    # A real client logs in from the entry too.
    opened = apache.open_with_handler(path, urllib.request.HTTPDigestAuthHandler, "ann", "ann-pw",
                                      DIGEST_REALM)
    assert opened.status == 200
    assert len(calls(apache, "digest", "ann", "/mem-digest/")) == 1


def test_waiters_are_answered_as_soon_as_the_first_call_ends(apache):
    started = time.monotonic()
    statuses = together(basic_requests(apache, "/mem/index.html", "fay", "fay-pw", count=8))
    took = time.monotonic() - started
    assert statuses == [200] * 8
    assert len(calls(apache, "basic", "fay", "/mem/")) == 1
    # Released when the call ends, not when their wait would run out (30 s).
    assert took < CALL_SECONDS * 4
