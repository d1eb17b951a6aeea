"""Identity reflection (docs/identity-reflection.md), one suite for every implementation.

An application names its user in `X-Remote-User` (and `X-Auth-Type`); Apache
logs it as %u, and the headers never reach the client. Every case runs through
real Apache against each variant of the `variant` fixture:

  lua     lua/authnz_reflect.conf + lua/authnz_reflect.lua (mod_lua, mod_headers)

To add a variant, write a function like `lua_variant` that returns a
`Variant` and list it in VARIANTS (the module's own filter is sketched in
`native_variant` below). What a variant cannot do is a flag in `Variant`;
the tests for it then run as strict xfails, so they fail once it can.

Every wire check is paired with a control that shows the same header on the
wire without reflection, and the last tests run the widely copied log-phase
recipe to show that these checks catch its leak.

Beyond the response headers: client-sent identity headers on every way into a
reflecting location (DirectoryIndex, FallbackResource, MultiViews, rewrites,
ErrorDocument, Action, mod_include), HTTP/2 trailers, 103 Early Hints and
WebSocket upgrades (mod_proxy_http's 101, mod_proxy_wstunnel's raw tunnel),
which httpd sends without running any output filter.

Backends: tests/backends/identity.cgi (CGI) and identity_server.py (behind
mod_proxy; it also sends trailers, 103s and speaks WebSocket), both driven by
the query string (see identity_app.py).
HTTP/1.1 answers are read as raw bytes from a socket; HTTP/2 (h2c) through
`curl --http2-prior-knowledge`.
"""

import base64
import dataclasses
import hashlib
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness import Apache

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = Path(__file__).resolve().parent / "backends"
LUA_DIR = ROOT / "lua"
IDENTITY = (b"x-remote-user", b"x-auth-type")


@dataclasses.dataclass
class Variant:
    name: str
    modules: list            # Apache modules beyond the harness's base set
    load_authnz_wsgi: bool
    server_conf: str         # server-level lines
    on: str                  # lines that turn reflection on in a <Location>
    dropped: str             # in the error-log line for a dropped value
    spoof: str               # in the error-log line for a removed request header
    kept: str                # in the debug line when Apache's user is kept
    debug: str               # LogLevel argument that shows that debug line
    sets_ap_auth_type: bool  # r->ap_auth_type itself, not only AUTH_TYPE in the env
    # A backend error replaced by an ErrorDocument (ProxyErrorOverride): does
    # the app's identity still reach %u?
    reflects_replaced_error: bool
    # Apache's error path (ap_die -> ap_send_error_response) with the app's
    # headers still in the table it sends: a CGI script's response turned
    # into 412 by Apache's own precondition check, an in-process handler
    # returning 204/304. Only protocol filters and insert_error_filter ones
    # run there. Stripped and reflected?
    covers_error_path: bool
    # In the error-log line of a request-header strip that ran just before
    # the handler, for a request switched to the location late.
    spoof_late: str
    # Does a request switched to the reflecting location by MultiViews (in
    # type_checker, before fixups) need the strip before the handler?
    late_after_multiviews: bool
    # HTTP/2 trailers (r->trailers_out) from a proxied backend: stripped?
    strips_trailers: bool
    # In the warning for a dropped trailer.
    trailer_dropped: str
    # A WebSocket upgrade through the location: relayed (101, with the
    # identity taken out of it), or refused?
    relays_upgrade: bool
    # In the log line for a refused upgrade.
    upgrade_refused: str
    # In the log line for an upgrade refused because mod_proxy_wstunnel's
    # legacy mode would tunnel the backend's 101 unseen.
    raw_tunnel_refused: str
    # `RequestHeader set X-Remote-User ...` in a reflecting location (the
    # server naming a user for the app): does it still reach the app?
    keeps_server_set_header: bool


def lua_variant():
    return Variant(
        name="lua",
        modules=["lua"],
        load_authnz_wsgi=False,
        server_conf=f'Define AUTHNZ_REFLECT_LUA "{LUA_DIR / "authnz_reflect.lua"}"\n',
        on=f'Include "{LUA_DIR / "authnz_reflect.conf"}"\n',
        dropped="authnz_reflect: dropped",
        spoof="authnz_reflect: removed request header",
        kept="authnz_reflect: kept user",
        debug="lua:debug",
        # mod_lua can write r.user but not r.ap_auth_type (lua_request.c
        # req_newindex accepts args, content_type, filename, handler,
        # proxyreq, status, uri, user only).
        sets_ap_auth_type=False,
        # The identity sits in the headers_out of the first request of the
        # chain; LuaHookLog sees that request but %u reads the last one, and
        # mod_lua reaches neither r->next nor r->prev.
        reflects_replaced_error=False,
        # The Lua filter is a resource filter and `Header unset` (without
        # `always`) lives in a content filter: neither is on that path, and
        # `Header always unset` there edits err_headers_out, which
        # ap_send_error_response has just emptied (it swaps the tables).
        covers_error_path=False,
        spoof_late="just before the handler",
        # mod_lua's strip runs in the fixups, which follow type_checker.
        late_after_multiviews=False,
        # mod_lua has no access to r->trailers_out (no trailers_out field
        # in lua_request.c), and mod_headers edits headers only.
        strips_trailers=False,
        trailer_dropped="",
        # No hook or filter of mod_lua runs between mod_proxy_http reading
        # the backend's 101 and sending it; the snippet removes the
        # request's Upgrade header instead.
        relays_upgrade=False,
        upgrade_refused="authnz_reflect: removed request header Upgrade",
        # The strip just before the handler cannot tell a header mod_headers
        # set from one the client sent (mod_lua reaches neither r->main nor
        # the table a fast redirect kept), so it removes both.
        keeps_server_set_header=False,
        raw_tunnel_refused="authnz_reflect: removed request header Upgrade",
    )


def native_variant():
    """The module's own directives."""
    return Variant(
        name="native",
        modules=[],
        load_authnz_wsgi=True,
        server_conf="",
        on="WSGIReflectAuth On\n"
           # optional, these are the defaults:
           "WSGIReflectUserHeader X-Remote-User\n"
           "WSGIReflectAuthTypeHeader X-Auth-Type\n",
        dropped="AUTHNZ_WSGI0050",
        spoof="AUTHNZ_WSGI0052",
        kept="AUTHNZ_WSGI0051",
        debug="authnz_wsgi:debug",
        sets_ap_auth_type=True,
        reflects_replaced_error=True,
        covers_error_path=True,
        spoof_late="AUTHNZ_WSGI0090",
        late_after_multiviews=True,
        strips_trailers=True,
        trailer_dropped="AUTHNZ_WSGI0091",
        relays_upgrade=True,
        upgrade_refused="",
        keeps_server_set_header=True,
        raw_tunnel_refused="AUTHNZ_WSGI0095",
    )


