"""Hostile input through a real Apache, under the event and prefork MPMs.

Hundreds of malformed `Authorization` headers (invalid UTF-8 and NUL bytes
inside the decoded Basic credentials, broken base64, missing colon, 6 KB and
oversized values, broken Digest parameters: missing fields, huge nc, bad qop,
unterminated quotes, duplicates, non-ASCII, ...) and odd other headers are
sent over raw sockets to Basic, Digest, `Require wsgi-group`,
`WSGIAccessScript` and `Require wsgi-host` locations. For every request:

- an HTTP status line comes back (400, 401 or 403; 200 only where the
  credentials httpd derives are valid);
- for Basic, what Python sees is exactly what httpd hands the provider,
  decoded UTF-8-else-Latin-1: the base64 decoded the way APR does it, cut at
  the first NUL (httpd's C strings), split at the first colon. Python never
  sees a NUL, and never a password or user that the client did not send;
- no child dies: the children's pids are the same before and after, and the
  error log has no "exit signal", "Segmentation fault", AH00052 or panic
  line (AUTHNZ_WSGI0001), nor any error line of the module;
- valid Basic and Digest logins still work afterwards.
"""

import base64
import hashlib
import random
import re
import socket
import time
import urllib.request

import pytest

from harness import Apache, child_pids

REALM = "hostile realm"
USER, PASSWORD = "alice", "secret"

SCRIPT = f"""
import hashlib, os

def _keys(environ):
    return sorted(k for k in environ if k.startswith("HTTP_") or "AUTH" in k)

def check_password(environ, user, password):
    record("basic", uri=environ["REQUEST_URI"], user=user, password=password,
           keys=_keys(environ), pid=os.getpid())
    if user != "{USER}":
        return None
    return password == "{PASSWORD}"

def get_realm_hash(environ, user, realm):
    record("digest", uri=environ["REQUEST_URI"], user=user, realm=realm, pid=os.getpid())
    if user != "{USER}":
        return None
    return hashlib.md5(f"{{user}}:{{realm}}:{PASSWORD}".encode()).hexdigest()

def groups_for_user(environ, user):
    record("groups", uri=environ["REQUEST_URI"], user=user)
    return ["staff"] if user == "{USER}" else ["other"]

def allow_access(environ, host):
    record("access", uri=environ["REQUEST_URI"], host=host, keys=_keys(environ))
    return environ.get("HTTP_X_VERDICT") != "deny"
"""

BASIC_AUTH = """
  AuthType Basic
  AuthName "{realm}"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
"""

LOCATIONS = {
    "basic": BASIC_AUTH + "  Require valid-user\n",
    "digest": """
  AuthType Digest
  AuthName "{realm}"
  AuthDigestProvider wsgi
  AuthDigestDomain /digest/
  WSGIAuthUserScript "{script}"
  Require valid-user
""",
    "group": BASIC_AUTH + """  WSGIAuthGroupScript "{script}"
  AuthzSendForbiddenOnFailure On
  Require wsgi-group staff
""",
    "access": BASIC_AUTH + """  WSGIAccessScript "{script}"
  Require valid-user
""",
    "hostonly": """  WSGIAccessScript "{script}"
  Require wsgi-host
""",
}

MPM_CONF = {
    # One child that is never retired, so its pid must not change.
    "event": "StartServers 1\nServerLimit 1\nThreadsPerChild 8\nMaxRequestWorkers 8\n"
    "MinSpareThreads 1\nMaxSpareThreads 8\nMaxConnectionsPerChild 0\n",
    # Three children, no spare-server scaling.
    "prefork": "StartServers 3\nMinSpareServers 3\nMaxSpareServers 4\nServerLimit 3\n"
    "MaxRequestWorkers 3\nMaxConnectionsPerChild 0\n",
}

CRASH_PATTERNS = ["exit signal", "Segmentation fault", "AH00052", "AUTHNZ_WSGI0001", "panicked"]

# LimitRequestFieldSize: a longer header line is refused by httpd's core.
FIELD_LIMIT = 8190


# ---- what httpd does with a Basic header (the oracle) -----------------------

B64_ALPHABET = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def apr_base64_decode(text):
    """apr_base64_decode: decode the longest prefix of alphabet characters
    (it stops at '=' or any other byte); a lone trailing sextet is dropped."""
    n = 0
    while n < len(text) and text[n] in B64_ALPHABET:
        n += 1
    valid = text[:n]
    if len(valid) % 4 == 1:
        valid = valid[:-1]
    return base64.b64decode(valid + b"=" * (-len(valid) % 4))


