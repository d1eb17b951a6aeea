"""Live figures in mod_status (docs/operations.md): after a known sequence of
requests, `/server-status?auto` and the HTML page show the exact calls,
results, timeouts, refusals, running calls, cache and socache figures per
script and function, summed over every child (event and prefork with
several children); a graceful restart starts them from zero; without
mod_status nothing is kept and nothing breaks."""

import threading
import time

import pytest

from harness import Apache, digest_header

SCRIPT = """
import hashlib
import os
import time

def check_password(environ, user, password):
    record(fn="check_password", user=user, pid=os.getpid())
    if user == "boom":
        raise RuntimeError("boom")
    if user == "slow":
        while True:
            pass
    if user in ("hold", "para"):
        time.sleep(1.5 if user == "hold" else 0.5)
    if user == "nobody":
        return None
    return password == "right"

def get_realm_hash(environ, user, realm):
    record(fn="get_realm_hash", user=user)
    if user != "alice":
        return None
    return hashlib.md5(f"{user}:{realm}:right".encode()).hexdigest()

def groups_for_user(environ, user):
    record(fn="groups_for_user", user=user)
    return ["staff"] if user == "alice" else []

def allow_access(environ, host):
    record(fn="allow_access", host=host)
    if environ["REQUEST_URI"].startswith("/host/deny"):
        return False
    return None
"""

STATUS_LOCATION = """
<Location /server-status>
  SetHandler server-status
</Location>
"""


def basic_location(path, script, extra=""):
    return f"""
<Location {path}>
  AuthType Basic
  AuthName "{path}"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  {extra}
  Require valid-user
</Location>
"""


def make_server(name, mpm, server_conf, script_name="auth.py", status=True):
    modules = ["authn_socache", "socache_shmcb"] + (["status"] if status else [])
    server = Apache(
        name=name,
        mpm=mpm,
        modules=modules,
        server_conf="LogLevel info authnz_wsgi:debug\nAuthnCacheSOCache shmcb\n" + server_conf,
    )
    script = server.write_script(script_name, SCRIPT)
    server.site_conf = (STATUS_LOCATION if status else "") + "".join([
        basic_location("/basic", script, "WSGIScriptTimeout 1"),
        basic_location("/cached", script, "WSGIAuthCacheTimeout 60"),
        basic_location("/socached", script,
                       "AuthBasicProvider socache wsgi\n  AuthnCacheProvideFor wsgi"),
        f"""
<Location /groups>
  AuthType Basic
  AuthName "groups"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  WSGIAuthGroupScript "{script}"
  Require wsgi-group staff
</Location>
<Location /digest>
  AuthType Digest
  AuthName "digest"
  AuthDigestProvider wsgi
  WSGIAuthUserScript "{script}"
  Require valid-user
</Location>
<Location /host>
  WSGIAccessScript "{script}"
  Require all granted
</Location>
""",
    ])
    for path in ("basic", "cached", "socached", "groups", "digest", "host", "host/deny"):
        (server.docroot / path).mkdir(parents=True, exist_ok=True)
        (server.docroot / path / "index.html").write_text("ok\n")
    return server, str(script)


def auto(server):
    """The `?auto` page as a dict (only our keys)."""
    resp = server.request("/server-status?auto")
    assert resp.status == 200
    figures = {}
    for line in resp.body.decode().splitlines():
        key, sep, value = line.partition(": ")
        if sep and key.startswith("AuthnzWsgi"):
            figures[key] = value
    return figures


def row_of(figures, path):
    """The row key (`1`, `2`, ...) whose path is `path`."""
    rows = [k[len("AuthnzWsgiScript"):-len("Path")] for k, v in figures.items()
            if k.endswith("Path") and v == path]
    assert len(rows) == 1, (path, figures)
    return rows[0]


def fig(figures, row, function, figure):
    return int(figures[f"AuthnzWsgiScript{row}{function}{figure}"])