VARIANTS = {"lua": lua_variant, "native": native_variant}


# ---- servers -----------------------------------------------------------------

def install_cgi(server):
    """tests/backends' CGI script into the server's dir; returns that dir."""
    cgi_dir = server.dir / "cgi"
    cgi_dir.mkdir()
    for name, mode in (("identity.cgi", 0o755), ("identity_app.py", 0o644)):
        shutil.copy(BACKENDS / name, cgi_dir / name)
        os.chmod(cgi_dir / name, mode)
    return cgi_dir


def install_routes(server):
    """The directory behind /routes (and /plainroutes): the CGI script as
    its DirectoryIndex, a copy run by media type (`.xcgi`), a static file;
    and the pages that reach it through mod_include, mod_rewrite's
    per-directory rules and a directory listing. Returns the routes dir."""
    routes = server.dir / "routes"
    routes.mkdir()
    for name, source, mode in (("identity.cgi", "identity.cgi", 0o755),
                               ("identity_app.py", "identity_app.py", 0o644),
                               ("bytype.xcgi", "identity.cgi", 0o755)):
        shutil.copy(BACKENDS / source, routes / name)
        os.chmod(routes / name, mode)
    (routes / "static.txt").write_text("static file\n")
    (routes / "listing").mkdir()
    (routes / "listing" / "entry.txt").write_text("entry\n")
    ssi = server.docroot / "ssi"
    ssi.mkdir()
    (ssi / "file.shtml").write_text(
        'page\n<!--#include virtual="/routes/identity.cgi?echo=1" -->\nend\n')
    (ssi / "dir.shtml").write_text('page\n<!--#include virtual="/routes/?echo=1" -->\nend\n')
    (server.docroot / "rw").mkdir()
    return routes


def site_conf(server, cgi_dir, backend, on, debug):
    routes = install_routes(server)
    htpasswd = server.dir / "htpasswd"
    digest = base64.b64encode(hashlib.sha1(b"bobpw").digest()).decode()
    htpasswd.write_text(f"bob:{{SHA}}{digest}\n")
    os.chmod(htpasswd, 0o644)
    (server.docroot / "errors").mkdir()
    (server.docroot / "errors" / "404.html").write_text("static error page\n")
    logs = server.dir / "logs"
    return f"""
# r->ap_auth_type as mod_log_config sees it at log time: ap_expr's AUTH_TYPE
# reads the request_rec field (util_expr_eval.c), not the environment.
CustomLog "{logs}/ap_auth_type.log" "%U%q" "expr=-n %{{AUTH_TYPE}} && %{{AUTH_TYPE}} == %{{HTTP:X-Expect-Auth-Type}}"
Alias /cgi "{cgi_dir}"
Alias /plaincgi "{cgi_dir}"
<Directory "{cgi_dir}">
  Options +ExecCGI
  SetHandler cgi-script
  Require all granted
</Directory>
<Location /cgi>
{on}</Location>
<Location /proxy>
  ProxyPass {backend} upgrade=websocket
{on}</Location>
<Location /plainproxy>
  ProxyPass {backend} upgrade=websocket
</Location>
# Ways to reach /routes/identity.cgi, whose Location alone reflects; and
# /routes/served, a reflecting view of the same directory.
Alias /routes/served "{routes}"
Alias /routes "{routes}"
Alias /plainroutes "{routes}"
<Directory "{routes}">
  Options +ExecCGI +MultiViews +Indexes
  MultiViewsMatch Any
  AddHandler cgi-script .cgi
  AddType application/x-httpd-cgi .xcgi
  DirectoryIndex identity.cgi
  Require all granted
</Directory>
<Location /routes/identity.cgi>
{on}</Location>
<Location /routes/served>
{on}</Location>
<Location /fallback>
  FallbackResource /routes/identity.cgi
</Location>
<Location /missing>
  ErrorDocument 404 /routes/identity.cgi?echo=1&status=404
</Location>
<Directory "{server.docroot}/ssi">
  Options +Includes
  AddType text/html .shtml
  AddOutputFilter INCLUDES .shtml
</Directory>
<Directory "{server.docroot}/rw">
  RewriteEngine On
  RewriteRule ^go$ /routes/identity.cgi
</Directory>
RewriteEngine On
RewriteRule ^/pt/go$ /routes/identity.cgi [PT]
Action identity-app /routes/identity.cgi virtual
<Location /action>
  SetHandler identity-app
</Location>
<Location /inproc>
{on}  LuaMapHandler ^/inproc "{BACKENDS / "inproc_app.lua"}" handle
</Location>
<Location /gone-cgi>
{on}  ErrorDocument 404 /cgi/identity.cgi?status=404&user=carol&type=Session
</Location>
<Location /gone-proxy>
{on}  ErrorDocument 404 /proxy/errdoc?status=404&user=carol&type=Session
</Location>
<Location /override>
  ProxyPass {backend}
  ProxyErrorOverride On
  ErrorDocument 404 /errors/404.html
{on}</Location>
<Location /errors>
{on}</Location>
<Location /wsproxy>
  ProxyPass {backend.replace("http://", "ws://")}
{on}</Location>
<Location /wslegacy>
  ProxyPass {backend.replace("http://", "ws://")}
  ProxyWebsocketFallbackToProxyHttp Off
{on}</Location>
<Location /plainwslegacy>
  ProxyPass {backend.replace("http://", "ws://")}
  ProxyWebsocketFallbackToProxyHttp Off
</Location>
<Location /server-named>
  ProxyPass {backend}
{on}  RequestHeader set X-Remote-User "named-by-apache"
</Location>
<Location /authed>
  ProxyPass {backend}
  AuthType Basic
  AuthName "authed"
  AuthBasicProvider file
  AuthUserFile "{htpasswd}"
  Require valid-user
  LogLevel {debug}
{on}</Location>
"""


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request, identity_backend):
    """One Apache per variant: reflecting and plain locations for a CGI and a
    proxied backend. Yields the Variant with `.apache` set."""
    spec = VARIANTS[request.param]()
    server = Apache(
        name=f"reflect-{spec.name}",
        # mod_lua also runs the in-process test app (tests/backends/inproc_app.lua).
        modules=["cgi", "proxy", "proxy_http", "http2", "authn_file", "lua", "rewrite",
                 "include", "actions", "negotiation", "autoindex", "proxy_wstunnel",
                 *spec.modules],
        load_authnz_wsgi=spec.load_authnz_wsgi,
    )
    cgi_dir = install_cgi(server)
    server.server_conf = "Protocols h2c http/1.1\n" + spec.server_conf
    server.site_conf = site_conf(server, cgi_dir, identity_backend, spec.on, spec.debug)
    server.start()
    spec.apache = server
    yield spec
    server.cleanup()


