"""Identity reflection with the module's own directives (docs/identity-reflection.md):
`WSGIReflectAuth On` takes X-Remote-User / X-Auth-Type from the response of
a CGI script or a mod_proxy backend, logs them as %u and r->ap_auth_type, and
the headers never reach the client (HTTP/1.1 and h2c, every status, HEAD,
chunked, ErrorDocument). Spoofed request headers are removed, bad values are
dropped with a log line, Apache's own authentication wins, and a server that
only reflects never starts Python."""

import base64
import hashlib
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest

from harness import Apache, free_port

IDENTITY_HEADERS = (b"x-remote-user", b"x-auth-type")


class Backend(http.server.BaseHTTPRequestHandler):
    """The mod_proxy backend: /status/<code>?user=..&type=.. answers with
    that status and identity; /echo reports the request headers it got and
    echoes a received X-Remote-User into its response (the spoofing risk);
    /chunked streams; /dup sends X-Remote-User twice."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        parts = url.path.strip("/").split("/")
        kind = parts[-2] if len(parts) >= 2 and parts[-2] == "status" else parts[-1]
        if kind == "status":
            self.answer(int(parts[-1]), query)
        elif kind == "echo":
            got = {k: v for k, v in self.headers.items()}
            body = json.dumps(got).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if "X-Remote-User" in self.headers:
                self.send_header("X-Remote-User", self.headers["X-Remote-User"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif kind == "hints":
            # A 103 interim response carrying the identity, then the answer.
            self.wfile.write(
                b"HTTP/1.1 103 Early Hints\r\nX-Remote-User: alice\r\n"
                b"Link: </style.css>; rel=preload\r\n\r\n"
            )
            self.wfile.flush()
            self.answer(200, {"user": "alice"})
        elif kind == "chunked":
            self.send_response(200)
            self.send_header("X-Remote-User", "alice")
            self.send_header("X-Auth-Type", "Bearer")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                for piece in (b"one\n", b"two\n", b"three\n"):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                    time.sleep(0.05)
                self.wfile.write(b"0\r\n\r\n")
        elif kind == "dup":
            body = b"dup\n"
            self.send_response(200)
            self.send_header("X-Remote-User", "alice")
            self.send_header("X-Remote-User", "bob")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.answer(200, query)

    do_HEAD = do_GET

    def answer(self, code, query):
        body = b"" if code in (204, 304) else f"backend says {code}\n".encode()
        self.send_response(code)
        self.send_header("X-Remote-User", query.get("user", "alice"))
        self.send_header("X-Auth-Type", query.get("type", "Bearer"))
        for name, key in (("X-App-User", "app_user"), ("X-App-Auth", "app_type")):
            if key in query:
                self.send_header(name, query[key])
        if code not in (204, 304):
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def cgi(text):
    """A /bin/sh CGI script printing `text` (CRLF line ends added)."""
    return "#!/bin/sh\nprintf '%s'\n" % text.replace("\n", "\\r\\n")


CGI_SCRIPTS = {
    "ok.cgi": cgi("Content-Type: text/plain\nX-Remote-User: alice\nX-Auth-Type: Bearer\n\nhello\n"),
    "s204.cgi": cgi("Status: 204 No Content\nX-Remote-User: alice\nX-Auth-Type: Bearer\n\n"),
    "s304.cgi": cgi("Status: 304 Not Modified\nX-Remote-User: alice\nX-Auth-Type: Bearer\n\n"),
    "s404.cgi": cgi("Status: 404 Not Found\nContent-Type: text/plain\nX-Remote-User: alice\n"
                    "X-Auth-Type: Bearer\n\nnot here\n"),
    "s500.cgi": cgi("Status: 500 Oops\nContent-Type: text/plain\nX-Remote-User: alice\n"
                    "X-Auth-Type: Bearer\n\nbroken\n"),
    "errdoc.cgi": cgi("Status: 404 Not Found\nContent-Type: text/plain\nX-Remote-User: carol\n"
                      "X-Auth-Type: Session\n\ncustom error page\n"),
    "badtype.cgi": cgi("Content-Type: text/plain\nX-Remote-User: erin\nX-Auth-Type: Bea\trer\n\nok\n"),
    "chunked.cgi": "#!/bin/sh\n"
                   "printf 'Content-Type: text/plain\\r\\nX-Remote-User: alice\\r\\n"
                   "X-Auth-Type: Bearer\\r\\n\\r\\none\\n'\n"
                   "sleep 0.2\nprintf 'two\\n'\nsleep 0.2\nprintf 'three\\n'\n",
    "echo.cgi": "#!/bin/sh\n"
                "printf 'Content-Type: text/plain\\r\\n'\n"
                "[ -n \"$HTTP_X_REMOTE_USER\" ] && printf 'X-Remote-User: %s\\r\\n' \"$HTTP_X_REMOTE_USER\"\n"
                "printf '\\r\\nseen=%s|%s\\n' \"$HTTP_X_REMOTE_USER\" \"$HTTP_X_AUTH_TYPE\"\n",
}

LUA_PROBE = """
function probe(r)
  r:notice("REFLECT_PROBE uri=" .. r.uri .. " user=" .. tostring(r.user)
           .. " ap_auth_type=" .. tostring(r.ap_auth_type))
  return apache2.DECLINED