def httpd_basic_credentials(value):
    """The (user, password) bytes mod_auth_basic hands the provider for this
    header value, or None when it refuses the scheme."""
    value = value.strip(b" \t")
    scheme, _, rest = value.partition(b" ")
    if scheme.lower() != b"basic":
        return None
    decoded = apr_base64_decode(rest.lstrip(b" \t")).split(b"\0")[0]
    user, _, password = decoded.partition(b":")
    return user, password


def decode_credential(raw):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


# ---- hostile header catalogues ----------------------------------------------


def b64(raw):
    return base64.b64encode(raw)


def basic_catalogue():
    """(name, Authorization value) pairs; hand-written cases, then seeded
    random ones."""
    cases = [
        ("empty", b""),
        ("basic-nothing", b"Basic"),
        ("basic-space", b"Basic "),
        ("basic-tab", b"Basic\t" + b64(b"alice:secret")),
        ("scheme-only-lower", b"basic"),
        ("scheme-glued", b"Basic" + b64(b"alice:secret")),
        ("wrong-scheme", b"Bearer " + b64(b"alice:secret")),
        ("lowercase-scheme-valid", b"basic " + b64(b"alice:secret")),
        ("upper-scheme-valid", b"BASIC " + b64(b"alice:secret")),
        ("many-spaces-valid", b"Basic     " + b64(b"alice:secret")),
        ("no-colon", b"Basic " + b64(b"alicesecret")),
        ("no-colon-user", b"Basic " + b64(b"alice")),
        ("only-colon", b"Basic " + b64(b":")),
        ("empty-user", b"Basic " + b64(b":secret")),
        ("empty-password", b"Basic " + b64(b"alice:")),
        ("colons", b"Basic " + b64(b"alice:secret:more")),
        ("colon-first", b"Basic " + b64(b":alice:secret")),
        ("nul-in-user", b"Basic " + b64(b"ali\0ce:secret")),
        ("nul-after-user", b"Basic " + b64(b"alice\0:secret")),
        ("nul-in-password", b"Basic " + b64(b"alice:sec\0ret")),
        ("nul-before-valid-password", b"Basic " + b64(b"alice:\0secret")),
        # httpd's C strings end at NUL: the provider is asked about
        # alice:secret, as with every other authn provider.
        ("nul-after-valid-password", b"Basic " + b64(b"alice:secret\0junk")),
        ("nul-only", b"Basic " + b64(b"\0")),
        ("nuls", b"Basic " + b64(b"\0\0\0:\0\0")),
        ("latin1-user", b"Basic " + b64(b"jos\xe9:secret")),
        ("latin1-password", b"Basic " + b64(b"alice:s\xe9cret")),
        ("invalid-utf8", b"Basic " + b64(b"\xff\xfe\xfd:\xc3\x28")),
        ("truncated-utf8", b"Basic " + b64(b"alice\xc3:secret\xe2\x82")),
        ("overlong-utf8", b"Basic " + b64(b"\xc0\xaf:\xe0\x80\xaf")),
        ("surrogate-utf8", b"Basic " + b64(b"\xed\xa0\x80:\xed\xbf\xbf")),
        ("utf8-user", b"Basic " + b64("jos\u00e9:p\u00e4ss".encode())),
        ("control-chars", b"Basic " + b64(b"al\x01ice:se\x1bcret\x7f")),
        ("crlf-inside", b"Basic " + b64(b"alice\r\nX-Evil: 1:secret\r\n")),
        ("c1-controls", b"Basic " + b64("al\u0085ice:\u009bsecret".encode())),
        ("broken-b64-char", b"Basic YWxp*2U6c2VjcmV0"),
        ("broken-b64-padding-middle", b"Basic YWxp=ZTpzZWNyZXQ="),
        ("broken-b64-no-padding", b"Basic " + b64(b"alice:secre").rstrip(b"=")),
        ("broken-b64-one-char", b"Basic Y"),
        ("broken-b64-five-chars", b"Basic YWxpY"),
        ("broken-b64-url-alphabet", b"Basic " + base64.urlsafe_b64encode(b"\xfb\xff:\xfe\xff")),
        ("broken-b64-spaces", b"Basic YWxp Y2U6 c2Vj cmV0"),
        ("broken-b64-percent", b"Basic %YWxpY2U6c2VjcmV0"),
        ("raw-non-ascii", b"Basic \xff\xfe\x80\x81"),
        ("raw-utf8", "Basic j\u00f6s\u00e9".encode()),
        ("double-header", [b"Basic " + b64(b"mallory:x"), b"Basic " + b64(b"alice:secret")]),
        ("double-header-reverse", [b"Basic " + b64(b"alice:secret"), b"Basic " + b64(b"mallory:x")]),
        ("comma-list", b"Basic " + b64(b"mallory:x") + b", Basic " + b64(b"alice:secret")),
        ("6k-value", b"Basic " + b64(b"alice:" + b"x" * 4600)),
        ("6k-user", b"Basic " + b64(b"u" * 4600 + b":secret")),
        ("6k-garbage", b"Basic " + b"!" * 6000),
        ("6k-nul", b"Basic " + b64(b"\0" * 4600)),
        ("6k-latin1", b"Basic " + b64(bytes(range(128, 256)) * 36)),
        ("over-field-limit", b"Basic " + b64(b"alice:" + b"y" * 7000)),
        ("huge-scheme", b"B" * 6000),
        ("trailing-garbage", b"Basic " + b64(b"alice:secret") + b"!!!garbage"),
        ("trailing-space", b"Basic " + b64(b"alice:secret") + b"   "),
        ("tab-after-scheme-valid", b"Basic \t" + b64(b"alice:secret")),
        ("high-bit-scheme", b"Basi\xe3 " + b64(b"alice:secret")),
        ("all-bytes", b"Basic " + b64(bytes(range(256)))),
        ("colon-nul-colon", b"Basic " + b64(b"alice:\0:secret")),
    ]
    rng = random.Random(20240601)
    specials = [b":", b"\0", b"\xff", b"\xc3", b"\x80", b"\r", b"\n", b"\x1b", b" ", b"alice", b"secret"]
    for i in range(110):
        parts = []
        for _ in range(rng.randint(0, 12)):
            if rng.random() < 0.5:
                parts.append(rng.choice(specials))
            else:
                parts.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 6))))
        raw = b"".join(parts)
        encoded = b64(raw)
        mutation = rng.randrange(6)
        if mutation == 1 and encoded:
            pos = rng.randrange(len(encoded))
            encoded = encoded[:pos] + bytes([rng.choice(b"!*-_=.~ ")]) + encoded[pos:]
        elif mutation == 2 and encoded:
            encoded = encoded[: rng.randrange(len(encoded))]
        elif mutation == 3:
            encoded = encoded.rstrip(b"=")
        elif mutation == 4:
            encoded = encoded + b"=" * rng.randint(1, 3) + b64(b":x")
        scheme = rng.choice([b"Basic ", b"Basic ", b"Basic ", b"basic ", b"Basic  ", b"BASIC\t", b"Basic"])
        cases.append((f"random-{i}", scheme + encoded))
    return cases