# ---- clients and observations --------------------------------------------------

_rids = itertools.count(1)


def rid():
    """A unique query parameter, to find the request's access-log line."""
    return f"rid={next(_rids)}"


def raw_http1(server, target, method="GET", headers=()):
    """The exact bytes Apache sends back for one HTTP/1.1 request."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(raw.split(b" ", 2)[1]), head, body, raw


def dechunk(body):
    out = b""
    while True:
        size, _, rest = body.partition(b"\r\n")
        size = int(size, 16)
        if size == 0:
            return out
        out += rest[:size]
        body = rest[size + 2:]


def h2c(server, target, method="GET", headers=()):
    """One HTTP/2 request over cleartext (prior knowledge) through curl:
    (status, header block, body)."""
    args = ["curl", "-sS", "-i", "--http2-prior-knowledge"]
    args += ["-I"] if method == "HEAD" else []
    for h in headers:
        args += ["-H", h]
    p = subprocess.run(args + [server.url(target)], capture_output=True, timeout=60)
    assert p.stdout.startswith(b"HTTP/2 "), p.stdout[:300] + p.stderr
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    return int(p.stdout.split(b" ", 2)[1]), head, body, p.stdout


def fetch(server, proto, target, method="GET", headers=()):
    return (raw_http1 if proto == "h1" else h2c)(server, target, method, headers)


def leaked(data):
    """Identity header lines present in a response (header block or raw bytes)."""
    return [line for line in data.lower().split(b"\r\n")
            if any(line.startswith(name + b":") for name in IDENTITY)]


def logged(server, target, timeout=5):
    """The access-log entry whose %U%q is `target`, or `target` followed by a
    query string (after an ErrorDocument redirect %q is the last request's).
    The access log is written after the response: wait for it."""
    deadline = time.time() + timeout
    while True:
        found = [e for e in server.access_entries()
                 if e["uri"] == target or e["uri"].startswith(target + "?")]
        if found or time.time() > deadline:
            assert len(found) == 1, (target, server.access_entries()[-5:])
            return found[0]
        time.sleep(0.02)


def ap_auth_type_log(server, waiting_for, timeout=5):
    """Lines of the conditional ap_auth_type.log, once `waiting_for` is in it
    (or the timeout passed)."""
    path = server.dir / "logs" / "ap_auth_type.log"
    deadline = time.time() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if waiting_for in lines or time.time() > deadline:
            return lines
        time.sleep(0.02)


def error_lines_after(server, before, needle, timeout=5):
    """Error-log lines containing `needle` beyond the first `before` ones."""
    deadline = time.time() + timeout
    while True:
        lines = server.error_lines(needle)
        if len(lines) > before or time.time() > deadline:
            return lines[before:]
        time.sleep(0.02)


# ---- the headers never reach the client, and %u shows the user ----------------

IDENTITY_QUERY = "user=alice&type=Session"

# kind: (path under the backend, extra query, method, status the client sees)
KINDS = {
    "200": ("/x", "", "GET", 200),
    "HEAD": ("/x", "", "HEAD", 200),
    "204": ("/x", "status=204", "GET", 204),
    "304": ("/x", "status=304", "GET", 304),
    "404": ("/x", "status=404", "GET", 404),
    "500": ("/x", "status=500", "GET", 500),
    "chunked": ("/x", "chunked=1", "GET", 200),
}
PREFIX = {"cgi": "/cgi/identity.cgi", "proxy": "/proxy"}


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("backend", ["cgi", "proxy"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_identity_is_logged_and_never_sent(variant, kind, backend, proto):
    server = variant.apache
    path, extra, method, status = KINDS[kind]
    path = "" if backend == "cgi" else path
    tag = rid()
    target = f"{PREFIX[backend]}{path}?{'&'.join(filter(None, [extra, IDENTITY_QUERY, tag]))}"
    got, head, body, raw = fetch(server, proto, target, method)
    assert got == status, raw[:400]
    assert not leaked(raw), raw
    if kind == "chunked" and proto == "h1":
        assert b"transfer-encoding: chunked" in head.lower()
        assert body.startswith(b"4\r\none\n\r\n") and body.endswith(b"0\r\n\r\n")
    entry = logged(server, target)
    assert (entry["status"], entry["user"], entry["method"], entry["auth_type"]) == (
        status, "alice", method, "Session")


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("status", [200, 204, 304])
def test_in_process_handler(variant, status, proto, request):
    """A mod_lua handler as the app: 200 goes through the filters like CGI;
    204/304 returned from the handler take Apache's header-only error path."""
    if status != 200 and not variant.covers_error_path:
        request.applymarker(pytest.mark.xfail(
            strict=True, raises=AssertionError,
            reason=f"{variant.name}: leaks on Apache's error path"))
    server = variant.apache
    target = f"/inproc?status={status}&{IDENTITY_QUERY}&{rid()}"
    got, head, body, raw = fetch(server, proto, target)
    assert got == status
    entry = logged(server, target)
    assert not leaked(raw), raw
    assert (entry["status"], entry["user"], entry["auth_type"]) == (status, "alice", "Session")


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_cgi_precondition_failed_by_apache(variant, proto, request):
    """A CGI script that sends no Status line gets Apache's own precondition
    check: a client's `If-Match` turns its response into Apache's 412 error
    page, sent with the script's headers (mod_cgi keeps them in
    err_headers_out, which ap_send_error_response sends)."""
    if not variant.covers_error_path:
        request.applymarker(pytest.mark.xfail(
            strict=True, raises=AssertionError,
            reason=f"{variant.name}: leaks on Apache's error path"))
    server = variant.apache
    target = f"/cgi/identity.cgi?cond=apache&etag=v1&{IDENTITY_QUERY}&{rid()}"
    got, head, body, raw = fetch(server, proto, target, headers=['If-Match: "other"'])
    assert got == 412
    entry = logged(server, target)
    assert not leaked(raw), raw
    assert (entry["status"], entry["user"], entry["auth_type"]) == (412, "alice", "Session")


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("backend", ["cgi", "proxy"])
def test_error_document_from_the_app(variant, backend, proto):
    """Apache's own 404 goes to an ErrorDocument served by the app, which
    names a user: that (last) request's identity is reflected."""
    server = variant.apache
    uri = f"/gone-{backend}/missing-{rid().replace('=', '')}"
    got, head, body, raw = fetch(server, proto, uri)
    assert got == 404
    assert b"status 404 from the app" in body
    assert not leaked(raw), raw
    entry = logged(server, uri)
    assert (entry["status"], entry["user"], entry["auth_type"]) == (404, "carol", "Session")


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_backend_error_replaced_by_error_document(variant, proto):
    """ProxyErrorOverride: the backend's 404 (naming alice) is replaced by a
    static ErrorDocument. Nothing leaks; whether alice reaches %u depends on
    the variant (see Variant.reflects_replaced_error)."""
    server = variant.apache
    uri = f"/override/x-{rid().replace('=', '')}"
    got, head, body, raw = fetch(server, proto, f"{uri}?status=404&{IDENTITY_QUERY}")
    assert got == 404 and body == b"static error page\n"
    assert not leaked(raw), raw
    entry = logged(server, uri)
    assert entry["status"] == 404
    if variant.reflects_replaced_error:
        assert (entry["user"], entry["auth_type"]) == ("alice", "Session")
    else:
        assert (entry["user"], entry["auth_type"]) == ("-", "-")


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("backend", ["cgi", "proxy"])
def test_locations_without_reflection_are_untouched(variant, backend, proto):
    """Control: the same app outside a reflecting location sends the headers
    (so the checks above would see them) and %u stays "-"."""
    server = variant.apache
    prefix = {"cgi": "/plaincgi/identity.cgi", "proxy": "/plainproxy/x"}[backend]
    target = f"{prefix}?{IDENTITY_QUERY}&{rid()}"
    got, head, body, raw = fetch(server, proto, target)
    assert got == 200
    assert sorted(leaked(head)) == [b"x-auth-type: session", b"x-remote-user: alice"]
    entry = logged(server, target)
    assert (entry["status"], entry["user"], entry["auth_type"]) == (200, "-", "-")


@pytest.mark.parametrize("backend", ["cgi", "proxy"])
def test_etag_content_length_and_revalidation_survive(variant, backend):
    """Stripping leaves the rest of the response alone: ETag and
    Content-Length stay, and a conditional request gets its 304 (from the
    backend behind mod_proxy; from Apache's own check for the CGI)."""
    server = variant.apache
    base = {"cgi": "/cgi/identity.cgi?cond=apache&", "proxy": "/proxy/x?"}[backend]
    target = f"{base}etag=v1&{IDENTITY_QUERY}&{rid()}"
    got, head, body, raw = raw_http1(server, target)
    assert got == 200 and not leaked(raw)
    assert b'etag: "v1"' in head.lower()
    if backend == "proxy":
        assert b"content-length: 24" in head.lower()
    again = f"{base}etag=v1&{IDENTITY_QUERY}&{rid()}"
    got, head, body, raw = raw_http1(server, again, headers=['If-None-Match: "v1"'])
    assert got == 304 and not leaked(raw), raw
    assert b'etag: "v1"' in head.lower()
    assert (logged(server, target)["status"], logged(server, target)["user"]) == (200, "alice")
    assert (logged(server, again)["status"], logged(server, again)["user"]) == (304, "alice")


# ---- r->ap_auth_type at log time ----------------------------------------------

def test_ap_auth_type_probe_sees_apache_authentication(variant):
    """The probe itself: mod_auth_basic sets r->ap_auth_type = "Basic", and
    the conditional ap_auth_type.log records exactly the matching request."""
    server = variant.apache
    auth = "Authorization: Basic " + base64.b64encode(b"bob:bobpw").decode()
    match = f"/authed/x?{rid()}"
    other = f"/authed/x?{rid()}"
    for target, expect in ((match, "Basic"), (other, "Digest")):
        got, *_ = raw_http1(server, target, headers=[auth, f"X-Expect-Auth-Type: {expect}"])
        assert got == 200
        assert (logged(server, target)["status"], logged(server, target)["user"]) == (200, "bob")
    lines = ap_auth_type_log(server, match)
    assert match in lines and other not in lines


def test_ap_auth_type_is_set_for_the_log_phase(variant, request):
    """A CustomLog whose condition compares ap_expr's AUTH_TYPE (the
    request_rec field) with what the client expects: only requests whose
    r->ap_auth_type matches are written."""
    if not variant.sets_ap_auth_type:
        request.applymarker(pytest.mark.xfail(
            strict=True, raises=AssertionError, reason=f"{variant.name}: only AUTH_TYPE in the env, not r->ap_auth_type"))
    server = variant.apache
    match = f"/proxy/x?user=frank&type=Session&{rid()}"
    other = f"/proxy/x?user=grace&type=Bearer&{rid()}"
    for target in (match, other):
        got, *_ = raw_http1(server, target, headers=["X-Expect-Auth-Type: Session"])
        assert got == 200
    assert logged(server, match)["auth_type"] == "Session"
    assert logged(server, other)["auth_type"] == "Bearer"
    lines = ap_auth_type_log(server, match)
    assert match in lines and other not in lines


# ---- spoofing -------------------------------------------------------------------

SPOOF = ["X-Remote-User: mallory", "x_remote_user: mallory2", "X-REMOTE_USER: mallory3",
         "X_Auth-Type: Spoofed"]


def received(head, body):
    """Header names the app reported receiving, lower case. (The CGI sees
    HTTP_* variables: Apache passes no header with `_` in its name to CGI.)"""
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return {name.lower() for name, _ in json.loads(body)}


def identity_names(names):
    return {n for n in names if n.replace("_", "-") in ("x-remote-user", "x-auth-type")}


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("backend", ["cgi", "proxy"])
def test_client_sent_identity_never_reaches_the_app(variant, backend, proto):
    """The app echoes a received X-Remote-User back as its own: with
    reflection on, it receives none (any case, `-` or `_`), so %u stays "-"."""
    server = variant.apache
    before = len(server.error_lines(variant.spoof))
    target = f"{PREFIX[backend]}{'' if backend == 'cgi' else '/x'}?echo=1&{rid()}"
    got, head, body, raw = fetch(server, proto, target, headers=SPOOF)
    assert got == 200
    assert not identity_names(received(head, body)), body
    assert not leaked(raw)
    entry = logged(server, target)
    assert (entry["status"], entry["user"], entry["auth_type"]) == (200, "-", "-")
    assert error_lines_after(server, before, variant.spoof)


def test_client_sent_identity_does_not_replace_the_apps(variant):
    server = variant.apache
    target = f"/proxy/x?{IDENTITY_QUERY}&echo=0&{rid()}"
    got, head, body, raw = raw_http1(server, target, headers=SPOOF)
    assert got == 200 and not leaked(raw)
    assert logged(server, target)["user"] == "alice"


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("backend", ["cgi", "proxy"])
def test_spoofing_control_without_reflection(variant, backend, proto):
    """Control: outside a reflecting location the app does receive the
    headers (every spelling, behind mod_proxy) and echoes one to the client;
    nothing is logged as %u."""
    server = variant.apache
    prefix = {"cgi": "/plaincgi/identity.cgi", "proxy": "/plainproxy/x"}[backend]
    target = f"{prefix}?echo=1&{rid()}"
    got, head, body, raw = fetch(server, proto, target, headers=SPOOF)
    assert got == 200
    expected = {"x-remote-user"} if backend == "cgi" else {
        "x-remote-user", "x_remote_user", "x-remote_user", "x_auth-type"}
    assert identity_names(received(head, body)) == expected
    assert b"x-remote-user: mallory" in leaked(head)
    assert logged(server, target)["user"] == "-"


# ---- spoofing on every way into a reflecting location --------------------------

def received_in_page(head, body):
    """Like `received`, for a body that may hold the app's JSON line inside
    a page (mod_include)."""
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    lines = [line for line in body.splitlines() if line.startswith(b"[")]
    assert len(lines) == 1, body
    return {name.lower() for name, _ in json.loads(lines[0])}


# Every way a request reaches /routes/identity.cgi (only that Location
# reflects; the app echoes a received X-Remote-User). Fields: how the client
# asks (a target with {rid} for the access log), the status it gets, and
# `late`: the request is switched to the location after its configuration
# was first known (so the strip just before the handler is what catches it)
# - "fast" for fixups-time switches, "multiviews" for MultiViews'
# type_checker-time switch.
ROUTES = {
    "direct": ("/routes/identity.cgi?echo=1&{rid}", 200, None),
    "directory-index": ("/routes/?echo=1&{rid}", 200, "fast"),
    "fallback-resource": ("/fallback/nothing?echo=1&{rid}", 200, "fast"),
    "multiviews": ("/routes/identity?echo=1&{rid}", 200, "multiviews"),
    "rewrite-per-directory": ("/rw/go?echo=1&{rid}", 200, None),
    "rewrite-passthrough": ("/pt/go?echo=1&{rid}", 200, None),
    "error-document": ("/missing/nothing-{rid}", 404, None),
    "action": ("/action/x?echo=1&{rid}", 200, None),
    "include-virtual": ("/ssi/file.shtml?{rid}", 200, None),
    "include-virtual-directory-index": ("/ssi/dir.shtml?{rid}", 200, "fast"),
}


def logged_with(server, tag, timeout=5):
    """The one access-log entry whose %U%q holds `tag` (for requests whose
    logged URI is not the one the client asked for)."""
    pattern = re.compile(re.escape(tag) + r"(?![0-9])")
    deadline = time.time() + timeout
    while True:
        found = [e for e in server.access_entries() if pattern.search(e["uri"])]
        if found or time.time() > deadline:
            assert len(found) == 1, (tag, server.access_entries()[-5:])
            return found[0]
        time.sleep(0.02)


@pytest.mark.parametrize("route", list(ROUTES))
def test_client_sent_identity_never_reaches_the_app_by_any_route(variant, route):
    """However the request gets to the reflecting location, the request that
    runs the app has no identity header left: the app (which would echo it
    as its own) does not see it, %u stays "-", and the error log says where
    it was removed."""
    server = variant.apache
    pattern, status, late = ROUTES[route]
    tag = rid() if "?" in pattern else rid().replace("=", "")
    target = pattern.format(rid=tag)
    before = len(server.error_lines("removed request header"))
    got, head, body, raw = raw_http1(server, target, headers=SPOOF)
    assert got == status, raw[:600]
    assert not identity_names(received_in_page(head, body)), body
    assert not leaked(raw), raw
    entry = logged_with(server, tag)
    assert (entry["status"], entry["user"], entry["auth_type"]) == (status, "-", "-")
    new = error_lines_after(server, before, "removed request header")
    caught_late = late == "fast" or (late == "multiviews" and variant.late_after_multiviews)
    marker = variant.spoof_late if caught_late else variant.spoof
    assert [line for line in new if marker in line and "/routes/identity.cgi" in line
            and "X-Remote-User" in line], new


def test_server_set_request_header_still_reaches_the_app(variant, request):
    """The client's X-Remote-User never reaches the app, but one the server
    sets itself (`RequestHeader set`, after the headers were cleaned) does;
    the app echoes it, so it is logged as the user."""
    if not variant.keeps_server_set_header:
        request.applymarker(pytest.mark.xfail(
            strict=True, raises=AssertionError,
            reason=f"{variant.name}: removes server-set identity request headers too"))
    server = variant.apache
    target = f"/server-named/x?echo=1&{rid()}"
    got, head, body, raw = raw_http1(server, target, headers=SPOOF)
    assert got == 200
    seen = json.loads(dechunk(body) if b"chunked" in head.lower() else body)
    assert [v for k, v in seen if k.lower().replace("_", "-") == "x-remote-user"] == [
        "named-by-apache"], seen
    assert not leaked(raw), raw
    assert logged(server, target)["user"] == "named-by-apache"


def test_routes_control_without_reflection(variant):
    """Control: the same directory under an alias that does not reflect; its
    DirectoryIndex app receives (and echoes) the client's X-Remote-User."""
    server = variant.apache
    tag = rid()
    got, head, body, raw = raw_http1(server, f"/plainroutes/?echo=1&{tag}", headers=SPOOF)
    assert got == 200
    assert identity_names(received_in_page(head, body)) == {"x-remote-user"}
    assert b"x-remote-user: mallory" in leaked(head)
    assert logged_with(server, tag)["user"] == "-"


@pytest.mark.parametrize("path,status,expect", [
    ("/routes/served/static.txt", 200, b"static file\n"),
    ("/routes/served/listing/", 200, b"entry.txt"),
    ("/routes/served/bytype.xcgi?user=alice", 200, b"status 200 from the app\n"),
])
def test_location_content_is_served_as_before(variant, path, status, expect):
    """A reflecting location still serves what it served before: a static
    file, a directory listing (mod_autoindex) and a script that runs by its
    media type (AddType application/x-httpd-cgi), never as its source."""
    server = variant.apache
    got, head, body, raw = raw_http1(server, path)
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    assert got == status, raw[:600]
    assert expect in body, body[:600]
    assert b"#!/usr/bin/python3" not in body
    assert not leaked(raw), raw


# ---- trailers ------------------------------------------------------------------

def trailer_leaks(raw):
    """Identity lines anywhere in a response, trailers included: the raw
    HTTP/1.1 bytes, or curl's -i output, which lists HTTP/2 trailers after
    the body."""
    return [line for line in raw.lower().replace(b"\r\n", b"\n").split(b"\n")
            if any(line.startswith(name + b":") for name in IDENTITY)]


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_trailers_never_carry_identity(variant, proto, request):
    """A proxied backend sends the identity as chunked trailers (announced
    with `Trailer:`). mod_proxy_http copies them to r->trailers_out, which
    mod_http2 sends as an HTTP/2 trailer block: none of them reaches the
    client, and a trailer never names the user (%u stays "-")."""
    if proto == "h2" and not variant.strips_trailers:
        request.applymarker(pytest.mark.xfail(
            strict=True, raises=AssertionError,
            reason=f"{variant.name}: cannot reach r->trailers_out"))
    server = variant.apache
    target = f"/proxy/x?trailer_user=alice&trailer_type=Session&{rid()}"
    got, head, body, raw = fetch(server, proto, target)
    assert got == 200
    assert b"status 200 from the app" in raw
    assert not trailer_leaks(raw), raw
    entry = logged(server, target)
    assert (entry["status"], entry["user"], entry["auth_type"]) == (200, "-", "-")


def test_trailer_identity_is_dropped_with_a_warning(variant, request):
    """The header section names alice, the trailers mallory: alice is
    reflected, mallory is dropped with a warning and never sent."""
    if not variant.strips_trailers:
        request.applymarker(pytest.mark.xfail(
            strict=True, raises=AssertionError,
            reason=f"{variant.name}: cannot reach r->trailers_out"))
    server = variant.apache
    before = len(server.error_lines(variant.trailer_dropped or "no such line"))
    target = f"/proxy/x?user=alice&type=Session&trailer_user=mallory&{rid()}"
    got, head, body, raw = fetch(server, "h2", target)
    assert got == 200
    assert b"mallory" not in raw.lower() and not trailer_leaks(raw), raw
    entry = logged(server, target)
    assert (entry["user"], entry["auth_type"]) == ("alice", "Session")
    new = error_lines_after(server, before, variant.trailer_dropped or "no such line")
    assert len(new) == 1 and "X-Remote-User" in new[0], new


def test_trailers_control_without_reflection(variant):
    """Control: without reflection the trailers reach an HTTP/2 client (so
    the check above would see them). Apache's HTTP/1.1 chunk filter writes
    no trailers at all: if that changes, the h1 case above becomes live."""
    server = variant.apache
    target = f"/plainproxy/x?trailer_user=alice&{rid()}"
    got, head, body, raw = fetch(server, "h2", target)
    assert got == 200
    assert trailer_leaks(raw) == [b"x-remote-user: alice"], raw
    got, head, body, raw = raw_http1(server, target)
    assert got == 200 and body.endswith(b"0\r\n\r\n") and not trailer_leaks(raw), raw


# ---- interim responses -----------------------------------------------------------

def test_early_hints_never_carry_identity(variant):
    """A backend's 103 Early Hints names the user; mod_proxy would relay it
    without running any filter. Where reflection is on it is not relayed."""
    server = variant.apache
    target = f"/proxy/x?hints=1&{IDENTITY_QUERY}&{rid()}"
    got, head, body, raw = raw_http1(server, target)
    assert got == 200
    assert b" 103 " not in raw and not leaked(raw), raw
    entry = logged(server, target)
    assert (entry["status"], entry["user"]) == (200, "alice")
    # Control: elsewhere the 103 goes out with the identity.
    got, head, body, raw = raw_http1(server, f"/plainproxy/x?hints=1&{IDENTITY_QUERY}&{rid()}")
    assert raw.startswith(b"HTTP/1.1 103 ") and b"x-remote-user: alice" in raw.lower(), raw


WEBSOCKET_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def read_response(sock, data=b""):
    """Read one response from `sock` (after `data` already read): (head,
    body). The body is read as its Content-Length or chunking says, or, for
    a 101, until the connection closes."""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            break
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lower = head.lower()
    length = re.search(rb"\r\ncontent-length: *(\d+)", lower)
    while True:
        if length and len(body) >= int(length.group(1)):
            return head, body
        if b"transfer-encoding: chunked" in lower and body.endswith(b"0\r\n\r\n"):
            return head, dechunk(body)
        more = sock.recv(65536)
        if not more:
            return head, body
        body += more


def websocket(server, target):
    """A WebSocket handshake on a raw socket; after a 101, one masked text
    frame "hello" is sent and what the tunnel carries back is read until it
    closes. Returns (status, head, body or tunnel bytes)."""
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {WEBSOCKET_KEY}",
             "Sec-WebSocket-Version: 13"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data and (more := sock.recv(65536)):
            data += more
        status = int(data.split(b" ", 2)[1])
        if status != 101:
            head, body = read_response(sock, data)
            return status, head, body
        head, _, rest = data.partition(b"\r\n\r\n")
        mask = b"\x01\x02\x03\x04"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"hello"))
        sock.sendall(bytes([0x81, 0x80 | 5]) + mask + payload)
        while more := sock.recv(65536):
            rest += more
    return status, head, rest


