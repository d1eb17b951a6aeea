"""Calls of scripts in auth daemon processes (docs/auth-daemons.md): a
script directive with `process-group=NAME` is called in the processes of
`WSGIAuthDaemonProcess NAME`, with the same answers, the same environ (but
`mod_wsgi.process_group`), the same log lines (written by the Apache child
with the request's context) as the same script called embedded. The caches,
mod_authn_socache, `WSGIMaxConcurrentCalls` and the live figures stay in
the child, in front of the call.

Every test here asserts the HTTP status, the error log and what the script
saw (`record(...)`), comparing one location whose script runs embedded with
one whose script runs in a daemon group, on a real Apache (event and
prefork)."""

import http.client
import os
import random
import re
import threading
import time

import pytest

from harness import Apache, basic_header, digest_header
import test_environ_differential as differential
import test_status as status

# The script every comparison calls: each result kind of each function.
SCRIPT = """
import hashlib
import os

CALLS = 0

def _seen(fn, environ, **args):
    global CALLS
    CALLS += 1
    record(fn=fn, pid=os.getpid(), calls=CALLS,
           group=environ["mod_wsgi.application_group"],
           process_group=environ["mod_wsgi.process_group"],
           environ={k: v for k, v in environ.items() if isinstance(v, str)},
           errors=type(environ["wsgi.errors"]).__name__,
           https=environ["mod_ssl.is_https"](),
           cipher=environ["mod_ssl.var_lookup"]("SSL_CIPHER"),
           **args)

def check_password(environ, user, password):
    _seen("check_password", environ, user=user, password=password)
    if user in ("granted", "jos\u00e9", "many", "too-many"):
        return True
    if user == "denied":
        return False
    if user == "renamed":
        return "someone-else"
    if user == "same-name":
        return "same-name"
    if user == "raises":
        raise ValueError("bad password " + password)
    if user == "raises-plain":
        raise KeyError("no such thing")
    if user == "wrong-type":
        return 42
    if user == "bad-name":
        return "a\\nb"
    if user == "prints":
        print("printed by the script for", user)
        import sys
        sys.stderr.write("to stderr, no newline")
        environ["wsgi.errors"].write("to wsgi.errors\\n")
        return True
    return None

def get_realm_hash(environ, user, realm):
    _seen("get_realm_hash", environ, user=user, realm=realm)
    if user == "digest-user":
        return hashlib.md5(f"{user}:{realm}:secret".encode()).hexdigest()
    if user == "digest-upper":
        return hashlib.md5(f"{user}:{realm}:secret".encode()).hexdigest().upper()
    if user == "digest-raises":
        raise RuntimeError("digest failure")
    return None

def groups_for_user(environ, user):
    _seen("groups_for_user", environ, user=user)
    if user == "granted":
        return ["Staff", b"ops", ""]
    if user == "prints":
        return ["nobody-group"]
    if user == "renamed" or user == "someone-else":
        return "staff"
    def broken():
        yield "x"
        raise RuntimeError("iteration failed")
    if user == "same-name":
        return broken()
    if user == "many":
        return [f"G{i}" for i in range(9000)] + [f"g{i}" for i in range(999)] + ["STAFF"]
    if user == "too-many":
        return (f"g{i}" for i in range(10001))
    return []

def allow_access(environ, host):
    _seen("allow_access", environ, host=host)
    uri = environ["REQUEST_URI"]
    if "/deny" in uri:
        return False
    if "/allow" in uri:
        return True
    if "/raise" in uri:
        raise RuntimeError("access failure")
    if "/wrong" in uri:
        return "yes"
    return None
"""

DAEMON = "authd"


def locations(script, mode):
    """The locations of one mode: `emb` (embedded) or `dmn` (daemon)."""
    pg = f" process-group={DAEMON}" if mode == "dmn" else ""
    return f"""
<Location /{mode}/basic>
  AuthType Basic
  AuthName "realm"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"{pg}
  Require valid-user
</Location>
<Location /{mode}/digest>
  AuthType Digest
  AuthName "digest"
  AuthDigestProvider wsgi
  AuthDigestNonceLifetime -1
  WSGIAuthUserScript "{script}"{pg}
  Require valid-user
</Location>
<Location /{mode}/groups>
  AuthType Basic
  AuthName "groups"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"{pg}
  WSGIAuthGroupScript "{script}"{pg}
  Require wsgi-group staff
</Location>
<Location /{mode}/host>
  WSGIAccessScript "{script}"{pg}
  Require all granted
</Location>
<Location /{mode}/whost>
  WSGIAccessScript "{script}"{pg}
  Require wsgi-host
</Location>
<Location /{mode}/utf8>
  AuthType Basic
  AuthName "utf8"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"{pg}
  WSGIUserNameEncoding utf-8
  Require valid-user
</Location>
"""