def run_sequence(server):
    """The known sequence of requests; returns what each answered."""
    statuses = {
        "granted": server.get_basic("/basic/", "alice", "right").status,
        "denied": server.get_basic("/basic/", "alice", "wrong").status,
        "unknown": server.get_basic("/basic/", "nobody", "x").status,
        "error": server.get_basic("/basic/", "boom", "x").status,
        "timeout": server.get_basic("/basic/", "slow", "right").status,
        "group-in": server.get_basic("/groups/", "alice", "right").status,
        "group-out": server.get_basic("/groups/", "bob", "right").status,
        "host": server.request("/host/").status,
        "host-deny": server.request("/host/deny/").status,
        "socache-1": server.get_basic("/socached/", "carol", "right").status,
        "digest-in": server.request(
            "/digest/",
            headers={"Authorization": digest_header(server, "/digest/", "alice", "right",
                                                    "digest")}).status,
        "digest-unknown": server.request(
            "/digest/",
            headers={"Authorization": digest_header(server, "/digest/", "dave", "right",
                                                    "digest")}).status,
    }
    assert statuses == {
        "granted": 200, "denied": 401, "unknown": 401, "error": 500, "timeout": 500,
        "group-in": 200, "group-out": 401, "host": 200, "host-deny": 403,
        "socache-1": 200, "digest-in": 200, "digest-unknown": 401,
    }
    return statuses


def assert_sequence_figures(figures, script):
    """What the sequence must have counted, whichever child answered."""
    row = row_of(figures, script)
    # Basic: alice/right twice (basic + groups), wrong, nobody, boom, slow,
    # bob/right (groups), carol (socached).
    assert fig(figures, row, "CheckPassword", "Calls") == 8
    assert fig(figures, row, "CheckPassword", "Granted") == 4
    assert fig(figures, row, "CheckPassword", "Denied") == 1
    assert fig(figures, row, "CheckPassword", "Unknown") == 1
    assert fig(figures, row, "CheckPassword", "Error") == 2
    assert fig(figures, row, "CheckPassword", "Timeouts") == 1
    assert fig(figures, row, "CheckPassword", "Running") == 0
    assert fig(figures, row, "CheckPassword", "Refused") == 0
    # The timed-out call alone took a second.
    assert fig(figures, row, "CheckPassword", "TimeTotalUs") >= 1_000_000
    assert fig(figures, row, "CheckPassword", "TimeP99Us") >= 1_000_000
    assert 0 < fig(figures, row, "CheckPassword", "TimeP50Us") < 1_000_000
    assert fig(figures, row, "GroupsForUser", "Calls") == 2
    assert fig(figures, row, "GroupsForUser", "Granted") == 2
    assert fig(figures, row, "GroupsForUser", "Error") == 0
    assert fig(figures, row, "AllowAccess", "Calls") == 2
    assert fig(figures, row, "AllowAccess", "Unknown") == 1
    assert fig(figures, row, "AllowAccess", "Denied") == 1
    assert fig(figures, row, "GetRealmHash", "Calls") == 2
    assert fig(figures, row, "GetRealmHash", "Granted") == 1
    assert fig(figures, row, "GetRealmHash", "Unknown") == 1
    assert int(figures["AuthnzWsgiSocacheStores"]) == 1
    # Nothing went to the "other" row.
    assert fig(figures, "Other", "CheckPassword", "Calls") == 0


def assert_records(server):
    calls = server.records()
    by_fn = {}
    for call in calls:
        by_fn[call["fn"]] = by_fn.get(call["fn"], 0) + 1
    assert by_fn == {"check_password": 8, "groups_for_user": 2, "allow_access": 2,
                     "get_realm_hash": 2}


@pytest.fixture(scope="module")
def one_child():
    """One event child: cache figures and refusals are exact there."""
    server, script = make_server(
        "status-one", "event",
        "WSGIMaxConcurrentCalls 1 200ms\nStartServers 1\nServerLimit 1\n"
        "ThreadsPerChild 8\nMaxRequestWorkers 8\n",
        script_name="auth&co.py")
    server.start()
    yield server, script
    server.cleanup()


