"""The environ dict (docs/python-contract.md#environ): server-computed values and request headers
only; no credentials, no SetEnv values, no header names with '_';
wsgi.errors writes to the error log with the request's context; the
mod_ssl callables are valid only during the call; application groups are
separate module instances."""

import http.client

import pytest

from harness import Apache

SCRIPT = """
COUNTER = {"calls": 0}
SAVED = {}

def check_password(environ, user, password):
    COUNTER["calls"] += 1
    env = {k: v for k, v in environ.items() if isinstance(v, (str, tuple))}
    stale = None
    if "is_https" in SAVED:
        try:
            SAVED["is_https"]()
            stale = "callable still worked"
        except RuntimeError as e:
            stale = "RuntimeError: " + str(e)
    SAVED["is_https"] = environ["mod_ssl.is_https"]
    print("hello from", user, file=environ["wsgi.errors"])
    environ["wsgi.errors"].write("partial line without newline")
    record(
        environ=env,
        keys=sorted(environ),
        is_https=environ["mod_ssl.is_https"](),
        ssl_protocol=environ["mod_ssl.var_lookup"]("SSL_PROTOCOL"),
        stale=stale,
        calls=COUNTER["calls"],
        user=user,
    )
    return True
"""


def protected(path, realm, script_args, extra=""):
    """A Basic location whose check_password is the recording script."""
    return f"""
    <Location {path}>
      {extra}
      AuthType Basic
      AuthName "{realm}"
      AuthBasicProvider wsgi
      WSGIAuthUserScript {script_args}
      Require valid-user
    </Location>
    """


@pytest.fixture(scope="module")
def apache():
    server = Apache(name="environ", server_conf="StartServers 1\nServerLimit 1\n")
    script = server.write_script("env.py", SCRIPT)
    server.site_conf = "".join([
        protected("/env", "env", f'"{script}"', "SetEnv INJECTED_BY_SETENV yes"),
        protected("/group-a", "a", f'"{script}" application-group=group-a'),
        protected("/server-group", "s", f'"{script}" application-group=%{{SERVER}}'),
    ])
    for d in ("env", "group-a", "server-group"):
        (server.docroot / d).mkdir()
        (server.docroot / d / "index.html").write_text("ok\n")
    server.start()
    yield server
    server.cleanup()


def raw_get(apache, path, headers, method="GET"):
    """http.client lets us send exactly the header names we want."""
    conn = http.client.HTTPConnection("127.0.0.1", apache.port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers:
        conn.putheader(name, value)
    conn.endheaders()
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


@pytest.fixture(scope="module")
def seen(apache):
    from harness import basic_header

    status = raw_get(
        apache,
        "/env/index.html?a=1&b=%20",
        [
            ("Authorization", basic_header("envuser", "pw")),
            ("Proxy-Authorization", "Basic c2VjcmV0OnNlY3JldA=="),
            ("X-Dash-Header", "v1"),
            ("X_Under_Header", "spoof"),
            ("X-Latin", "caf\xe9".encode("latin-1")),
            ("X-Repeat", "one"),
            ("X-Repeat", "two"),
            ("Content-Type", "text/plain"),
        ],
    )
    assert status == 200
    return apache.records()[-1]


def test_request_values(apache, seen):
    env = seen["environ"]
    assert env["REQUEST_METHOD"] == "GET"
    assert env["REQUEST_URI"] == "/env/index.html?a=1&b=%20"
    assert env["QUERY_STRING"] == "a=1&b=%20"
    assert env["SCRIPT_NAME"] == "/env/index.html"
    assert env["PATH_INFO"] == ""
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(apache.port)
    assert env["SERVER_ADDR"] == "127.0.0.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"].isdigit()
    assert env["SERVER_SOFTWARE"].startswith("Apache")
    assert env["DOCUMENT_ROOT"] == str(apache.docroot)
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["mod_wsgi.application_group"] == ""
    assert env["mod_wsgi.process_group"] == ""
    assert env["authnz_wsgi.version"]
    assert env["apache.version"][:2] == [2, 4]
    assert "REMOTE_HOST" not in env  # HostnameLookups Off
    assert "HTTPS" not in env
    assert seen["is_https"] is False
    assert seen["ssl_protocol"] is None


def test_headers(seen):
    env = seen["environ"]
    assert env["HTTP_X_DASH_HEADER"] == "v1"
    assert env["HTTP_X_LATIN"] == "café"  # Latin-1 decoded, as PEP 3333
    assert env["HTTP_X_REPEAT"] == "one, two"
    assert env["HTTP_HOST"] == env["HTTP_HOST"].strip() and env["HTTP_HOST"]