def digest_params(nonce, uri, /, **extra):
    """Digest parameters with a real nonce and a wrong response; `extra`
    replaces (or, with None, removes) parameters; `user` is `username`."""
    if "user" in extra:
        extra["username"] = extra.pop("user")
    params = {
        b"username": b'"alice"',
        b"realm": b'"' + REALM.encode() + b'"',
        b"nonce": b'"' + nonce + b'"',
        b"uri": b'"' + uri + b'"',
        b"response": b'"' + b"0" * 32 + b'"',
        b"qop": b"auth",
        b"nc": b"00000001",
        b"cnonce": b'"0a4f113b"',
        b"algorithm": b"MD5",
    }
    for key, value in extra.items():
        key = key.encode()
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params


def join_params(params):
    return b"Digest " + b", ".join(k + b"=" + v for k, v in params.items())


def valid_digest(nonce, uri, nc=b"00000001", cnonce=b"0a4f113b"):
    ha1 = hashlib.md5(f"{USER}:{REALM}:{PASSWORD}".encode()).hexdigest()
    ha2 = hashlib.md5(b"GET:" + uri).hexdigest()
    response = hashlib.md5(
        f"{ha1}:{nonce.decode()}:{nc.decode()}:{cnonce.decode()}:auth:{ha2}".encode()
    ).hexdigest()
    return join_params(digest_params(nonce, uri, response=b'"' + response.encode() + b'"', nc=nc,
                                     cnonce=b'"' + cnonce + b'"'))