@pytest.mark.parametrize("prefix", ["/proxy", "/wsproxy"])
def test_websocket_upgrade_never_carries_identity(variant, prefix):
    """The backend names the user in its 101 Switching Protocols, which
    mod_proxy_http sends without running any output filter (for an http://
    target with upgrade=websocket, and for a ws:// target, which
    mod_proxy_wstunnel hands to mod_proxy_http by default). Either the 101
    goes out without the identity (and %u shows the user it named), or the
    upgrade is refused and the backend answers an ordinary request."""
    server = variant.apache
    before = len(server.error_lines(variant.upgrade_refused or "no such line"))
    target = f"{prefix}/ws?{IDENTITY_QUERY}&echo=1&{rid()}"
    status, head, rest = websocket(server, target)
    assert not leaked(head + b"\r\n"), head
    assert b"alice" not in head.lower()
    entry = logged(server, target)
    assert (entry["user"], entry["auth_type"]) == ("alice", "Session"), entry
    if variant.relays_upgrade:
        assert status == 101, head
        assert b"sec-websocket-accept:" in head.lower()
        # The tunnel works: the backend echoes the frame, then closes.
        assert rest.startswith(b"\x81\x0aecho:hello"), rest
        assert entry["status"] == 101
    else:
        assert status == 200, head
        # The backend got no Upgrade: it answered with the request headers
        # it received.
        received_names = {name.lower() for name, _ in json.loads(rest)}
        assert "upgrade" not in received_names, received_names
        new = error_lines_after(server, before, variant.upgrade_refused)
        assert len(new) == 1 and f"{prefix}/ws" in new[0], new