def test_sequence_counts_exactly_in_one_child(one_child):
    server, script = one_child
    run_sequence(server)
    assert_records(server)
    assert len(server.error_lines("exceeded WSGIScriptTimeout")) == 1
    figures = auto(server)
    assert_sequence_figures(figures, script)
    assert int(figures["AuthnzWsgiScripts"]) == 1
    row = row_of(figures, script)
    # The cached location: a miss and a call, then two hits.
    before = fig(figures, row, "CheckPassword", "Calls")
    for _ in range(3):
        assert server.get_basic("/cached/", "alice", "right").status == 200
    figures = auto(server)
    assert fig(figures, row, "CheckPassword", "Calls") == before + 1
    assert fig(figures, row, "CheckPassword", "CacheMisses") == 1
    assert fig(figures, row, "CheckPassword", "CacheHits") == 2
    assert int(figures["AuthnzWsgiCacheEntries"]) == 1
    assert len(server.error_lines("granted from the in-process cache")) == 2


def test_running_and_refused_calls(one_child):
    server, script = one_child
    row = row_of(auto(server), script)
    before = auto(server)
    results = {}

    def hold():
        results["hold"] = server.get_basic("/cached/", "hold", "right").status

    holder = threading.Thread(target=hold)
    holder.start()
    deadline = time.time() + 5
    while time.time() < deadline:
        if fig(auto(server), row, "CheckPassword", "Running") == 1:
            break
        time.sleep(0.05)
    during = auto(server)
    assert fig(during, row, "CheckPassword", "Running") == 1
    # The cap is one call: this one is refused after 200ms.
    assert server.get_basic("/basic/", "alice", "right").status == 500
    holder.join()
    assert results["hold"] == 200
    after = auto(server)
    assert fig(after, row, "CheckPassword", "Running") == 0
    assert fig(after, row, "CheckPassword", "Refused") == \
        fig(before, row, "CheckPassword", "Refused") + 1
    assert fig(after, row, "CheckPassword", "Calls") == \
        fig(before, row, "CheckPassword", "Calls") + 1
    assert len(server.error_lines("WSGIMaxConcurrentCalls")) >= 1