def digest_catalogue(nonce, uri):
    """(name, Authorization value) for one request URI; `nonce` is a real
    one from the server's challenge, so parsing goes deep."""
    p = lambda **kw: join_params(digest_params(nonce, uri, **kw))  # noqa: E731
    cases = [
        ("digest-nothing", b"Digest"),
        ("digest-space", b"Digest "),
        ("digest-commas", b"Digest ,,,,,"),
        ("digest-bare-word", b"Digest username"),
        ("digest-empty-name", b'Digest ="x", =, ==='),
        ("digest-user-only", b'Digest username="alice"'),
        ("digest-no-username", p(username=None)),
        ("digest-no-realm", p(realm=None)),
        ("digest-no-nonce", p(nonce=None)),
        ("digest-no-uri", p(uri=None)),
        ("digest-no-response", p(response=None)),
        ("digest-no-qop", p(qop=None)),
        ("digest-no-nc", p(nc=None)),
        ("digest-no-cnonce", p(cnonce=None)),
        ("digest-huge-nc", p(nc=b"f" * 200)),
        ("digest-nc-overflow", p(nc=b"ffffffffffffffffff")),
        ("digest-nc-not-hex", p(nc=b"zzzzzzzz")),
        ("digest-nc-negative", p(nc=b"-1")),
        ("digest-nc-zero", p(nc=b"00000000")),
        ("digest-bad-qop", p(qop=b"bogus")),
        ("digest-qop-auth-int", p(qop=b"auth-int")),
        ("digest-qop-quoted-list", p(qop=b'"auth,auth-int"')),
        ("digest-qop-empty", p(qop=b'""')),
        ("digest-unterminated-user", p(user=b'"alice, realm="x')),
        ("digest-unterminated-last", join_params(digest_params(nonce, uri)) + b', opaque="abc'),
        ("digest-unterminated-only", b'Digest username="'),
        ("digest-trailing-backslash", b'Digest username="alice\\'),
        ("digest-escaped-quote", p(user=b'"al\\"ice"')),
        ("digest-escaped-backslash", p(user=b'"alice\\\\"')),
        ("digest-escapes", p(user=b'"\\a\\l\\i\\c\\e"')),
        ("digest-dup-username", p() + b', username="bob"'),
        ("digest-dup-username-first", b'Digest username="bob", ' + p()[7:]),
        ("digest-dup-all", p() + b", " + p()[7:]),
        ("digest-latin1-user", p(user=b'"jos\xe9"')),
        ("digest-utf8-user", p(user='"jos\u00e9"'.encode())),
        ("digest-invalid-utf8-user", p(user=b'"\xff\xfe\xc3"')),
        ("digest-latin1-realm", p(realm=b'"r\xe9alm"')),
        ("digest-token-user", p(user=b"alice")),
        ("digest-empty-user", p(user=b'""')),
        ("digest-long-user", p(user=b'"' + b"u" * 5000 + b'"')),
        ("digest-long-nonce", p(nonce=b'"' + b"n" * 5000 + b'"')),
        ("digest-long-response", p(response=b'"' + b"a" * 5000 + b'"')),
        ("digest-long-opaque", p(opaque=b'"' + b"o" * 5000 + b'"')),
        ("digest-long-cnonce", p(cnonce=b'"' + b"c" * 5000 + b'"')),
        ("digest-over-field-limit", p(opaque=b'"' + b"o" * 9000 + b'"')),
        ("digest-sha256", p(algorithm=b"SHA-256")),
        ("digest-md5-sess", p(algorithm=b"MD5-sess")),
        ("digest-bogus-algorithm", p(algorithm=b'"\xff\xff"')),
        ("digest-response-not-hex", p(response=b'"' + b"zz" * 16 + b'"')),
        ("digest-response-upper", p(response=b'"' + b"AB" * 16 + b'"')),
        ("digest-response-short", p(response=b'"abc"')),
        ("digest-nonce-garbage", p(nonce=b'"!!!!"')),
        ("digest-nonce-empty", p(nonce=b'""')),
        ("digest-nonce-b64-junk", p(nonce=b'"' + b"A" * 52 + b'"')),
        ("digest-nonce-time-only", p(nonce=b'"' + nonce[:16] + b'"')),
        ("digest-uri-mismatch", p(uri=b'"/digest/other"')),
        ("digest-uri-absolute", p(uri=b'"http://127.0.0.1' + uri + b'"')),
        ("digest-uri-empty", p(uri=b'""')),
        ("digest-realm-mismatch", p(realm=b'"other realm"')),
        ("digest-realm-empty", p(realm=b'""')),
        ("digest-tabs", p().replace(b", ", b",\t")),
        ("digest-no-spaces", p().replace(b", ", b",")),
        ("digest-lowercase-scheme", b"digest " + p()[7:]),
        ("digest-then-basic", p() + b", Basic " + b64(b"alice:secret")),
        ("digest-unknown-params", p(foo=b"bar", **{"": b"x"})),
        ("digest-userhash", p(userhash=b"true")),
        ("digest-username-star", p(user=None, **{"username*": b"UTF-8''jos%C3%A9"})),
        ("digest-stale-replay-nc", p(nc=b"00000001")),
    ]
    rng = random.Random(7)
    pool = [b'"alice"', b'""', b'"', b"\xff", b'"\xe9"', b"x" * 300, b"=", b",", b'"a\\"', b"\\",
            b'"' + nonce + b'"', b"00000001", b"auth", b'"' + uri + b'"', b"\xc3\xa9", b"%00"]
    keys = [b"username", b"realm", b"nonce", b"uri", b"response", b"qop", b"nc", b"cnonce",
            b"algorithm", b"opaque", b"x"]
    for i in range(70):
        params = digest_params(nonce, uri)
        for _ in range(rng.randint(1, 4)):
            key = rng.choice(keys)
            action = rng.randrange(3)
            if action == 0:
                params.pop(key, None)
            elif action == 1:
                params[key] = rng.choice(pool)
            else:
                params[key] = params.get(key, b"")[: rng.randint(0, 4)]
        cases.append((f"digest-random-{i}", join_params(params)))
    return cases