def daemon_server(name, group_options="", server_conf="", mpm="event", modules=()):
    """An Apache with the daemon group (`group_options` its options) after
    `server_conf`."""
    options = f" {group_options}" if group_options else ""
    return Apache(name=name, mpm=mpm, modules=list(modules),
                  server_conf=f"{server_conf}WSGIAuthDaemonProcess {DAEMON}{options}\n")


def daemon_location(name, script, *lines, provider="wsgi", groups=False,
                    require="valid-user", script_options=""):
    """A Basic location /`name` whose script (and with `groups`, group
    script) runs in the daemon group, with `lines` before its Require."""
    directive = f'"{script}" process-group={DAEMON}{script_options}'
    body = [f"WSGIAuthUserScript {directive}"]
    if groups:
        body.append(f"WSGIAuthGroupScript {directive}")
    body += lines
    return f"""
<Location /{name}>
  AuthType Basic
  AuthName "{name}"
  AuthBasicProvider {provider}
""" + "".join(f"  {line}\n" for line in body) + f"""  Require {require}
</Location>
"""


def make_docs(server, *paths):
    for path in paths:
        (server.docroot / path).mkdir(parents=True, exist_ok=True)
        (server.docroot / path / "index.html").write_text("ok\n")


@pytest.fixture(scope="module", params=["event", "prefork"])
def pair(request):
    """One server, each location twice: embedded and in a daemon group."""
    mpm = request.param
    server = daemon_server(f"daemon-calls-{mpm}", "processes=2 threads=4",
                           "LogLevel info authnz_wsgi:debug\n", mpm=mpm)
    script = server.write_script("auth.py", SCRIPT)
    server.site_conf = locations(script, "emb") + locations(script, "dmn")
    for mode in ("emb", "dmn"):
        make_docs(server, f"{mode}/basic", f"{mode}/digest", f"{mode}/groups", f"{mode}/utf8",
                  *(f"{mode}/{h}/{v}" for h in ("host", "whost")
                    for v in ("deny", "allow", "raise", "wrong", "none")))
    server.start()
    server.mpm_name = mpm
    yield server
    server.cleanup()


def tagged(text):
    """The `AUTHNZ_WSGI....: message` part of the error-log lines in `text`,
    with the location's mode and process ids made neutral."""
    out = []
    for line in text.splitlines():
        m = re.search(r"\[client [^\]]+\] (AUTHNZ_WSGI(\d{4}): .*)", line)
        # Script loads happen once per process, wherever the call lands; the
        # daemon transport's own lines (116-129) exist in daemon mode only.
        if m and int(m.group(2)) != 24 and not 116 <= int(m.group(2)) <= 129:
            msg = m.group(1).replace("/dmn/", "/MODE/").replace("/emb/", "/MODE/")
            out.append(re.sub(r", referer: .*", "", msg))
    return out


def exchange(server, mode, case):
    """Make the request of `case` on `mode`'s location; returns (status,
    request-context log lines, records) of it alone."""
    server.clear_records()
    before = len(server.error_log())
    kind, arg = case
    if kind == "basic":
        resp = server.get_basic(f"/{mode}/basic/", arg, "pw-" + arg)
    elif kind == "groups":
        resp = server.get_basic(f"/{mode}/groups/", arg, "pw")
    elif kind == "digest":
        header = digest_header(server, f"/{mode}/digest/", arg, "secret", "digest")
        server.clear_records()
        before = len(server.error_log())
        resp = server.request(f"/{mode}/digest/", headers={"Authorization": header})
    else:
        resp = server.request(f"/{mode}/{kind}/{arg}/")
    server.last_access()
    time.sleep(0.05)
    return resp.status, tagged(server.error_log()[before:]), server.records()