end
"""


@pytest.fixture(scope="module")
def backend():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def apache(backend):
    server = Apache(
        name="reflect-native",
        modules=["cgi", "proxy", "proxy_http", "http2", "lua", "authn_file"],
    )
    cgi_dir = server.dir / "cgi"
    cgi_dir.mkdir()
    for name, text in CGI_SCRIPTS.items():
        path = cgi_dir / name
        path.write_text(text)
        os.chmod(path, 0o755)
    errors = server.docroot / "errors"
    errors.mkdir()
    (errors / "404.html").write_text("static error page\n")
    (server.docroot / "hdr").mkdir()
    (server.docroot / "hdr" / "page.html").write_text("page\n")
    probe = server.dir / "probe.lua"
    probe.write_text(LUA_PROBE)
    digest = base64.b64encode(hashlib.sha1(b"bobpw").digest()).decode()
    htpasswd = server.dir / "htpasswd"
    htpasswd.write_text(f"bob:{{SHA}}{digest}\n")
    os.chmod(htpasswd, 0o644)
    logs = server.dir / "logs"
    back = f"http://127.0.0.1:{backend}"
    server.server_conf = "Protocols h2c http/1.1\n"
    server.site_conf = f"""
    LogLevel info authnz_wsgi:debug lua:notice
    # ap_auth_type as the log phase sees it: ap_expr's AUTH_TYPE is r->ap_auth_type
    CustomLog "{logs}/auth_type.log" "%U %u" "expr=%{{AUTH_TYPE}} == 'Bearer'"
    LuaHookLog "{probe}" probe
    Alias /cgi "{cgi_dir}"
    Alias /plaincgi "{cgi_dir}"
    <Directory "{cgi_dir}">
      Options +ExecCGI
      SetHandler cgi-script
      Require all granted
    </Directory>
    <Location /cgi>
      WSGIReflectAuth On
    </Location>
    <Location /proxy>
      WSGIReflectAuth On
      ProxyPass {back}
    </Location>
    <Location /plainproxy>
      ProxyPass {back}
    </Location>
    <Location /renamed>
      WSGIReflectAuth On
      WSGIReflectUserHeader X-App-User
      WSGIReflectAuthTypeHeader X-App-Auth
      ProxyPass {back}
    </Location>
    <Location /override>
      WSGIReflectAuth On
      ProxyPass {back}
      ProxyErrorOverride On
    </Location>
    <Location /override/status/404>
      ErrorDocument 404 /errors/404.html
    </Location>
    <Location /gone>
      WSGIReflectAuth On
      ErrorDocument 404 /cgi/errdoc.cgi
    </Location>
    <Location /hdr>
      WSGIReflectAuth On
      Header always set X-Remote-User dave
      Header always set X-Auth-Type Header
    </Location>
    <Location /authed>
      WSGIReflectAuth On
      AuthType Basic
      AuthName "authed"
      AuthBasicProvider file
      AuthUserFile "{htpasswd}"
      Require valid-user
      ProxyPass {back}
    </Location>
    """
    server.start()
    yield server
    server.cleanup()


def raw_http1(server, path, method="GET", headers=()):
    """The exact bytes Apache sends for one HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    mark = server.access_count()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
        # The client port names this request's access-log line (`logged`).
        server.raw_requests = getattr(server, "raw_requests", {})
        server.raw_requests[path] = (sock.getsockname()[1], mark)
    return b"".join(chunks)