def other_header_catalogue():
    """Hostile headers other than Authorization, sent with valid Basic
    credentials: (name, extra header lines, core_may_refuse). A second
    Authorization header is joined to the first by httpd and spoils it."""
    long_value = b"v" * 6000
    return [
        ("latin1-value", [b"X-Bin: \x80\xff\xe9"], False),
        ("utf8-value", ["X-Name: jos\u00e9".encode()], False),
        ("underscore-name", [b"X_Remote_User: mallory"], False),
        ("dot-name", [b"X.Dot: 1"], False),
        ("6k-value", [b"X-Long: " + long_value], False),
        ("60-headers", [b"X-H%d: %d" % (i, i) for i in range(60)], False),
        ("same-header-40-times", [b"X-Dup: " + b"d" * 100] * 40, False),
        ("authorization-lowercase", [b"authorization: Basic " + b64(b"mallory:x")], True),
        ("proxy-authorization", [b"Proxy-Authorization: Basic " + b64(b"alice:secret")], False),
        ("control-in-value", [b"X-Ctl: a\x01b"], True),
        ("nul-in-value", [b"X-Nul: a\0b"], True),
        ("del-in-value", [b"X-Del: a\x7fb"], True),
        ("bare-cr", [b"X-Cr: a\rb"], True),
        ("obs-fold", [b"X-Fold: a", b" folded"], True),
        ("space-before-colon", [b"X-Space : 1"], True),
        ("empty-name", [b": nameless"], True),
        ("no-colon", [b"NoColonHere"], True),
        ("over-field-limit", [b"X-Huge: " + b"h" * 9000], True),
        ("101-headers", [b"X-M%d: 1" % i for i in range(101)], True),
        ("non-ascii-name", [b"X-\xe9: 1"], True),
    ]


# ---- raw HTTP ---------------------------------------------------------------


def raw_get(port, target, header_lines, timeout=20):
    """Send one GET with these raw header lines on its own connection;
    returns (status or None, head bytes)."""
    request = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    request += b"".join(line + b"\r\n" for line in header_lines) + b"\r\n"
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
    return (int(match.group(1)) if match else None), data.split(b"\r\n\r\n", 1)[0]


def auth_lines(value):
    values = value if isinstance(value, list) else [value]
    return [b"Authorization: " + v for v in values]


def crash_lines(server):
    return [l for l in server.error_log().splitlines() if any(p in l for p in CRASH_PATTERNS)]