def test_websocket_upgrade_with_bad_identity(variant):
    """An invalid user in the 101 (or, where upgrades are refused, in the
    ordinary answer) is dropped with a log line, like any other."""
    server = variant.apache
    before = len(server.error_lines(variant.dropped))
    target = f"/proxy/ws?user=ali%09ce&{rid()}"
    status, head, rest = websocket(server, target)
    assert status == (101 if variant.relays_upgrade else 200), head
    assert not leaked(head + b"\r\n") and b"ali\tce" not in head, head
    assert logged(server, target)["user"] == "-"
    new = error_lines_after(server, before, variant.dropped)
    assert len(new) == 1 and "control character at byte 3" in new[0], new


def test_websocket_works_through_reflecting_location(variant, request):
    """What a site gives up with each variant: the WebSocket itself."""
    if not variant.relays_upgrade:
        request.applymarker(pytest.mark.xfail(
            strict=True, raises=AssertionError,
            reason=f"{variant.name}: refuses upgrades in reflecting locations"))
    status, head, rest = websocket(variant.apache, f"/proxy/ws?{IDENTITY_QUERY}&{rid()}")
    assert status == 101 and rest.startswith(b"\x81\x0aecho:hello"), (head, rest)


def test_raw_websocket_tunnel_is_refused(variant):
    """mod_proxy_wstunnel with ProxyWebsocketFallbackToProxyHttp Off copies
    the backend's bytes, 101 head included, to the client unseen: where
    reflection is on the upgrade is refused (426 from mod_proxy_wstunnel)."""
    server = variant.apache
    before = len(server.error_lines(variant.raw_tunnel_refused))
    target = f"/wslegacy/ws?{IDENTITY_QUERY}&{rid()}"
    status, head, rest = websocket(server, target)
    assert status == 426, head
    assert not leaked(head + b"\r\n") and b"alice" not in head.lower() + rest.lower()
    assert logged(server, target)["status"] == 426
    new = error_lines_after(server, before, variant.raw_tunnel_refused)
    assert len(new) == 1 and "/wslegacy/ws" in new[0], new
    # Control: without reflection the tunnel carries the 101 as the backend
    # wrote it.
    status, head, rest = websocket(server, f"/plainwslegacy/ws?{IDENTITY_QUERY}&{rid()}")
    assert status == 101 and b"x-remote-user: alice" in head.lower(), head
    assert rest.startswith(b"\x81\x0aecho:hello"), rest