def status_of(raw):
    return int(raw.split(b" ", 2)[1])


def head_of(raw):
    return raw.split(b"\r\n\r\n", 1)[0].lower()


def body_of(raw):
    """The response body, de-chunked when Apache chose chunked encoding
    (CGI output gets a Content-Length only when it all arrived at once)."""
    head, body = raw.split(b"\r\n\r\n", 1)
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    out = b""
    while True:
        size_line, body = body.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        out += body[:size]
        body = body[size + 2:]


def h2c(server, path, *args):
    """curl over h2c (prior knowledge): (status, header block lowercased)."""
    p = subprocess.run(
        ["curl", "-sS", "-i", "--http2-prior-knowledge", *args, server.url(path)],
        capture_output=True,
        timeout=60,
    )
    out = p.stdout
    assert out.startswith(b"HTTP/2 "), out[:200] + p.stderr
    return int(out.split(b" ", 2)[1]), out.split(b"\r\n\r\n", 1)[0].lower()


def assert_clean(header_block):
    for name in IDENTITY_HEADERS:
        assert name not in header_block, header_block


def logged(server, uri, status=None):
    """The access-log entry of the newest request for `uri` (of the newest
    raw_http1 request for it, by its client port: the line is written after
    the response, so an earlier request's may be the newest so far)."""
    port, mark = getattr(server, "raw_requests", {}).get(uri, (None, 0))
    deadline = time.time() + 5
    while True:
        entries = [e for e in server.access_entries()[mark:] if e["uri"] == uri
                   and (port is None or e["port"] == port)
                   and (status is None or e["status"] == status)]
        if entries or time.time() > deadline:
            assert entries, server.access_entries()
            return entries[-1]
        time.sleep(0.02)


# (path, method, status the client sees, user %u shows)
WIRE_CASES = [
    ("/cgi/ok.cgi", "GET", 200, "alice"),
    ("/cgi/ok.cgi", "HEAD", 200, "alice"),
    ("/cgi/chunked.cgi", "GET", 200, "alice"),
    ("/cgi/s204.cgi", "GET", 204, "alice"),
    ("/cgi/s304.cgi", "GET", 304, "alice"),
    ("/cgi/s404.cgi", "GET", 404, "alice"),
    ("/cgi/s500.cgi", "GET", 500, "alice"),
    ("/proxy/status/200", "GET", 200, "alice"),
    ("/proxy/status/200", "HEAD", 200, "alice"),
    ("/proxy/status/204", "GET", 204, "alice"),
    ("/proxy/status/304", "GET", 304, "alice"),
    ("/proxy/status/404", "GET", 404, "alice"),
    ("/proxy/status/500", "GET", 500, "alice"),
    ("/proxy/chunked", "GET", 200, "alice"),
    ("/override/status/404", "GET", 404, "alice"),
    ("/gone/missing", "GET", 404, "carol"),
    ("/hdr/page.html", "GET", 200, "dave"),
    ("/hdr/missing.html", "GET", 404, "dave"),
]


@pytest.mark.parametrize("path,method,status,user", WIRE_CASES)
def test_http1_wire_never_shows_identity(apache, path, method, status, user):
    raw = raw_http1(apache, path, method)
    assert status_of(raw) == status, raw[:300]
    assert_clean(head_of(raw))
    assert b"x-remote-user" not in raw.lower() and b"x-auth-type" not in raw.lower()
    assert logged(apache, path, status)["user"] == user


@pytest.mark.parametrize("path,method,status,user", WIRE_CASES)
def test_h2c_wire_never_shows_identity(apache, path, method, status, user):
    args = ["-I"] if method == "HEAD" else []
    got, block = h2c(apache, path, *args)
    assert got == status
    assert_clean(block)


def test_control_without_reflection_leaks(apache):
    """The same backend and scripts outside a reflecting location do send the
    headers: the checks above would see them."""
    raw = raw_http1(apache, "/plainproxy/status/200")
    assert b"x-remote-user: alice" in head_of(raw)
    raw = raw_http1(apache, "/plaincgi/ok.cgi")
    assert b"x-remote-user: alice" in head_of(raw)
    assert logged(apache, "/plaincgi/ok.cgi")["user"] == "-"