def test_nothing_secret_or_injected(seen):
    keys = seen["keys"]
    assert "HTTP_AUTHORIZATION" not in keys
    assert "HTTP_PROXY_AUTHORIZATION" not in keys
    assert not [k for k in keys if "UNDER" in k], keys
    assert not [k for k in keys if "INJECTED" in k], keys
    assert "spoof" not in seen["environ"].values()
    assert not [v for v in seen["environ"].values() if isinstance(v, str) and "c2VjcmV0" in v]


def test_wsgi_errors_logs_with_request_context(apache, seen):
    lines = apache.error_lines("AUTHNZ_WSGI0040: hello from envuser")
    assert lines and "[client 127.0.0.1:" in lines[-1]
    # A last line without a newline is flushed when the call ends.
    assert apache.error_lines("AUTHNZ_WSGI0040: partial line without newline")


def test_ssl_callables_expire_after_the_call(apache, seen):
    assert apache.get_basic("/env/index.html", "second", "pw").status == 200
    later = apache.records()[-1]
    assert later["stale"] == "RuntimeError: mod_ssl callables are only valid during the call"


def test_application_groups_are_separate_module_instances(apache):
    assert apache.get_basic("/env/index.html", "g", "pw").status == 200
    global_calls = apache.records()[-1]["calls"]
    assert apache.get_basic("/group-a/index.html", "g", "pw").status == 200
    rec = apache.records()[-1]
    assert rec["environ"]["mod_wsgi.application_group"] == "group-a"
    # A fresh module: its counter starts at 1 while the global one is higher.
    assert rec["calls"] == 1 and global_calls > 1
    assert apache.get_basic("/server-group/index.html", "g", "pw").status == 200
    rec = apache.records()[-1]
    assert rec["environ"]["mod_wsgi.application_group"] == f"127.0.0.1:{apache.port}"
    loads = apache.error_lines("AUTHNZ_WSGI0024")
    assert any("application group 'group-a'" in l for l in loads)
    # The global group is logged as the configuration writes it.
    assert any("application group '%{GLOBAL}'" in l for l in loads), loads
    assert not any("application group ''" in l for l in loads), loads


def one_thread_server(name, script_text, extra_conf=""):
    """A started prefork server with one child of one thread, so every call
    runs on the same worker thread, whose /env location calls `script_text`."""
    server = Apache(name=name, mpm="prefork",
                    server_conf="StartServers 1\nServerLimit 1\nMaxRequestWorkers 1\n"
                                "MinSpareServers 1\nMaxSpareServers 1\n" + extra_conf)
    try:
        script = server.write_script("env.py", script_text)
        server.site_conf = protected("/env", "env", f'"{script}"')
        (server.docroot / "env").mkdir()
        (server.docroot / "env" / "index.html").write_text("ok\n")
        server.start()
    except BaseException:
        server.cleanup()
        raise
    return server


MUTATING_SCRIPT = SCRIPT + """
_check = check_password

def check_password(environ, user, password):
    granted = _check(environ, user, password)
    # What a script does to its environ must not reach the next call.
    environ["HTTP_X_VALUE"] = "tampered"
    environ["REQUEST_METHOD"] = "TAMPERED"
    environ["injected"] = "by the script"
    environ.pop("QUERY_STRING", None)
    environ.pop("CONTENT_TYPE", None)
    return granted
"""