def test_websocket_control_without_reflection(variant):
    """Control: elsewhere the backend's 101 reaches the client with the
    identity headers (so the check above would see them)."""
    target = f"/plainproxy/ws?{IDENTITY_QUERY}&{rid()}"
    status, head, rest = websocket(variant.apache, target)
    assert status == 101
    assert sorted(leaked(head + b"\r\n")) == [b"x-auth-type: session", b"x-remote-user: alice"]
    assert rest.startswith(b"\x81\x0aecho:hello")
    assert logged(variant.apache, target)["user"] == "-"


# ---- validation ---------------------------------------------------------------

BAD_USERS = [
    ("too-long", "user=" + "a" * 300, "300 bytes long"),
    ("tab", "user=ali%09ce", "control character at byte 3"),
    ("ctrl-a", "user=%01alice", "control character at byte 0"),
    ("del", "user=alice%7F", "control character at byte 5"),
    ("empty", "user=", "X-Remote-User"),
]
BAD_CASES = [(backend, *case) for case in BAD_USERS for backend in ("cgi", "proxy")]
# mod_cgi merges a repeated CGI header into one "alice, bob" before any filter
# runs, so only the proxied backend can show two values.
BAD_CASES.append(("proxy", "different-duplicates", "user=alice&user2=bob",
                  "appears 2 times with different values"))