def test_interim_responses_cannot_carry_identity(apache):
    """mod_proxy sends 1xx interim responses without running output filters;
    where reflection is on they are suppressed, elsewhere they pass."""
    raw = raw_http1(apache, "/proxy/hints")
    assert status_of(raw) == 200
    assert b" 103 " not in raw and b"x-remote-user" not in raw.lower(), raw[:400]
    assert logged(apache, "/proxy/hints", 200)["user"] == "alice"
    raw = raw_http1(apache, "/plainproxy/hints")
    assert b"HTTP/1.1 103" in raw and b"x-remote-user: alice" in raw.lower()


def test_chunked_responses_stay_chunked(apache):
    for path in ("/proxy/chunked", "/cgi/chunked.cgi"):
        raw = raw_http1(apache, path)
        assert b"transfer-encoding: chunked" in head_of(raw)
        assert_clean(head_of(raw))
        assert body_of(raw) == b"one\ntwo\nthree\n"


def test_error_document_static_page_after_proxy_error(apache):
    raw = raw_http1(apache, "/override/status/404")
    assert body_of(raw) == b"static error page\n"
    entry = logged(apache, "/override/status/404", 404)
    assert entry["user"] == "alice"


def test_error_document_served_by_reflecting_script(apache):
    raw = raw_http1(apache, "/gone/missing")
    assert body_of(raw).strip() == b"custom error page"
    entry = logged(apache, "/gone/missing", 404)
    assert entry["user"] == "carol" and entry["auth_type"] == "Session"


def test_auth_type_reaches_log_phase(apache):
    """r->ap_auth_type: a CustomLog whose ap_expr condition reads AUTH_TYPE
    logs only reflected Bearer requests; mod_lua's log hook reads the field
    directly; %{AUTH_TYPE}e shows it too."""
    raw_http1(apache, "/proxy/status/200?type=Bearer&user=frank")
    raw_http1(apache, "/proxy/status/200?type=Cookie&user=grace")
    assert logged(apache, "/proxy/status/200?type=Bearer&user=frank")["auth_type"] == "Bearer"
    assert logged(apache, "/proxy/status/200?type=Cookie&user=grace")["auth_type"] == "Cookie"
    auth_type_log = apache.dir / "logs" / "auth_type.log"
    deadline = time.time() + 5
    while time.time() < deadline:
        lines = auth_type_log.read_text().splitlines() if auth_type_log.exists() else []
        if "/proxy/status/200 frank" in lines:
            break
        time.sleep(0.02)
    assert "/proxy/status/200 frank" in lines
    assert not any("grace" in line for line in lines)
    deadline = time.time() + 5
    while time.time() < deadline and not apache.error_lines("user=grace"):
        time.sleep(0.02)
    probe = apache.error_lines("REFLECT_PROBE uri=/proxy/status/200 user=grace")
    assert probe and "ap_auth_type=Cookie" in probe[-1], apache.error_log()[-2000:]


def test_renamed_headers(apache):
    raw = raw_http1(apache, "/renamed/status/200?user=heidi")
    # The backend still sends X-Remote-User: only the configured names are
    # identity headers here, the others pass.
    assert b"x-remote-user: heidi" in head_of(raw)
    assert logged(apache, "/renamed/status/200?user=heidi")["user"] == "-"


@pytest.mark.parametrize("status", [200, 404])
def test_configured_header_names_are_stripped_and_reflected(apache, status):
    uri = f"/renamed/status/{status}?app_user=ivan&app_type=Token"
    raw = raw_http1(apache, uri)
    head = head_of(raw)
    assert head.startswith(b"http/1.1 %d" % status), head
    assert b"x-app-user" not in head and b"x-app-auth" not in head, head
    entry = logged(apache, uri, status)
    assert entry["user"] == "ivan" and entry["auth_type"] == "Token", entry


SPOOF_HEADERS = [
    "X-Remote-User: mallory",
    "x_remote_user: mallory2",
    "X-REMOTE_USER: mallory3",
    "X_Auth-Type: Spoofed",
]


def test_spoofed_request_headers_never_reach_proxy_backend(apache):
    raw = raw_http1(apache, "/proxy/echo", headers=SPOOF_HEADERS)
    seen = json.loads(body_of(raw))
    assert not [k for k in seen if k.lower().replace("_", "-") in ("x-remote-user", "x-auth-type")], seen
    assert_clean(head_of(raw))
    assert logged(apache, "/proxy/echo")["user"] == "-"
    assert apache.error_lines("AUTHNZ_WSGI0052")
    # Control: without reflection, the backend receives (and echoes) them.
    raw = raw_http1(apache, "/plainproxy/echo", headers=SPOOF_HEADERS)
    seen = json.loads(body_of(raw))
    assert seen.get("X-Remote-User") == "mallory" and "x_remote_user" in seen


