"""Concurrent misses of the in-process cache (`WSGIAuthCacheTimeout`, docs/caching.md)
against a real Apache: requests that arrive together with the same
credentials, before any entry exists, make one Python call; the others wait
for it and take its answer — a refusal too, since they asked the very same
question — but a refusal is never kept for later requests. Different
credentials never wait for each other. Waiting takes a
`WSGIMaxConcurrentCalls` slot, as a call does, so waiters can never hold
every worker thread.

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


def shared_or_cached(server, what, user):
    """Debug lines of answers not made by a call of their own: taken from a
    call made at the same time (0081), or from the entry it stored."""
    shared = server.error_lines(f"{what} of '{user}' answered by a call made at the same time")
    cached = server.error_lines(f"{what} of '{user}' " + (
        "granted from the in-process cache" if what == "login" else
        "taken from the in-process cache" if what == "groups" else
        "answered from the in-process cache"))
    assert all("AUTHNZ_WSGI0081" in line for line in shared)
    return shared, cached


def test_concurrent_identical_logins_make_one_python_call(apache):
    statuses = together(basic_requests(apache, "/mem/index.html", "ann", "ann-pw"))
    assert statuses == [200] * CLIENTS
    assert len(calls(apache, "basic", "ann", "/mem/")) == 1
    shared, cached = shared_or_cached(apache, "login", "ann")
    assert len(shared) + len(cached) == CLIENTS - 1 and shared
    assert all("AUTHNZ_WSGI0070" in line for line in cached)
    assert "ann-pw" not in apache.error_log()


def test_without_the_cache_every_concurrent_login_calls_python(apache):
    statuses = together(basic_requests(apache, "/nocache/index.html", "bob", "bob-pw"))
    assert statuses == [200] * CLIENTS
    assert len(calls(apache, "basic", "bob", "/nocache/")) == CLIENTS
    assert apache.error_lines("login of 'bob' granted from the in-process cache") == []


def test_concurrent_wrong_passwords_share_one_refusal_that_is_not_kept(apache):
    statuses = together(basic_requests(apache, "/mem/index.html", "cy", "not-cy-pw"))
    assert statuses == [401] * CLIENTS
    made = len(calls(apache, "basic", "cy", "/mem/"))
    shared, cached = shared_or_cached(apache, "login", "cy")
    assert cached == []
    # Requests that arrived while the call ran took its refusal; any that
    # came after it ended asked Python again: the refusal is not kept.
    assert made + len(shared) == CLIENTS and made < CLIENTS
    assert "not-cy-pw" not in apache.error_log()
    assert apache.get_basic("/mem/index.html", "cy", "not-cy-pw").status == 401
    assert len(calls(apache, "basic", "cy", "/mem/")) == made + 1
    # The right password afterwards is checked by Python, not answered by a
    # result of the wrong one.
    assert apache.get_basic("/mem/index.html", "cy", "cy-pw").status == 200
    assert len(calls(apache, "basic", "cy", "/mem/")) == made + 2


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
    shared, cached = shared_or_cached(apache, "groups", "gina")
    assert len(shared) + len(cached) == CLIENTS - 1 and shared


def test_concurrent_digest_logins_make_one_python_call(apache):
    path = "/mem-digest/index.html"
    header = digest_header(apache, path, "ann", "ann-pw", DIGEST_REALM)
    statuses = together([lambda: apache.request(path, headers={"Authorization": header})
                         for _ in range(CLIENTS)])
    assert statuses == [200] * CLIENTS
    assert len(calls(apache, "digest", "ann", "/mem-digest/")) == 1
    shared, cached = shared_or_cached(apache, "realm hash", "ann")
    assert len(shared) + len(cached) == CLIENTS - 1 and shared
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


def test_waiting_is_bounded_like_calls_and_leaves_threads_for_other_requests():
    """Twelve logins with one wrong password against a slow script, in a
    child of eight threads (six Python calls at most): the waiters take
    call slots, so the ones beyond the cap are refused after the slot wait
    instead of holding threads, a static file is still served at once, one
    Python call answers every request that waited, and the refusal reaches
    the waiters without each calling Python again."""
    server = Apache(
        name="cache-waiters",
        server_conf="StartServers 1\nServerLimit 1\nThreadLimit 8\nThreadsPerChild 8\n"
                    "MaxRequestWorkers 8\nMinSpareThreads 1\nMaxSpareThreads 8\n"
                    "LogLevel info authnz_wsgi:debug\n",
    )
    script = server.write_script("slow.py", """
import time
def check_password(environ, user, password):
    record(user=user, started=time.time())
    time.sleep(6)
    return password == "right"
""")
    server.site_conf = f"""
    <Location /slow>
      AuthType Basic
      AuthName slow
      AuthBasicProvider wsgi
      WSGIAuthUserScript "{script}"
      WSGIAuthCacheTimeout 60
      Require valid-user
    </Location>
    """
    (server.docroot / "slow").mkdir()
    (server.docroot / "slow" / "index.html").write_text("slow\n")
    try:
        server.start()
        results = [None] * 12

        def login(i):
            begun = time.monotonic()
            status = server.get_basic("/slow/index.html", "mallory", "wrong").status
            results[i] = (status, time.monotonic() - begun)

        threads = [threading.Thread(target=login, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        begun = time.monotonic()
        static = server.request("/index.html")
        static_took = time.monotonic() - begun
        for t in threads:
            t.join(timeout=60)
        # Eight threads: queued logins and the static file get a thread as
        # the logins beyond the cap are refused, a second each (two at a
        # time); nothing waits until the six-second call ends.
        assert static.status == 200 and static_took < 4, static_took
        statuses = sorted(status for status, _ in results)
        # Six slots: one call and five waiters answered 401 by its refusal;
        # six refused after their one-second slot wait, long before the
        # call ended.
        assert statuses == [401] * 6 + [500] * 6, statuses
        assert all(took < 4.5 for status, took in results if status == 500), \
            " ".join(f"{s}:{t:.1f}" for s, t in sorted(results))
        assert len(server.records()) == 1
        assert len(server.error_lines("AUTHNZ_WSGI0044")) == 6
        assert len(server.error_lines(
            "login of 'mallory' answered by a call made at the same time")) == 5
    finally:
        server.cleanup()