def test_html_section_escapes_the_script_path(one_child):
    server, script = one_child
    assert server.get_basic("/basic/", "alice", "right").status == 200
    resp = server.request("/server-status")
    assert resp.status == 200
    page = resp.body.decode()
    assert "<h2>mod_authnz_wsgi</h2>" in page
    assert script.replace("&", "&amp;") in page
    assert script not in page
    assert "<td>check_password</td>" in page
    notable = server.request("/server-status?notable").body.decode()
    assert "<h2>mod_authnz_wsgi</h2>" in notable
    assert "check_password: calls" in notable


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_figures_sum_over_children(mpm):
    conf = ("StartServers 3\nMinSpareServers 3\nMaxSpareServers 6\n" if mpm == "prefork"
            else "StartServers 3\nServerLimit 3\nThreadsPerChild 2\nMaxRequestWorkers 6\n"
                 "MinSpareThreads 1\nMaxSpareThreads 6\n")
    server, script = make_server(f"status-{mpm}", mpm, conf)
    with server:
        assert "AUTHNZ_WSGI0106" in server.error_log()
        run_sequence(server)
        assert_records(server)
        assert_sequence_figures(auto(server), script)
        # Three calls at once: three children (prefork) or threads.
        server.clear_records()
        threads = [threading.Thread(
            target=lambda: server.get_basic("/basic/", "para", "right")) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pids = {r["pid"] for r in server.records()}
        if mpm == "prefork":
            assert len(pids) == 3
        figures = auto(server)
        row = row_of(figures, script)
        assert fig(figures, row, "CheckPassword", "Calls") == 11
        assert fig(figures, row, "CheckPassword", "Granted") == 7
        assert fig(figures, row, "CheckPassword", "Denied") == 1
        # Cache: each child has its own, the figures are the sum.
        for _ in range(4):
            assert server.get_basic("/cached/", "alice", "right").status == 200
        figures = auto(server)
        calls = fig(figures, row, "CheckPassword", "Calls") - 11
        hits = fig(figures, row, "CheckPassword", "CacheHits")
        misses = fig(figures, row, "CheckPassword", "CacheMisses")
        assert calls == misses and hits + misses == 4 and misses >= 1
        assert int(figures["AuthnzWsgiCacheEntries"]) == misses

        # A graceful restart starts from zero.
        server.graceful()
        time.sleep(0.5)
        figures = auto(server)
        row = row_of(figures, script)
        assert fig(figures, row, "CheckPassword", "Calls") == 0
        assert fig(figures, row, "CheckPassword", "CacheHits") == 0
        assert int(figures["AuthnzWsgiSocacheStores"]) == 0
        assert server.get_basic("/basic/", "alice", "right").status == 200
        assert fig(auto(server), row, "CheckPassword", "Granted") == 1


def test_without_mod_status_nothing_is_kept():
    server, script = make_server(
        "status-off", "event", "StartServers 1\nServerLimit 1\n", status=False)
    with server:
        assert server.get_basic("/basic/", "alice", "right").status == 200
        assert server.get_basic("/cached/", "alice", "right").status == 200
        assert server.get_basic("/cached/", "alice", "right").status == 200
        assert server.request("/host/").status == 200
        assert len(server.records()) == 3
        log = server.error_log()
        assert "AUTHNZ_WSGI0107" in log
        assert "AUTHNZ_WSGI0106" not in log
        assert server.request("/server-status?auto").status == 404


def test_figures_are_kept_with_extended_status_off():
    """httpd's ExtendedStatus (on by default with mod_status) is what loading
    mod_status costs a request; the module's figures do not depend on it."""
    server, script = make_server(
        "status-ext-off", "event", "ExtendedStatus Off\nStartServers 1\nServerLimit 1\n")
    with server:
        run_sequence(server)
        assert_records(server)
        figures = auto(server)
        assert_sequence_figures(figures, script)
        assert "AUTHNZ_WSGI0106" in server.error_log()
        page = server.request("/server-status").body.decode()
        assert "mod_authnz_wsgi" in page and script in page


def test_htaccess_scripts_take_run_time_rows_then_other():
    """One script in the server configuration, 16 rows for scripts first
    seen at run time, then the "other" row."""
    server, script = make_server(
        "status-htaccess", "event",
        "WSGIAuthAllowOverride On\nStartServers 1\nServerLimit 1\n")
    paths = []
    for i in range(18):
        name = f"ht{i:02d}"
        ht_script = server.write_script(f"{name}.py", SCRIPT)
        paths.append(str(ht_script))
        ht = server.docroot / name
        ht.mkdir()
        (ht / "index.html").write_text("ok\n")
        (ht / ".htaccess").write_text(
            f'AuthType Basic\nAuthName "{name}"\nAuthBasicProvider wsgi\n'
            f'WSGIAuthUserScript "{ht_script}"\nRequire valid-user\n')
    server.site_conf += f"""
<Directory "{server.docroot}">
  AllowOverride AuthConfig
</Directory>
"""
    with server:
        for i in range(18):
            assert server.get_basic(f"/ht{i:02d}/", "alice", "right").status == 200
        # The last one again: it stays in "other".
        assert server.get_basic("/ht17/", "alice", "wrong").status == 401
        assert len(server.records()) == 19
        figures = auto(server)
        assert int(figures["AuthnzWsgiScripts"]) == 17
        assert figures["AuthnzWsgiScript1Path"] == script
        for i in range(16):
            row = row_of(figures, paths[i])
            assert row == str(i + 2)
            assert fig(figures, row, "CheckPassword", "Granted") == 1
        assert not [k for k, v in figures.items() if k.endswith("Path") and v in paths[16:]]
        assert fig(figures, "Other", "CheckPassword", "Calls") == 3
        assert fig(figures, "Other", "CheckPassword", "Granted") == 2
        assert fig(figures, "Other", "CheckPassword", "Denied") == 1
        assert len(server.error_lines("AUTHNZ_WSGI0024")) >= 18