def test_values_are_the_requests_own_when_one_thread_serves_them_all():
    """A worker thread builds each environ from its previous one, changing
    only what differs: every call must still see exactly its own request's
    values, whether they repeat, change, grow past the kept length, appear
    or disappear, whatever the previous call did to its own dict, and with
    more headers than a thread keeps."""
    from harness import basic_header

    server = one_thread_server("environ-one-thread", MUTATING_SCRIPT,
                               "LimitRequestFields 200\n")
    try:
        many = [(f"X-Many-{i}", f"v{i}") for i in range(80)]
        sent = [
            ("GET", "/env/index.html?q=1", [("X-Value", "same")]),
            ("GET", "/env/index.html?q=1", [("X-Value", "same")]),
            ("HEAD", "/env/index.html?q=2", [("X-Value", "changed"),
                                              ("Content-Type", "text/plain")]),
            ("GET", "/env/index.html", [("X-Value", "x" * 300)]),
            ("GET", "/env/index.html", [("X-Value", "x" * 300), ("Content-Type", "a/b")]),
            ("GET", "/env/index.html?q=1", []),
            ("GET", "/env/index.html?q=1", [("X-Value", "caf\xe9".encode("latin-1"))]),
            ("GET", "/env/index.html?q=3", many + [("X-Value", "after many")]),
            ("GET", "/env/index.html?q=3", many[40:]),
            ("GET", "/env/index.html?q=4", [("X-Value", "same"), ("X-Value", "again")]),
            ("GET", "/env/index.html?q=1", [("X-Value", "same")]),
        ]
        auth = ("Authorization", basic_header("envuser", "pw"))
        for method, path, headers in sent:
            assert raw_get(server, path, [auth, *headers], method) == 200
        records = server.records()
        assert len(records) == len(sent)
        for (method, path, headers), rec in zip(sent, records):
            env = rec["environ"]
            assert env["REQUEST_METHOD"] == method
            assert env["REQUEST_URI"] == path
            assert env["QUERY_STRING"] == path.partition("?")[2]
            assert "injected" not in env
            values = [v.decode("latin-1") if isinstance(v, bytes) else v
                      for n, v in headers if n == "X-Value"]
            assert env.get("HTTP_X_VALUE") == (", ".join(values) if values else None), \
                (path, headers, env.get("HTTP_X_VALUE"))
            assert env.get("CONTENT_TYPE") == dict(headers).get("Content-Type")
            sent_many = {f"HTTP_{n.upper().replace('-', '_')}": v
                         for n, v in headers if n.startswith("X-Many-")}
            got_many = {k: v for k, v in env.items() if k.startswith("HTTP_X_MANY_")}
            assert got_many == sent_many
    finally:
        server.cleanup()


REUSE_SCRIPT = """
KEPT = {}

def check_password(environ, user, password):
    stale = None
    if "env" in KEPT:
        kept = KEPT.pop("env")
        try:
            kept["mod_ssl.is_https"]()
            stale = "callable still worked"
        except RuntimeError:
            stale = "RuntimeError"
        print("late line", file=kept["wsgi.errors"])
    if user == "keeper":
        KEPT["env"] = environ
    print("line for", environ["REQUEST_URI"], file=environ["wsgi.errors"])
    environ["wsgi.errors"].write("unfinished " + environ["REQUEST_URI"])
    record(
        user=user,
        uri=environ["REQUEST_URI"],
        port=environ["REMOTE_PORT"],
        objects=[id(environ[k]) for k in ("wsgi.errors", "mod_ssl.is_https",
                                          "mod_ssl.var_lookup")],
        https=environ["mod_ssl.is_https"](),
        stale=stale,
    )
    return True
"""


def test_request_objects_serve_each_call_on_one_thread():
    """One worker thread: a call's wsgi.errors and mod_ssl callables are
    used again by the next call only when the script kept none of them;
    each call's log lines carry its own request's context, and objects a
    script kept stay detached (they raise, and write to the server log)."""
    from harness import basic_header

    server = one_thread_server("environ-objects", REUSE_SCRIPT)
    try:
        users = ["plain", "plain", "plain", "keeper", "plain", "plain"]
        for i, user in enumerate(users):
            auth = ("Authorization", basic_header(user, "pw"))
            assert raw_get(server, f"/env/index.html?n={i}", [auth]) == 200
        records = server.records()
        assert [r["uri"] for r in records] == [f"/env/index.html?n={i}" for i in range(6)]
        objects = [r["objects"] for r in records]
        # Nothing kept: the next call on the thread gets the same objects.
        assert objects[0] == objects[1] == objects[2] == objects[3]
        # The keeper's environ still refers to them: call 4 gets new ones,
        # and the kept ones are detached.
        assert all(a != b for a, b in zip(objects[3], objects[4]))
        assert records[4]["stale"] == "RuntimeError"
        assert objects[5] == objects[4]
        assert [r["stale"] for r in records[:4]] == [None] * 4 and records[5]["stale"] is None
        assert not any(r["https"] for r in records)
        for r in records:
            lines = server.error_lines(f"AUTHNZ_WSGI0040: line for {r['uri']}")
            assert len(lines) == 1 and f"[client 127.0.0.1:{r['port']}]" in lines[0], lines
            ends = server.error_lines(f"AUTHNZ_WSGI0040: unfinished {r['uri']}")
            assert len(ends) == 1 and f"[client 127.0.0.1:{r['port']}]" in ends[0], ends
        late = server.error_lines("AUTHNZ_WSGI0040: late line")
        assert len(late) == 1 and "[client" not in late[0], late
    finally:
        server.cleanup()