@pytest.mark.parametrize("backend,name,query,reason", BAD_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in BAD_CASES])
def test_bad_user_is_dropped_and_logged(variant, backend, name, query, reason):
    server = variant.apache
    before = len(server.error_lines(variant.dropped))
    target = f"{PREFIX[backend]}{'' if backend == 'cgi' else '/x'}?{query}&type=Session&{rid()}"
    got, head, body, raw = raw_http1(server, target)
    assert got == 200
    assert not leaked(raw), raw
    entry = logged(server, target)
    assert (entry["status"], entry["user"], entry["auth_type"]) == (200, "-", "-")
    new = error_lines_after(server, before, variant.dropped)
    assert len(new) == 1 and reason in new[0], new


def test_bad_auth_type_keeps_the_user(variant):
    server = variant.apache
    before = len(server.error_lines(variant.dropped))
    target = f"/cgi/identity.cgi?user=erin&type=Bea%09rer&{rid()}"
    got, head, body, raw = raw_http1(server, target)
    assert got == 200 and not leaked(raw)
    entry = logged(server, target)
    assert (entry["user"], entry["auth_type"]) == ("erin", "-")
    new = error_lines_after(server, before, variant.dropped)
    assert len(new) == 1 and "X-Auth-Type" in new[0], new


@pytest.mark.parametrize(
    "query,user",
    [
        ("user=" + "b" * 256, "b" * 256),                   # the longest accepted
        ("user=jos%C3%A9", "jos\\xc3\\xa9"),                # UTF-8, escaped by %u
        ("user=alice&user2=alice", "alice"),                # repeated, same value
        ("user=Alice%20Smith", "Alice Smith"),
    ],
    ids=["256-bytes", "utf-8", "same-duplicates", "space"],
)
def test_good_values_are_reflected(variant, query, user):
    server = variant.apache
    before = len(server.error_lines(variant.dropped))
    target = f"/proxy/x?{query}&{rid()}"
    got, head, body, raw = raw_http1(server, target)
    assert got == 200 and not leaked(raw)
    entry = logged(server, target)
    assert (entry["user"], entry["auth_type"]) == (user, "-")
    assert len(server.error_lines(variant.dropped)) == before