CASES = [("basic", u) for u in ("granted", "denied", "unknown", "renamed", "same-name", "raises",
                                 "raises-plain", "wrong-type", "bad-name", "prints")] + \
        [("digest", u) for u in ("digest-user", "digest-upper", "digest-raises", "nobody")] + \
        [("groups", u) for u in ("granted", "prints", "renamed", "same-name", "unknown",
                                  "many", "too-many")] + \
        [(k, h) for k in ("host", "whost") for h in ("deny", "allow", "raise", "wrong", "none")]

EXPECTED = {
    ("basic", "granted"): 200, ("basic", "denied"): 401, ("basic", "unknown"): 401,
    ("basic", "renamed"): 200, ("basic", "same-name"): 200, ("basic", "raises"): 500,
    ("basic", "raises-plain"): 500, ("basic", "wrong-type"): 500, ("basic", "bad-name"): 500,
    ("basic", "prints"): 200,
    ("digest", "digest-user"): 200, ("digest", "digest-upper"): 500,
    ("digest", "digest-raises"): 500, ("digest", "nobody"): 401,
    ("groups", "granted"): 200, ("groups", "prints"): 401, ("groups", "renamed"): 500,
    ("groups", "same-name"): 500, ("groups", "unknown"): 401,
    ("groups", "many"): 200, ("groups", "too-many"): 500,
    ("host", "deny"): 403, ("host", "allow"): 200, ("host", "raise"): 403,
    ("host", "wrong"): 403, ("host", "none"): 200,
    ("whost", "deny"): 403, ("whost", "allow"): 200, ("whost", "raise"): 500,
    ("whost", "wrong"): 500, ("whost", "none"): 403,
}

# Keys whose values differ between the two locations by construction.
PER_LOCATION = {"REQUEST_URI", "SCRIPT_NAME", "PATH_INFO", "REMOTE_PORT",
                "mod_wsgi.process_group"}


def neutral(record):
    """A record with what differs between modes by construction removed."""
    record = dict(record)
    for key in ("pid", "calls", "process_group"):
        record.pop(key, None)
    record["environ"] = {k: v for k, v in record["environ"].items() if k not in PER_LOCATION}
    return record


@pytest.mark.parametrize("case", CASES, ids=[f"{k}-{a}" for k, a in CASES])
def test_same_answer_log_and_view_as_embedded(pair, case):
    server = pair
    emb = exchange(server, "emb", case)
    dmn = exchange(server, "dmn", case)
    assert emb[0] == EXPECTED[case], (emb, server.error_log()[-3000:])
    assert dmn[0] == emb[0], (dmn, server.error_log()[-3000:])
    # The same lines, with the request's context, in the same order.
    assert dmn[1] == emb[1], (emb[1], dmn[1])
    # The script saw the same calls, arguments and environ.
    assert [neutral(r) for r in dmn[2]] == [neutral(r) for r in emb[2]]
    assert all(r["process_group"] == DAEMON for r in dmn[2])
    assert all(r["process_group"] == "" for r in emb[2])
    # The daemon calls ran in the daemon group's processes.
    for pid in {r["pid"] for r in dmn[2]}:
        with open(f"/proc/{pid}/comm") as f:
            assert f.read().strip() == "authnz-daemon"
    assert not {r["pid"] for r in dmn[2]} & {r["pid"] for r in emb[2]}


def test_the_daemons_are_their_own_processes(pair):
    server = pair
    server.clear_records()
    assert server.get_basic("/dmn/basic/", "granted", "x").status == 200
    assert server.get_basic("/emb/basic/", "granted", "x").status == 200
    dmn, emb = server.records()
    assert dmn["process_group"] == DAEMON and emb["process_group"] == ""
    with open(f"/proc/{dmn['pid']}/comm") as f:
        assert f.read().strip() == "authnz-daemon"
    with open(f"/proc/{emb['pid']}/comm") as f:
        assert f.read().strip() != "authnz-daemon"
    assert dmn["pid"] != emb["pid"]