def test_spoofed_request_headers_never_reach_cgi(apache):
    raw = raw_http1(apache, "/cgi/echo.cgi", headers=SPOOF_HEADERS)
    assert body_of(raw) == b"seen=|\n", raw
    assert logged(apache, "/cgi/echo.cgi")["user"] == "-"
    raw = raw_http1(apache, "/plaincgi/echo.cgi", headers=SPOOF_HEADERS)
    assert body_of(raw) == b"seen=mallory|\n", raw


@pytest.mark.parametrize(
    "path,reason",
    [
        ("/proxy/status/200?user=" + "a" * 300, "300 bytes long"),
        ("/proxy/status/200?user=ali%09ce", "control character at byte 3"),
        ("/proxy/dup", "appears 2 times with different values"),
    ],
)
def test_bad_values_dropped_with_log_line(apache, path, reason):
    raw = raw_http1(apache, path)
    assert status_of(raw) == 200
    assert_clean(head_of(raw))
    assert logged(apache, path)["user"] == "-"
    lines = [l for l in apache.error_lines("AUTHNZ_WSGI0050") if reason in l]
    assert lines, apache.error_log()[-3000:]


def test_bad_auth_type_keeps_user(apache):
    raw = raw_http1(apache, "/cgi/badtype.cgi")
    assert_clean(head_of(raw))
    entry = logged(apache, "/cgi/badtype.cgi")
    assert entry["user"] == "erin" and entry["auth_type"] == "-"
    assert [l for l in apache.error_lines("AUTHNZ_WSGI0050") if "X-Auth-Type" in l]


def test_apache_authentication_is_not_overridden(apache):
    good = "Basic " + base64.b64encode(b"bob:bobpw").decode()
    raw = raw_http1(apache, "/authed/status/200?user=alice", headers=[f"Authorization: {good}"])
    assert status_of(raw) == 200
    assert_clean(head_of(raw))
    assert logged(apache, "/authed/status/200?user=alice")["user"] == "bob"
    assert [l for l in apache.error_lines("AUTHNZ_WSGI0051") if "'bob'" in l and "'alice'" in l]
    # A 401 from Apache names nobody, whatever the (never reached) app says.
    raw = raw_http1(apache, "/authed/status/200?user=mallory")
    assert status_of(raw) == 401
    assert logged(apache, "/authed/status/200?user=mallory", 401)["user"] == "-"


def test_reflection_only_server_never_starts_python(apache):
    log = apache.error_log()
    assert "AUTHNZ_WSGI0003" not in log
    assert "AUTHNZ_WSGI0058" in log


def test_python_flag_is_recomputed_per_configuration():
    """WSGIAuthAllowOverride On may need Python (for .htaccess scripts);
    after a graceful restart into a reflection-only configuration the
    children skip Python again."""
    server = Apache(name="reflect-python", server_conf="WSGIAuthAllowOverride On\n",
                    site_conf="<Location /x>\n  WSGIReflectAuth On\n</Location>\n")
    try:
        server.start()
        deadline = time.time() + 10
        while time.time() < deadline and not server.error_lines("AUTHNZ_WSGI0003"):
            time.sleep(0.05)
        assert server.error_lines("AUTHNZ_WSGI0003")
        assert not server.error_lines("AUTHNZ_WSGI0058")
        server.server_conf = ""
        server.write_config()
        server.graceful()
        deadline = time.time() + 10
        while time.time() < deadline and not server.error_lines("AUTHNZ_WSGI0058"):
            time.sleep(0.05)
        assert server.error_lines("AUTHNZ_WSGI0058")
    finally:
        server.cleanup()


def test_config_errors():
    for bad in ("WSGIReflectAuth maybe", "WSGIReflectUserHeader", "WSGIReflectUserHeader X:User",
                'WSGIReflectAuthTypeHeader "X Type"'):
        server = Apache(name="reflect-conf", site_conf=f"<Location /x>\n  {bad}\n</Location>\n")
        try:
            code, out = server.configtest()
        finally:
            server.cleanup()
        assert code != 0 and "httpd.conf" in out, (bad, out)