# ---- Apache's own authentication wins ----------------------------------------

def test_apache_authentication_is_not_overridden(variant):
    server = variant.apache
    before = len(server.error_lines(variant.kept))
    target = f"/authed/x?{IDENTITY_QUERY}&{rid()}"
    auth = "Authorization: Basic " + base64.b64encode(b"bob:bobpw").decode()
    got, head, body, raw = raw_http1(server, target, headers=[auth])
    assert got == 200 and not leaked(raw)
    entry = logged(server, target)
    assert (entry["status"], entry["user"]) == (200, "bob")
    new = error_lines_after(server, before, variant.kept)
    assert len(new) == 1 and "'bob'" in new[0] and "'alice'" in new[0], new
    # Without credentials Apache answers 401 itself; the app is never asked.
    target = f"/authed/x?{IDENTITY_QUERY}&{rid()}"
    got, head, body, raw = raw_http1(server, target)
    assert got == 401 and not leaked(raw)
    assert (logged(server, target)["status"], logged(server, target)["user"]) == (401, "-")


# ---- mod_lua specifics ------------------------------------------------------------

@pytest.fixture(scope="module")
def lua_parts(identity_backend):
    """mod_lua without the shipped snippet: the widely copied log-phase
    recipe, the Lua filter alone (no mod_headers lines), and the mod_headers
    lines of authnz_reflect.conf alone."""
    server = Apache(name="reflect-lua-parts", modules=["cgi", "proxy", "proxy_http", "http2", "lua"],
                    load_authnz_wsgi=False)
    cgi_dir = install_cgi(server)
    recipe = BACKENDS / "log_phase_recipe.lua"
    lua = LUA_DIR / "authnz_reflect.lua"
    guard = "".join(line + "\n" for line in (LUA_DIR / "authnz_reflect.conf").read_text().splitlines()
                    if line.startswith("Header "))
    assert guard.count("unset") == 4
    server.server_conf = "Protocols h2c http/1.1\n"
    server.site_conf = f"""
Alias /recipe-cgi "{cgi_dir}"
Alias /filter-cgi "{cgi_dir}"
Alias /guard-cgi "{cgi_dir}"
<Directory "{cgi_dir}">
  Options +ExecCGI
  SetHandler cgi-script
  Require all granted
</Directory>
<Location /recipe>
  ProxyPass {identity_backend}
</Location>
<LocationMatch "^/recipe">
  LuaHookLog "{recipe}" reflect_late
</LocationMatch>
<Location /recipe-gone>
  ErrorDocument 404 /recipe-cgi/identity.cgi?status=404&user=carol
</Location>
<Location /filter>
  ProxyPass {identity_backend}
</Location>
<LocationMatch "^/filter">
  LuaHookFixups "{lua}" strip_request
  LuaOutputFilter AUTHNZ_REFLECT "{lua}" reflect_filter
  SetOutputFilter AUTHNZ_REFLECT
</LocationMatch>
<Location /guard>
  ProxyPass {identity_backend}
</Location>
<LocationMatch "^/guard">
{guard}</LocationMatch>
"""
    server.start()
    yield server
    server.cleanup()


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("prefix", ["/recipe-cgi/identity.cgi", "/recipe/x"])
def test_log_phase_recipe_leaks(lua_parts, prefix, proto):
    """The recipe logs the user, which is why it is copied, but the log phase
    runs after the response went out: the header reaches the client, and the
    checks used above catch it."""
    target = f"{prefix}?user=alice&{rid()}"
    got, head, body, raw = fetch(lua_parts, proto, target)
    assert got == 200
    assert leaked(raw) == [b"x-remote-user: alice"]
    assert logged(lua_parts, target)["user"] == "alice"


def test_log_phase_sees_the_first_request_of_a_redirect_chain(lua_parts):
    """LuaHookLog gets the first request of an internal-redirect chain while
    %u reads the last: the ErrorDocument script's user never reaches the log
    (and its header leaks). Why authnz_reflect.lua reflects in its filter."""
    uri = f"/recipe-gone/missing-{rid().replace('=', '')}"
    got, head, body, raw = raw_http1(lua_parts, uri)
    assert got == 404 and b"status 404 from the app" in body
    assert leaked(raw) == [b"x-remote-user: carol"]
    assert logged(lua_parts, uri)["user"] == "-"


LAYER_CASES = [("-cgi/identity.cgi?", 200), ("-cgi/identity.cgi?status=404&", 404),
               ("/x?chunked=1&", 200), ("/x?status=304&", 304)]


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("target,status", LAYER_CASES)
def test_lua_filter_alone_strips(lua_parts, target, status, proto):
    """Without the mod_headers lines of authnz_reflect.conf, the Lua filter on
    its own keeps the headers off the wire (the guard is not what makes the
    suite pass)."""
    target = f"/filter{target}{IDENTITY_QUERY}&{rid()}"
    got, head, body, raw = fetch(lua_parts, proto, target)
    assert got == status
    assert not leaked(raw), raw
    entry = logged(lua_parts, target)
    assert (entry["status"], entry["user"], entry["auth_type"]) == (status, "alice", "Session")


@pytest.mark.parametrize("define", ["", "Define AUTHNZ_REFLECT_LUA\n"])
def test_lua_snippet_requires_its_define_with_a_value(define):
    server = Apache(name="reflect-lua-conf", modules=["lua"], load_authnz_wsgi=False,
                    site_conf=define + f'<Location /x>\n  Include "{LUA_DIR / "authnz_reflect.conf"}"'
                                       '\n</Location>\n')
    try:
        code, out = server.configtest()
    finally:
        server.cleanup()
    assert code != 0 and "Syntax OK" not in out, out
    wanted = "has no value" if define else "before including it"
    assert "Define AUTHNZ_REFLECT_LUA" in out and wanted in out, out


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("target,status", LAYER_CASES)
def test_mod_headers_lines_alone_strip(lua_parts, target, status, proto):
    """The `Header unset` lines of authnz_reflect.conf on their own (what is
    left if the Lua filter fails) keep the headers off the wire: both the
    `always` and the plain form are needed (CGI puts a non-2xx response's
    headers in err_headers_out, a proxied response's in headers_out)."""
    target = f"/guard{target}{IDENTITY_QUERY}&{rid()}"
    got, head, body, raw = fetch(lua_parts, proto, target)
    assert got == status
    assert not leaked(raw), raw
    entry = logged(lua_parts, target)
    assert (entry["status"], entry["user"]) == (status, "-")