def test_print_and_traceback_carry_the_request_context_and_hide_the_password(pair):
    server = pair
    before = len(server.error_log())
    assert server.get_basic("/dmn/basic/", "raises", "hunter2").status == 500
    assert server.get_basic("/dmn/basic/", "prints", "x").status == 200
    server.last_access()
    time.sleep(0.1)
    log = server.error_log()[before:]
    assert "hunter2" not in log
    raised = [l for l in log.splitlines() if "AUTHNZ_WSGI0042" in l]
    assert raised and all("[client 127.0.0.1:" in l for l in raised), log
    assert any("message not logged: it contains the password" in l for l in raised), raised
    assert any("Traceback" in l or "line " in l for l in raised), raised
    printed = [l for l in log.splitlines() if "AUTHNZ_WSGI0100" in l]
    assert any("printed by the script for prints" in l and "[client 127.0.0.1:" in l
               for l in printed), log
    assert any("AUTHNZ_WSGI0101" in l and "to stderr, no newline" in l and "[client " in l
               for l in log.splitlines()), log
    assert any("AUTHNZ_WSGI0040" in l and "to wsgi.errors" in l and "[client " in l
               for l in log.splitlines()), log


@pytest.mark.parametrize("sent", [b"jos\xe9", "jos\u00e9".encode(), b"renamed"])
def test_user_name_encoding_and_renaming_as_embedded(pair, sent):
    """WSGIUserNameEncoding utf-8 and a renamed user apply in the child to
    the daemon's answer as to an embedded one: Apache's user (%u) is the
    same in both modes."""
    server = pair
    users = {}
    for mode in ("emb", "dmn"):
        assert server.get_basic(f"/{mode}/utf8/", sent, "pw").status == 200
        users[mode] = server.last_access(status=200)["user"]
    assert users["dmn"] == users["emb"]
    assert users["dmn"] == ("someone-else" if sent == b"renamed" else "jos\\xc3\\xa9")


def test_call_timeout_of_the_daemon_group_limits_the_call():
    """call-timeout= is the limit of the daemon's calls, whatever
    WSGIScriptTimeout says; the overrun is answered 500 with the script's
    traceback and the request's context."""
    server = daemon_server("daemon-timeout", "call-timeout=1")
    script = server.write_script("slow.py", """
def check_password(environ, user, password):
    record(user=user)
    while user == "slow":
        pass
    return True
""")
    server.site_conf = daemon_location("t", script, "WSGIScriptTimeout 30")
    make_docs(server, "t")
    with server:
        started = time.time()
        assert server.get_basic("/t/", "slow", "x").status == 500
        assert time.time() - started < 5
        assert server.get_basic("/t/", "fast", "x").status == 200
        # The limit came from the group's call-timeout=, and the line says so.
        lines = server.error_lines(
            f"exceeded call-timeout= of WSGIAuthDaemonProcess {DAEMON} (1s)")
        assert len(lines) == 1 and "[client 127.0.0.1:" in lines[0], server.error_log()
        assert server.error_lines("exceeded WSGIScriptTimeout") == []
        assert [r["user"] for r in server.records()] == ["slow", "fast"]


# ---- environ -----------------------------------------------------------------

ENV_SCRIPT = differential.SCRIPT