# ---- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="module", params=["event", "prefork"])
def apache(request):
    mpm = request.param
    server = Apache(name=f"hostile-{mpm}", mpm=mpm, server_conf=MPM_CONF[mpm])
    script = server.write_script("hostile.py", SCRIPT)
    server.site_conf = "".join(
        f"<Location /{name}>\n{body.format(realm=REALM, script=script)}</Location>\n"
        for name, body in LOCATIONS.items()
    )
    for name in LOCATIONS:
        (server.docroot / name).mkdir()
        (server.docroot / name / "index.html").write_text(f"{name} page\n")
    server.start()
    # Every child has started (and initialised Python) before pids are taken.
    deadline = time.time() + 20
    want = 1 if mpm == "event" else 3
    while len(child_pids(server.proc.pid)) < want and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    server.initial_children = child_pids(server.proc.pid)
    yield server
    server.cleanup()


def records_by_case(server, name):
    by_case = {}
    for rec in server.records(name):
        case = re.search(r"case=([\w.-]+)", rec["uri"])
        by_case.setdefault(case.group(1) if case else "", []).append(rec)
    return by_case


def check_no_crash(server):
    assert crash_lines(server) == []
    # Hostile clients get ordinary denials: nothing the module logs as an error.
    assert server.error_lines("[authnz_wsgi:error]") == []
    assert child_pids(server.proc.pid) == server.initial_children, (
        "a child process was replaced during the test"
    )


# ---- tests ------------------------------------------------------------------


@pytest.mark.parametrize("location", ["basic", "group", "access"])
def test_malformed_basic_headers(apache, location):
    results = {}
    for name, value in basic_catalogue():
        target = f"/{location}/index.html?case={location}-{name}".encode()
        status, head = raw_get(apache.port, target, auth_lines(value))
        results[name] = (status, value)
    check_no_crash(apache)

    seen = records_by_case(apache, "basic")
    problems = []
    for name, (status, value) in results.items():
        values = value if isinstance(value, list) else [value]
        # httpd joins repeated headers with ", ".
        joined = b", ".join(values)
        header_len = len(b"Authorization: " + joined)
        calls = seen.get(f"{location}-{name}", [])
        for call in calls:
            for field in ("user", "password"):
                if "\0" in call[field]:
                    problems.append(f"{name}: Python saw a NUL in the {field}")
            if "HTTP_AUTHORIZATION" in call["keys"]:
                problems.append(f"{name}: environ has the Authorization header")
        if status is None:
            problems.append(f"{name}: no HTTP status line")
            continue
        if max(len(v) for v in values) + len(b"Authorization: ") > FIELD_LIMIT:
            if status != 400 or calls:
                problems.append(f"{name}: oversized header got {status}, {len(calls)} calls")
            continue
        expected = httpd_basic_credentials(joined)
        if expected is None:
            want_calls, want_status = [], 401
        else:
            user, password = (decode_credential(b) for b in expected)
            want_calls = [(user, password)]
            want_status = 200 if (user, password) == (USER, PASSWORD) else 401
        got_calls = [(c["user"], c["password"]) for c in calls]
        if got_calls != want_calls:
            problems.append(f"{name}: Python saw {got_calls!r}, httpd handed {want_calls!r}")
        if status != want_status:
            problems.append(f"{name}: status {status}, expected {want_status} ({header_len} bytes)")
    assert problems == [], "\n".join(problems)

    statuses = [s for s, _ in results.values()]
    assert len(statuses) > 150
    # The controls: the valid forms were admitted, so the location works.
    assert results["lowercase-scheme-valid"][0] == 200
    assert results["nul-after-valid-password"][0] == 200
    if location == "group":
        groups = records_by_case(apache, "groups")
        admitted = {f"group-{n}" for n, (s, _) in results.items() if s == 200}
        assert {c for c in groups if c.startswith("group-")} == admitted
        assert all(c["user"] == USER for calls in groups.values() for c in calls)
    if location == "access":
        access = records_by_case(apache, "access")
        answered = {f"access-{n}" for n, (s, _) in results.items() if s != 400}
        assert answered <= set(access)
        assert all("HTTP_AUTHORIZATION" not in c["keys"] for calls in access.values() for c in calls)


def fetch_nonce(apache, uri):
    status, head = raw_get(apache.port, uri, [])
    assert status == 401
    match = re.search(rb'nonce="([^"]+)"', head)
    assert match, head
    return match.group(1)