@pytest.mark.parametrize("clients", [1, 3])
def test_environ_in_a_daemon_matches_the_independent_reference(clients):
    """The randomized environ sequence of test_environ_differential, through
    a daemon group with one serving thread (so every call, from whichever
    Apache worker thread, reuses that thread's kept environ): every environ
    the script saw equals the reference computed from what was sent. With
    one client, one Apache worker thread; with three, three at once."""
    workers = (differential.ONE_THREAD["event"] if clients == 1 else
               "StartServers 1\nServerLimit 1\nThreadsPerChild 4\nMaxRequestWorkers 4\n")
    server = daemon_server("daemon-environ", "processes=1 threads=1",
                           workers + "LimitRequestFields 120\n")
    script = server.write_script("env.py", ENV_SCRIPT)
    server.site_conf = daemon_location("env", script)
    make_docs(server, "env")
    sent = []
    errors = []

    def client(c):
        rng = random.Random(f"daemon-environ-{clients}-{c}")
        n = 0
        try:
            for _ in range(60 // clients):
                requests = []
                for _ in range(rng.choice([1, 3, 10])):
                    requests.append((f"/env/index.html?c={c}&n={n}",
                                     differential.random_headers(rng)))
                    n += 1
                sent.extend(differential.pipelined_h1(server, requests))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    with server:
        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        records = server.records()
        differential.compare(sent, records)
        assert all(r["environ"]["mod_wsgi.process_group"] == DAEMON for r in records)
        assert not server.error_lines("AUTHNZ_WSGI0041")


def test_environ_keys_and_values_equal_embedded(pair):
    """One request with the same headers to both modes: the same keys and
    values but those the location decides (and mod_wsgi.process_group)."""
    server = pair
    headers = {"X-Custom": "caf\xe9", "X-Custom-Two": "b", "Content-Type": "text/plain",
               "X_Dropped": "1", "Cookie": "c=1"}
    server.clear_records()
    for mode in ("emb", "dmn"):
        h = dict(headers, Authorization=basic_header("granted", "x"))
        assert server.request(f"/{mode}/basic/?q=1", headers=h).status == 200
    emb, dmn = server.records()
    assert set(emb["environ"]) == set(dmn["environ"]) | {"mod_wsgi.process_group"} or \
        set(emb["environ"]) == set(dmn["environ"])
    for key, value in emb["environ"].items():
        if key not in PER_LOCATION:
            assert dmn["environ"].get(key) == value, key
    assert dmn["environ"]["REQUEST_URI"] == "/dmn/basic/?q=1"
    assert dmn["environ"]["HTTP_X_CUSTOM"] == "caf\xe9"
    assert dmn["environ"]["HTTP_X_CUSTOM_TWO"] == "b"
    assert dmn["environ"]["CONTENT_TYPE"] == "text/plain"
    assert "HTTP_AUTHORIZATION" not in dmn["environ"]
    assert "HTTP_X_DROPPED" not in dmn["environ"]
    assert dmn["errors"] == emb["errors"]
    assert dmn["https"] is False and emb["https"] is False
    assert dmn["cipher"] is None and emb["cipher"] is None


# ---- reloading, application groups, caches --------------------------------------

def test_reloading_and_application_groups_in_the_daemon():
    server = daemon_server("daemon-reload", "processes=1 threads=2")
    body = """
COUNT = 0
def check_password(environ, user, password):
    global COUNT
    COUNT += 1
    record(version=VERSION, count=COUNT, group=environ["mod_wsgi.application_group"])
    return VERSION == 1
"""
    script = server.write_script("reload.py", "VERSION = 1\n" + body)
    server.site_conf = "".join(
        daemon_location(name, script, *extra, script_options=f" application-group={name}")
        for name, extra in (("a", ()), ("b", ()), ("fixed", ("WSGIScriptReloading Off",))))
    server.site_conf += daemon_location("srv", script, "WSGIScriptReloading Off",
                                        script_options=" application-group=%{SERVER}")
    make_docs(server, "a", "b", "fixed", "srv")
    with server:
        assert [server.get_basic(f"/{p}/", "u", "p").status for p in "aab"] == [200] * 3
        assert server.get_basic("/fixed/", "u", "p").status == 200
        seen = server.records()
        assert [(r["group"], r["count"]) for r in seen] == [("a", 1), ("a", 2), ("b", 1),
                                                            ("fixed", 1)]
        time.sleep(1.1)
        script.write_text(script.read_text().replace("VERSION = 1", "VERSION = 2"))
        os.utime(script, (time.time() + 5, time.time() + 5))
        server.clear_records()
        assert server.get_basic("/a/", "u", "p").status == 401
        # WSGIScriptReloading Off: the loaded module stays.
        assert server.get_basic("/fixed/", "u", "p").status == 200
        assert [(r["group"], r["version"], r["count"]) for r in server.records()] == [
            ("a", 2, 1), ("fixed", 1, 2)]
        # %{SERVER} is expanded by the child: the daemon runs the script
        # in the group of the virtual host's name and the listening port.
        server.clear_records()
        assert server.get_basic("/srv/", "u", "p").status == 401
        assert [r["group"] for r in server.records()] == [f"127.0.0.1:{server.port}"]
        assert server.error_lines("re-loaded script"), server.error_log()
        assert all("[client 127.0.0.1:" in l for l in server.error_lines("re-loaded script"))


def test_in_process_cache_and_socache_answer_before_the_daemon():
    server = daemon_server("daemon-cache", server_conf="LogLevel info authnz_wsgi:debug\n"
                           "AuthnCacheSOCache shmcb\nStartServers 1\nServerLimit 1\n",
                           modules=["authn_socache", "socache_shmcb"])
    script = server.write_script("count.py", """
def check_password(environ, user, password):
    record(user=user)
    return password == "right"

def groups_for_user(environ, user):
    record(groups_of=user)
    return ["staff"]

def get_realm_hash(environ, user, realm):
    import hashlib
    record(hash_of=user)
    return hashlib.md5(f"{user}:{realm}:right".encode()).hexdigest()
""")
    pg = f"process-group={DAEMON}"
    server.site_conf = daemon_location("cached", script, "WSGIAuthCacheTimeout 60") + \
        daemon_location("grouped", script, "WSGIAuthCacheTimeout 60", groups=True,
                        require="wsgi-group staff") + f"""
<Location /dsocached>
  AuthType Digest
  AuthName "dsocached"
  AuthDigestProvider socache wsgi
  AuthDigestNonceLifetime -1
  AuthnCacheProvideFor wsgi
  WSGIAuthUserScript "{script}" {pg}
  Require valid-user
</Location>
""" + daemon_location("socached", script, "AuthnCacheProvideFor wsgi", provider="socache wsgi")
    make_docs(server, "cached", "socached", "grouped", "dsocached")
    with server:
        assert [server.get_basic("/cached/", "c", "right").status for _ in range(3)] == [200] * 3
        assert [server.get_basic("/socached/", "s", "right").status for _ in range(3)] == [200] * 3
        assert server.get_basic("/cached/", "c", "wrong").status == 401
        # One call per user; the wrong password is asked (never cached).
        assert [r["user"] for r in server.records()] == ["c", "s", "c"]
        assert len(server.error_lines("granted from the in-process cache")) == 2
        server.clear_records()
        assert [server.get_basic("/grouped/", "g", "right").status for _ in range(3)] == [200] * 3
        assert server.records() == [{"user": "g"}, {"groups_of": "g"}]
        assert len(server.error_lines("taken from the in-process cache")) == 2
        # Digest: mod_authn_socache keeps the daemon's realm hash.
        server.clear_records()
        header = digest_header(server, "/dsocached/", "d", "right", "dsocached")
        for _ in range(3):
            resp = server.request("/dsocached/", headers={"Authorization": header})
            assert resp.status == 200
        assert server.records() == [{"hash_of": "d"}]


# ---- live figures and WSGIMaxConcurrentCalls -------------------------------------

def daemon_status_server(name, mpm, server_conf):
    """test_status's locations and sequence, every script in a daemon."""
    server, script = status.make_server(
        name, mpm, server_conf + f"WSGIAuthDaemonProcess {DAEMON} processes=1 threads=8\n")
    server.site_conf = re.sub(r'(WSGI(?:AuthUser|AuthGroup|Access)Script "[^"]+")',
                              rf"\1 process-group={DAEMON}", server.site_conf)
    return server, script


def test_live_figures_count_daemon_calls():
    server, script = daemon_status_server(
        "daemon-status", "event",
        "WSGIMaxConcurrentCalls 1 200ms\nStartServers 1\nServerLimit 1\n"
        "ThreadsPerChild 8\nMaxRequestWorkers 8\n")
    with server:
        status.run_sequence(server)
        status.assert_records(server)
        figures = status.auto(server)
        status.assert_sequence_figures(figures, script)
        timeouts = server.error_lines("exceeded WSGIScriptTimeout")
        assert len(timeouts) == 1 and "[client 127.0.0.1:" in timeouts[0]
        for pid in {r["pid"] for r in server.records() if "pid" in r}:
            with open(f"/proc/{pid}/comm") as f:
                assert f.read().strip() == "authnz-daemon"
        # WSGIMaxConcurrentCalls 1 counts a call in the daemon: a second
        # one waits 200 ms and is refused while the first holds the slot.
        statuses = {}

        def hold():
            statuses["hold"] = server.get_basic("/socached/", "hold", "right").status

        t = threading.Thread(target=hold)
        t.start()
        time.sleep(0.4)
        statuses["refused"] = server.get_basic("/basic/", "para", "right").status
        t.join()
        assert statuses == {"hold": 200, "refused": 500}
        figures = status.auto(server)
        row = status.row_of(figures, script)
        assert status.fig(figures, row, "CheckPassword", "Refused") == 1
        assert server.error_lines("WSGIMaxConcurrentCalls")


# ---- a long randomized sequence on reused connections ---------------------------

SEQ_SCRIPT = """
USERS = {"ann": "a1", "ben": "b2", "cy": "c3", "dee": "d4"}
GROUPS = {"ann": ["staff"], "ben": ["ops"], "cy": ["staff", "ops"], "dee": []}

def check_password(environ, user, password):
    if user not in USERS:
        return None
    return USERS[user] == password

def groups_for_user(environ, user):
    return GROUPS.get(user, [])
"""
SEQ_USERS = {"ann": "a1", "ben": "b2", "cy": "c3", "dee": "d4"}
SEQ_GROUPS = {"ann": {"staff"}, "ben": {"ops"}, "cy": {"staff", "ops"}, "dee": set()}


def expected_status(path, user, password):
    """The reference, computed here from the script's tables."""
    if user not in SEQ_USERS or SEQ_USERS[user] != password:
        return 401
    if path.startswith("/staff/"):
        return 200 if "staff" in SEQ_GROUPS[user] else 401
    if path.startswith("/ops/"):
        return 200 if "ops" in SEQ_GROUPS[user] else 401
    return 200


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_randomized_sequence_on_reused_connections_matches_the_reference(mpm):
    server = daemon_server(f"daemon-seq-{mpm}", "processes=2 threads=3", mpm=mpm)
    script = server.write_script("seq.py", SEQ_SCRIPT, record=False)
    server.site_conf = daemon_location("any", script) + "".join(
        daemon_location(g, script, groups=True, require=f"wsgi-group {g}")
        for g in ("staff", "ops"))
    make_docs(server, "any", "staff", "ops")
    users = list(SEQ_USERS) + ["zed", "ann", "cy"]
    failures = []

    def client(seed, count):
        rng = random.Random(f"seq-{mpm}-{seed}")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for i in range(count):
            user = rng.choice(users)
            password = SEQ_USERS.get(user, "x") if rng.random() < 0.7 else rng.choice(
                ["a1", "b2", "c3", "d4", "wrong"])
            path = rng.choice(["/any/", "/staff/", "/ops/"]) + f"?i={seed}-{i}"
            conn.request("GET", path, headers={"Authorization": basic_header(user, password)})
            resp = conn.getresponse()
            resp.read()
            want = expected_status(path, user, password)
            if resp.status != want:
                failures.append((seed, i, path, user, password, resp.status, want))
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.close()

    with server:
        threads = [threading.Thread(target=client, args=(s, 125)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert len(server.wait_access(500, timeout=10)) >= 500
        assert not server.error_lines("AUTHNZ_WSGI011"), server.error_lines("AUTHNZ_WSGI011")


def test_children_start_no_python_when_every_script_runs_in_a_daemon():
    server = daemon_server("daemon-nopy")
    script = server.write_script("auth.py", SCRIPT)
    server.site_conf = locations(script, "dmn")
    make_docs(server, "dmn/basic")
    with server:
        assert server.get_basic("/dmn/basic/", "granted", "x").status == 200
        assert server.get_basic("/dmn/basic/", "denied", "x").status == 401
        assert server.error_lines("Python not started in child"), server.error_log()
        assert any("runs in an auth daemon process" in l
                   for l in server.error_lines("Python not started in child"))
        assert not server.error_lines("AUTHNZ_WSGI0003")


def test_over_tls_is_https_and_var_lookup_answer_as_embedded():
    """Over TLS, `mod_ssl.is_https()` is True and `mod_ssl.var_lookup`
    answers the SSL_* variables the child sends as embedded does; a name
    outside that list is None in the daemon (docs/auth-daemons.md)."""
    import ssl
    import urllib.request

    from test_form_login import tls_vhost

    server = daemon_server("daemon-tls", modules=["ssl", "socache_shmcb"])
    script = server.write_script("tls.py", """
def check_password(environ, user, password):
    lookup = environ["mod_ssl.var_lookup"]
    record(https=environ["mod_ssl.is_https"](), HTTPS=environ.get("HTTPS"),
           group=environ["mod_wsgi.process_group"],
           vars={n: lookup(n) for n in ("SSL_PROTOCOL", "SSL_CIPHER", "SSL_TLS_SNI",
                                        "SSL_CLIENT_VERIFY", "SSL_SERVER_S_DN")},
           other=lookup("SSL_VERSION_LIBRARY"))
    return True
""")
    tls_conf, base, context = tls_vhost(server)
    server.site_conf = tls_conf + locations(script, "emb") + locations(script, "dmn")
    make_docs(server, "emb/basic", "dmn/basic")
    with server:
        for mode in ("emb", "dmn"):
            req = urllib.request.Request(f"{base}/{mode}/basic/",
                                         headers={"Authorization": basic_header("u", "p")})
            with urllib.request.urlopen(req, context=context, timeout=30) as resp:
                assert resp.status == 200
        emb, dmn = server.records()
        assert emb["https"] is True and dmn["https"] is True
        assert emb["HTTPS"] == dmn["HTTPS"] == "on"
        assert (emb["group"], dmn["group"]) == ("", DAEMON)
        assert dmn["vars"] == emb["vars"]
        assert dmn["vars"]["SSL_PROTOCOL"].startswith("TLS")
        assert dmn["vars"]["SSL_CIPHER"]
        assert emb["other"] and dmn["other"] is None


def test_a_call_over_the_frame_bound_is_a_logged_500():
    """Headers adding up to more than a frame carries (1 MiB, possible only
    with raised request limits): 500 and one line; the next call on the
    same connection is answered."""
    server = daemon_server("daemon-big", "processes=1 threads=1",
                           "LimitRequestFields 200\nLimitRequestFieldSize 16000\n")
    script = server.write_script("big.py", """
def check_password(environ, user, password):
    record(size=sum(len(v) for v in environ.values() if isinstance(v, str)))
    return True
""")
    server.site_conf = daemon_location("big", script)
    make_docs(server, "big")
    with server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        headers = {f"X-Big-{i}": "v" * 12000 for i in range(100)}
        headers["Authorization"] = basic_header("u", "p")
        conn.request("GET", "/big/", headers=headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 500
        assert server.records() == []
        lines = server.error_lines("[client 127.0.0.1:")
        assert any("AUTHNZ_WSGI0119" in l for l in lines), server.error_log()
        assert server.get_basic("/big/", "u", "p").status == 200
        assert len(server.records()) == 1


def test_beside_mod_wsgi_process_group_is_refused_by_mod_wsgi():
    """mod_wsgi reads the script directives too and refuses process-group=
    (docs/auth-daemons.md): `apache2 -t` fails, naming the line."""
    server = daemon_server("daemon-beside", modules=["wsgi"])
    script = server.write_script("auth.py", SCRIPT)
    server.site_conf = locations(script, "dmn")
    try:
        code, output = server.configtest()
        assert code != 0
        assert "Invalid option to WSGI auth user script definition." in output, output
    finally:
        server.cleanup()


def test_print_outside_a_call_goes_to_the_main_log_as_embedded():
    """What a script prints at import or from a thread it started reaches
    the error log from the daemon, without a request's context, as in
    embedded mode (docs/python-contract.md)."""
    server = daemon_server("daemon-outside", "processes=1 threads=2")
    script = server.write_script("outside.py", """
import threading
print("printed at import")

def check_password(environ, user, password):
    t = threading.Thread(target=lambda: print("printed by a thread"))
    t.start()
    t.join()
    return True
""")
    server.site_conf = daemon_location("o", script)
    make_docs(server, "o")
    with server:
        assert server.get_basic("/o/", "u", "p").status == 200
        deadline = time.time() + 5
        while time.time() < deadline and not server.error_lines("printed by a thread"):
            time.sleep(0.05)
        for text in ("printed at import", "printed by a thread"):
            lines = server.error_lines(text)
            assert len(lines) == 1 and "AUTHNZ_WSGI0100" in lines[0], server.error_log()
            assert "[client " not in lines[0]