def test_malformed_digest_headers(apache):
    uri_base = b"/digest/index.html"
    nonce = fetch_nonce(apache, uri_base)
    results = {}
    cases = digest_catalogue(nonce, uri_base + b"?case=X")
    # The control: a correct response for alice with the server's nonce.
    valid_uri = uri_base + b"?case=digest-valid"
    cases.append(("digest-valid", valid_digest(nonce, valid_uri, nc=b"00000002")))
    for name, value in cases:
        target = uri_base + b"?case=" + name.encode()
        # Each case names its own URI (mod_auth_digest compares it).
        value = value.replace(b"?case=X", b"?case=" + name.encode())
        status, head = raw_get(apache.port, target, auth_lines(value))
        results[name] = status
    check_no_crash(apache)

    problems = []
    for name, status in results.items():
        if status is None:
            problems.append(f"{name}: no HTTP status line")
        elif status == 200 and name != "digest-valid":
            problems.append(f"{name}: admitted")
        elif status not in (200, 400, 401):
            problems.append(f"{name}: status {status}")
    assert problems == [], "\n".join(problems)
    assert results["digest-valid"] == 200
    assert len(results) > 100
    calls = records_by_case(apache, "digest")
    for name, recs in calls.items():
        for rec in recs:
            assert "\0" not in rec["user"], name
            assert rec["realm"] == REALM, (name, rec)
    # Hostile user names reached Python decoded, never raw or truncated.
    for name, user in [("digest-latin1-user", "jos\u00e9"), ("digest-utf8-user", "jos\u00e9"),
                       ("digest-invalid-utf8-user", "\xff\xfe\xc3"),
                       ("digest-long-user", "u" * 5000)]:
        got = [r["user"] for r in calls.get(name, [])]
        assert got in ([], [user]), (name, got)


def test_digest_scheme_at_basic_locations(apache):
    """A Digest header where Basic is configured is refused before Python."""
    nonce = fetch_nonce(apache, b"/digest/index.html")
    before = len(apache.records("basic"))
    statuses = []
    for name, value in digest_catalogue(nonce, b"/basic/index.html")[:60]:
        status, _ = raw_get(apache.port, f"/basic/index.html?case=d-{name}".encode(), auth_lines(value))
        statuses.append(status)
    check_no_crash(apache)
    assert set(statuses) <= {400, 401}, statuses
    assert len(apache.records("basic")) == before


@pytest.mark.parametrize("location", ["basic", "group", "access", "hostonly"])
def test_hostile_other_headers(apache, location):
    valid = auth_lines(b"Basic " + b64(f"{USER}:{PASSWORD}".encode()))
    problems = []
    for name, lines, core_may_refuse in other_header_catalogue():
        case = f"h-{location}-{name}"
        status, _ = raw_get(apache.port, f"/{location}/index.html?case={case}".encode(), lines + valid)
        allowed = {200, 400} if core_may_refuse else {200}
        if name == "authorization-lowercase" and location != "hostonly":
            allowed = {401}
        if status not in allowed:
            problems.append(f"{name}: {status}, expected one of {sorted(allowed)}")
    check_no_crash(apache)
    assert problems == [], "\n".join(problems)
    recs = records_by_case(apache, "access" if location == "hostonly" else "basic")
    for case, calls in recs.items():
        if not case.startswith(f"h-{location}-"):
            continue
        for call in calls:
            keys = call["keys"]
            assert "HTTP_AUTHORIZATION" not in keys and "HTTP_PROXY_AUTHORIZATION" not in keys
            assert "HTTP_X_REMOTE_USER" not in keys, (case, keys)
            if location != "hostonly" and not case.endswith("authorization-lowercase"):
                assert (call["user"], call["password"]) == (USER, PASSWORD), case
    assert "HTTP_X_BIN" in recs[f"h-{location}-latin1-value"][0]["keys"]


def test_valid_logins_still_work(apache):
    for location in ("basic", "group", "access"):
        resp = apache.get_basic(f"/{location}/index.html", USER, PASSWORD)
        assert resp.status == 200 and resp.body == f"{location} page\n".encode()
        assert apache.get_basic(f"/{location}/index.html", USER, "wrong").status == 401
    assert apache.request("/hostonly/index.html").status == 200
    assert apache.request("/hostonly/index.html", headers={"X-Verdict": "deny"}).status == 403
    mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    mgr.add_password(REALM, apache.url("/"), USER, PASSWORD)
    opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(mgr))
    with opener.open(apache.url("/digest/index.html"), timeout=30) as resp:
        assert resp.status == 200 and resp.read() == b"digest page\n"
    check_no_crash(apache)
