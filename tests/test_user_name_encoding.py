"""`WSGIUserNameEncoding utf-8` (docs/directives.md#wsgiusernameencoding,
docs/python-contract.md#one-name-in-two-encodings): `josé` sent by a UTF-8
client (`jos\\xc3\\xa9`) and by a Latin-1 client (`jos\\xe9`) is one user to
Apache as it is to Python — one `%u` (mod_log_config writes non-ASCII bytes
as `\\xhh`), one `REMOTE_USER` for a CGI, one `Require not user` rule, one
in-process cache entry, one group lookup — for Basic, form login and identity
reflection. Digest keeps the client's bytes in the hash itself: the user is
re-encoded for authorization and the log, but a realm hash computed over
UTF-8 matches only the UTF-8 client. mod_authn_socache looks up by the
bytes sent, so only the UTF-8 form is handed to it. Without the directive
(the default, or `as-sent`), the two byte strings stay two users."""

import base64
import hashlib
import random
import re
import urllib.parse

import pytest

from harness import Apache, Response

REALM = "people"
JOSE_UTF8 = "jos\u00e9".encode()
JOSE_LATIN1 = "jos\u00e9".encode("latin-1")
PW_UTF8 = "s\u00e9same".encode()
PW_LATIN1 = "s\u00e9same".encode("latin-1")
LOGGED_UTF8 = r"jos\xc3\xa9"
LOGGED_LATIN1 = r"jos\xe9"

USERS_SCRIPT = """
import hashlib

USERS = {"jos\\u00e9": "s\\u00e9same", "zo\\u00eb": "k\\u00e4se", "alice": "pw"}

def check_password(environ, user, password):
    record(kind="basic", user=user, password=password, uri=environ["REQUEST_URI"])
    if user not in USERS:
        return None
    # Anything after '#' is a tag tests use for fresh cache entries.
    return USERS[user] == password.split("#")[0]

def get_realm_hash(environ, user, realm):
    record(kind="digest", user=user, realm=realm)
    if user not in USERS:
        return None
    # Over the UTF-8 encoding: what a UTF-8 client hashes.
    return hashlib.md5(f"{user}:{realm}:{USERS[user]}".encode()).hexdigest()
"""

GROUPS_SCRIPT = """
def groups_for_user(environ, user):
    record("groups", user=user, uri=environ["REQUEST_URI"])
    return ["staff"] if user == "jos\\u00e9" else []
"""

# A CGI that answers with the bytes of REMOTE_USER, in hex.
WHO_CGI = """#!/usr/bin/python3
import os, sys
sys.stdout.buffer.write(b"Content-Type: text/plain\\r\\n\\r\\n"
                        + os.environb.get(b"REMOTE_USER", b"").hex().encode() + b"\\n")
"""

# An application that does its own login and names the user in
# X-Remote-User, as Latin-1 (what a WSGI application's str header becomes)
# or as UTF-8 bytes.
NAMING_CGI = """#!/usr/bin/python3
import os, sys
name = "jos\\u00e9".encode("latin-1" if os.environ.get("QUERY_STRING") == "latin1" else "utf-8")
sys.stdout.buffer.write(b"Content-Type: text/plain\\r\\nX-Remote-User: " + name
                        + b"\\r\\n\\r\\nnamed\\n")
"""

SESSION = """  Session On
  SessionCookieName authnz-session path=/;httponly
  SessionCryptoPassphrase "user-name-encoding-test"
"""


def basic_section(path, script, encoding=None, provider="wsgi", extra=""):
    encoding_line = f"WSGIUserNameEncoding {encoding}" if encoding else ""
    return f"""
<Location {path}>
  AuthType Basic
  AuthName "{REALM}"
  AuthBasicProvider {provider}
  WSGIAuthUserScript "{script}"
  {encoding_line}
  {extra}
  Require valid-user
</Location>
"""


@pytest.fixture(scope="module")
def apache():
    server = Apache(
        name="user-name-encoding",
        modules=["cgid", "authn_file", "authn_socache", "socache_shmcb", "auth_form", "session",
                 "session_cookie", "session_crypto", "request"],
        # One child: its in-process cache sees every request.
        server_conf="StartServers 1\nServerLimit 1\nThreadsPerChild 25\n"
                    "MaxRequestWorkers 25\nMinSpareThreads 1\nMaxSpareThreads 25\n"
                    "AuthnCacheSOCache shmcb\n"
                    "LogLevel info authnz_wsgi:debug authn_socache:debug\n",
    )
    users = server.write_script("users.py", USERS_SCRIPT)
    groups = server.write_script("groups.py", GROUPS_SCRIPT)
    cgi = server.dir / "cgi"
    cgi.mkdir()
    for name, text in (("who.cgi", WHO_CGI), ("name.cgi", NAMING_CGI)):
        (cgi / name).write_text(text)
        (cgi / name).chmod(0o755)
    cache = "WSGIAuthCacheTimeout 600"
    groups_extra = f'WSGIAuthGroupScript "{groups}"\n  Require wsgi-group staff'
    form = f'  AuthFormProvider wsgi\n  WSGIAuthUserScript "{users}"\n' \
           f"  WSGIUserNameEncoding utf-8\n  {cache}\n"
    sections = [
        basic_section("/on", users, "utf-8", extra=cache),
        basic_section("/off", users, extra=cache),
        # Inherits /on's script and cache; says as-sent explicitly.
        '<Location /on/as-sent>\n  WSGIUserNameEncoding as-sent\n</Location>\n',
        "<Location /on/not-jose>\n  <RequireAll>\n    Require valid-user\n"
        "    Require not user jos\u00e9\n  </RequireAll>\n</Location>\n",
        basic_section("/groups-on", users, "utf-8", extra=f"{cache}\n  {groups_extra}"),
        basic_section("/groups-off", users, extra=f"{cache}\n  {groups_extra}"),
        basic_section("/sc-on", users, "utf-8", provider="socache wsgi",
                      extra="AuthnCacheProvideFor wsgi\n  AuthnCacheTimeout 600"),
        basic_section("/sc-off", users, provider="socache wsgi",
                      extra="AuthnCacheProvideFor wsgi\n  AuthnCacheTimeout 600"),
    ]
    # Another provider authenticates; the wsgi group script decides.
    htpasswd = server.dir / "htpasswd"
    sha = "{SHA}" + base64.b64encode(hashlib.sha1(PW_UTF8).digest()).decode()
    htpasswd.write_bytes(b"".join(user + b":" + sha.encode() + b"\n"
                                  for user in (JOSE_UTF8, JOSE_LATIN1)))
    sections.append(f"""
<Location /file-groups>
  AuthType Basic
  AuthName "{REALM}"
  AuthBasicProvider file
  AuthUserFile "{htpasswd}"
  WSGIUserNameEncoding utf-8
  {cache}
  {groups_extra}
</Location>
""")
    sections.append(f"""
<Location /sc-digest>
  AuthType Digest
  AuthName "{REALM}"
  AuthDigestProvider socache wsgi
  AuthnCacheProvideFor wsgi
  AuthnCacheTimeout 600
  AuthDigestNonceLifetime -1
  WSGIAuthUserScript "{users}"
  WSGIUserNameEncoding utf-8
  Require valid-user
</Location>
""")
    for path, encoding in (("/digest-on", "utf-8"), ("/digest-off", None)):
        encoding_line = f"WSGIUserNameEncoding {encoding}" if encoding else ""
        sections.append(f"""
<Location {path}>
  AuthType Digest
  AuthName "{REALM}"
  AuthDigestProvider wsgi
  AuthDigestNonceLifetime -1
  WSGIAuthUserScript "{users}"
  {encoding_line}
  {cache}
  Require valid-user
</Location>
""")
    for path, encoding in (("/reflect-on", "utf-8"), ("/reflect-off", "as-sent")):
        sections.append(f"<Location {path}>\n  WSGIReflectAuth On\n"
                        f"  WSGIUserNameEncoding {encoding}\n</Location>\n")
    sections.append(f"""
<Location /dologin>
  SetHandler form-login-handler
  AuthType form
  AuthName "{REALM}"
{form}{SESSION}  AuthFormLoginRequiredLocation "/login.html?failed"
  AuthFormLoginSuccessLocation "/members/index.html"
  Require all granted
</Location>
<Location /members>
  AuthType form
  AuthName "{REALM}"
{form}{SESSION}  AuthFormLoginRequiredLocation "/login.html"
  Require valid-user
</Location>
""")
    for prefix in ("on", "off", "on/as-sent", "on/not-jose", "groups-on", "groups-off",
                   "sc-on", "sc-off", "sc-digest", "file-groups", "digest-on", "digest-off", "reflect-on", "reflect-off"):
        sections.append(f'ScriptAlias /{prefix}/cgi/ "{cgi}/"\n')
    server.site_conf = "\n".join(sections)
    (server.docroot / "members").mkdir()
    (server.docroot / "members" / "index.html").write_text("members only\n")
    (server.docroot / "login.html").write_text("log in\n")
    server.start()
    yield server
    server.cleanup()


def calls(apache, kind, since):
    return [r for r in apache.records()[since:] if r["kind"] == kind]


def who(apache, location, user, password):
    """GET the REMOTE_USER CGI behind `location` with Basic credentials:
    (status, REMOTE_USER bytes, the access log's %u)."""
    resp = apache.get_basic(f"/{location}/cgi/who.cgi", user, password)
    user_seen = bytes.fromhex(resp.body.decode().strip()) if resp.status == 200 else None
    return resp.status, user_seen, apache.last_access(resp.status)["user"]


# ---- Basic ----------------------------------------------------------------------------------


def test_basic_utf8_and_latin1_clients_are_one_user(apache):
    before = len(apache.records())
    assert who(apache, "on", JOSE_UTF8, PW_UTF8) == (200, JOSE_UTF8, LOGGED_UTF8)
    # The Latin-1 client: the same REMOTE_USER and %u, answered from the
    # entry the UTF-8 login made (its password is the same to Python).
    assert who(apache, "on", JOSE_LATIN1, PW_LATIN1) == (200, JOSE_UTF8, LOGGED_UTF8)
    assert who(apache, "on", JOSE_LATIN1, PW_UTF8) == (200, JOSE_UTF8, LOGGED_UTF8)
    assert calls(apache, "basic", before) == [
        {"kind": "basic", "user": "jos\u00e9", "password": "s\u00e9same", "uri": "/on/cgi/who.cgi"}
    ]
    # Re-encoding is logged (debug) for the Latin-1 requests only.
    assert len(apache.error_lines("AUTHNZ_WSGI0110")) == 2
    assert all(r"jos\\xe9" in line for line in apache.error_lines("AUTHNZ_WSGI0110"))


def test_basic_without_the_directive_keeps_the_bytes_sent(apache):
    before = len(apache.records())
    marked = len(apache.error_lines("AUTHNZ_WSGI0110"))
    assert who(apache, "off", JOSE_UTF8, PW_UTF8) == (200, JOSE_UTF8, LOGGED_UTF8)
    assert who(apache, "off", JOSE_LATIN1, PW_LATIN1) == (200, JOSE_LATIN1, LOGGED_LATIN1)
    # Two entries: Python is asked once per byte string.
    assert [r["user"] for r in calls(apache, "basic", before)] == ["jos\u00e9", "jos\u00e9"]
    assert len(apache.error_lines("AUTHNZ_WSGI0110")) == marked


def test_as_sent_in_a_nested_section_overrides_utf8(apache):
    marked = len(apache.error_lines("AUTHNZ_WSGI0110"))
    assert who(apache, "on/as-sent", JOSE_LATIN1, PW_LATIN1) == (200, JOSE_LATIN1, LOGGED_LATIN1)
    assert who(apache, "on/as-sent", JOSE_UTF8, PW_UTF8) == (200, JOSE_UTF8, LOGGED_UTF8)
    assert len(apache.error_lines("AUTHNZ_WSGI0110")) == marked


def test_require_not_user_written_in_utf8_refuses_both_encodings(apache):
    before = len(apache.records())
    for user, password in ((JOSE_UTF8, PW_UTF8), (JOSE_LATIN1, PW_LATIN1)):
        resp = apache.get_basic("/on/not-jose/cgi/who.cgi", user, password)
        assert resp.status == 401
        assert apache.last_access(401)["user"] == LOGGED_UTF8
    assert len(apache.error_lines(r"AH01631: user jos\xc3\xa9: authorization failure "
                                  'for "/on/not-jose/cgi/who.cgi"')) == 2
    assert not apache.error_lines(r"AH01631: user jos\xe9:")
    # Python was asked (or its cached answer used) and granted; the rule refused.
    assert all(r["user"] == "jos\u00e9" for r in calls(apache, "basic", before))


def test_a_refused_latin1_login_is_logged_under_the_utf8_name(apache):
    before = len(apache.records())
    assert who(apache, "on", JOSE_LATIN1, b"wrong")[::2] == (401, LOGGED_UTF8)
    assert who(apache, "off", JOSE_LATIN1, b"wrong")[::2] == (401, LOGGED_LATIN1)
    assert [(r["user"], r["password"]) for r in calls(apache, "basic", before)] == \
        [("jos\u00e9", "wrong")] * 2
    # mod_auth_basic's own failure line names the bytes the client sent.
    assert apache.error_lines(r"AH01617: user jos\xe9: authentication failure "
                              'for "/on/cgi/who.cgi"')


def test_randomized_logins_match_a_reference_model(apache):
    """Random Basic logins with both encodings of two non-ASCII names and of
    their passwords, at /on (utf-8), /on/as-sent (the same script section,
    so the same cache context, keyed by the bytes sent) and /off (its own
    section). The reference: Python grants exactly the known (name,
    password) texts; an entry is keyed by the credentials' bytes — decoded
    and re-encoded under utf-8, as sent otherwise — within its section;
    Apache's user is the UTF-8 name under utf-8, else the bytes sent."""
    rng = random.Random(19)
    tag = f"#{rng.getrandbits(32):08x}"  # fresh passwords: no earlier entries apply
    names = {"jos\u00e9": "s\u00e9same" + tag, "zo\u00eb": "k\u00e4se" + tag}
    known = set(names.items())
    encodings = ("utf-8", "latin-1")
    locations = {"on": ("on", "utf-8"), "on/as-sent": ("on", "as-sent"), "off": ("off", "as-sent")}
    cached = set()
    for _ in range(60):
        location = rng.choice(sorted(locations))
        section, mode = locations[location]
        user = rng.choice(sorted(names))
        password = names[user] if rng.random() < 0.8 else "wrong" + tag
        user_sent = user.encode(rng.choice(encodings))
        password_sent = password.encode(rng.choice(encodings))

        def key_bytes(sent):
            return sent.decode("latin-1" if not is_utf8(sent) else "utf-8").encode() \
                if mode == "utf-8" else sent

        key = (section, key_bytes(user_sent), key_bytes(password_sent))
        granted = (user, password) in known
        expect_call = key not in cached
        if granted:
            cached.add(key)
        expect_user = user.encode() if mode == "utf-8" else user_sent
        before = len(apache.records())
        status, remote_user, logged = who(apache, location, user_sent, password_sent)
        made = calls(apache, "basic", before)
        step = (location, user_sent, password_sent)
        assert status == (200 if granted else 401), step
        assert logged == log_escaped(expect_user), step
        if granted:
            assert remote_user == expect_user, step
        assert made == ([{"kind": "basic", "user": user, "password": password,
                          "uri": f"/{location}/cgi/who.cgi"}] if expect_call else []), step


def is_utf8(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def log_escaped(user):
    """mod_log_config's %u: bytes outside printable ASCII as \\xhh."""
    return "".join(chr(b) if 0x20 <= b < 0x7f and b not in b'"\\' else f"\\x{b:02x}"
                   for b in user)


# ---- groups ---------------------------------------------------------------------------------


def test_groups_for_user_sees_one_user_and_caches_one_entry(apache):
    before = len(apache.records())
    for user, password in ((JOSE_UTF8, PW_UTF8), (JOSE_LATIN1, PW_LATIN1)):
        assert who(apache, "groups-on", user, password) == (200, JOSE_UTF8, LOGGED_UTF8)
    assert apache.records("groups") == [{"user": "jos\u00e9", "uri": "/groups-on/cgi/who.cgi"}]
    assert len(calls(apache, "basic", before)) == 1
    assert apache.error_lines(r"groups of 'jos\xc3\xa9' taken from the in-process cache")

    apache.clear_records("groups")
    for user, password, logged in ((JOSE_UTF8, PW_UTF8, LOGGED_UTF8),
                                   (JOSE_LATIN1, PW_LATIN1, LOGGED_LATIN1)):
        assert who(apache, "groups-off", user, password) == (200, user, logged)
    # Without the directive, one lookup per byte string.
    assert [r["user"] for r in apache.records("groups")] == ["jos\u00e9", "jos\u00e9"]


def test_groups_are_one_entry_per_person_under_another_provider(apache):
    """mod_authn_file authenticates (the directive does not change its
    user: the bytes sent); groups_for_user is given the decoded name, and
    under utf-8 its cache entry is keyed by it: one call for both forms."""
    apache.clear_records("groups")
    for user, logged in ((JOSE_UTF8, LOGGED_UTF8), (JOSE_LATIN1, LOGGED_LATIN1)):
        assert who(apache, "file-groups", user, PW_UTF8) == (200, user, logged)
    assert apache.records("groups") == [{"user": "jos\u00e9", "uri": "/file-groups/cgi/who.cgi"}]


# ---- mod_authn_socache ----------------------------------------------------------------------


def test_socache_holds_the_utf8_form_only(apache):
    """mod_authn_socache looks up by the bytes sent, before the wsgi
    provider runs: only a login sent as UTF-8 is handed to it (its bytes
    are the UTF-8 name); a Latin-1 login reaches the wsgi provider each time
    and still becomes the UTF-8 user."""
    before = len(apache.records())
    handed = len(apache.error_lines("AUTHNZ_WSGI0073"))
    assert who(apache, "sc-on", JOSE_UTF8, PW_UTF8) == (200, JOSE_UTF8, LOGGED_UTF8)
    assert len(apache.error_lines("AUTHNZ_WSGI0073")) == handed + 1
    assert who(apache, "sc-on", JOSE_UTF8, PW_UTF8) == (200, JOSE_UTF8, LOGGED_UTF8)
    assert len(calls(apache, "basic", before)) == 1  # the second from mod_authn_socache
    for _ in range(2):
        assert who(apache, "sc-on", JOSE_LATIN1, PW_LATIN1) == (200, JOSE_UTF8, LOGGED_UTF8)
    assert [r["user"] for r in calls(apache, "basic", before)] == ["jos\u00e9"] * 3
    kept = apache.error_lines("AUTHNZ_WSGI0111")
    assert len(kept) == 2 and all(r"login of 'jos\\xe9' not handed" in line for line in kept)
    assert len(apache.error_lines("AUTHNZ_WSGI0073")) == handed + 1

    # Without the directive each byte string gets its own entry.
    before = len(apache.records())
    for user, password, logged in ((JOSE_UTF8, PW_UTF8, LOGGED_UTF8),
                                   (JOSE_LATIN1, PW_LATIN1, LOGGED_LATIN1)) * 2:
        assert who(apache, "sc-off", user, password) == (200, user, logged)
    assert len(calls(apache, "basic", before)) == 2
    assert len(apache.error_lines("AUTHNZ_WSGI0073")) == handed + 3
    assert len(apache.error_lines("AUTHNZ_WSGI0111")) == 2


# ---- Digest ---------------------------------------------------------------------------------


def digest_get(apache, location, user, password="s\u00e9same"):
    """GET with a Digest header whose username is `user`'s bytes and whose
    HA1 is computed over them, as a client in that encoding does."""
    path = f"/{location}/cgi/who.cgi"
    challenge = apache.request(path).headers.get("WWW-Authenticate", "")
    assert apache.last_access(401)["user"] == "-"
    nonce = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))["nonce"]
    ha1 = hashlib.md5(user + f":{REALM}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"GET:{path}".encode()).hexdigest()
    nc, cnonce = "00000001", "0a4f113b5c6d7e8f"
    response = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    # http.client sends a str header value as Latin-1: each char one byte.
    header = (f'Digest username="{user.decode("latin-1")}", realm="{REALM}", nonce="{nonce}", '
              f'uri="{path}", algorithm=MD5, response="{response}", qop=auth, nc={nc}, '
              f'cnonce="{cnonce}"')
    resp = apache.request(path, headers={"Authorization": header})
    user_seen = bytes.fromhex(resp.body.decode().strip()) if resp.status == 200 else None
    return resp.status, user_seen, apache.last_access(resp.status)["user"]


def test_digest_re_encodes_the_user_but_the_hash_keeps_the_client_bytes(apache):
    """The realm hash is the client's MD5 over the bytes it sent, so a
    script hashing the UTF-8 name serves the UTF-8 client only. The user
    is re-encoded before the comparison: the mismatch is logged under the
    UTF-8 name, and the one cache entry answers both encodings."""
    before = len(apache.records())
    assert digest_get(apache, "digest-on", JOSE_UTF8) == (200, JOSE_UTF8, LOGGED_UTF8)
    assert digest_get(apache, "digest-on", JOSE_LATIN1) == (401, None, LOGGED_UTF8)
    assert calls(apache, "digest", before) == [
        {"kind": "digest", "user": "jos\u00e9", "realm": REALM}
    ]
    assert apache.error_lines(r"AH01794: user jos\xc3\xa9: password mismatch: "
                              "/digest-on/cgi/who.cgi")
    assert not apache.error_lines(r"AH01794: user jos\xe9: password mismatch: /digest-on/")
    cached = apache.error_lines("AUTHNZ_WSGI0077")
    assert len(cached) == 1 and r"realm hash of 'jos\xc3\xa9' answered" in cached[0]

    before = len(apache.records())
    assert digest_get(apache, "digest-off", JOSE_UTF8) == (200, JOSE_UTF8, LOGGED_UTF8)
    assert digest_get(apache, "digest-off", JOSE_LATIN1) == (401, None, LOGGED_LATIN1)
    assert [r["user"] for r in calls(apache, "digest", before)] == ["jos\u00e9"] * 2
    assert apache.error_lines(r"AH01794: user jos\xe9: password mismatch: "
                              "/digest-off/cgi/who.cgi")


def test_socache_holds_the_utf8_realm_hash_only(apache):
    before = len(apache.records())
    kept = len(apache.error_lines("AUTHNZ_WSGI0111"))
    for _ in range(2):
        assert digest_get(apache, "sc-digest", JOSE_UTF8) == (200, JOSE_UTF8, LOGGED_UTF8)
    assert len(calls(apache, "digest", before)) == 1  # the second from mod_authn_socache
    assert apache.error_lines("realm hash of 'jos\\xc3\\xa9' handed to mod_authn_socache")
    # The Latin-1 client: not found in mod_authn_socache, asked of Python,
    # not handed over; its hash over Latin-1 bytes does not match.
    assert digest_get(apache, "sc-digest", JOSE_LATIN1) == (401, None, LOGGED_UTF8)
    assert [r["user"] for r in calls(apache, "digest", before)] == ["jos\u00e9"] * 2
    lines = apache.error_lines("AUTHNZ_WSGI0111")
    assert len(lines) == kept + 1
    assert r"realm hash of 'jos\\xe9' not handed to mod_authn_socache" in lines[-1]


# ---- form login -----------------------------------------------------------------------------


def form_login(apache, user, password):
    body = urllib.parse.urlencode({"httpd_username": user, "httpd_password": password}).encode()
    conn_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", apache.port, timeout=30)
    mark = apache.access_count()
    try:
        conn.request("POST", "/dologin", body=body, headers=conn_headers)
        port = conn.sock.getsockname()[1]
        resp = conn.getresponse()
        resp.read()
        entry = apache.access_entry(Response(resp.status, {}, b"", port, mark))
        return resp.status, resp.getheader("Location"), entry["user"]
    finally:
        conn.close()


def test_form_login_in_both_encodings_is_one_user(apache):
    before = len(apache.records())
    for user, password in ((JOSE_UTF8, PW_UTF8), (JOSE_LATIN1, PW_LATIN1)):
        status, location, logged = form_login(apache, user, password)
        assert (status, logged) == (302, LOGGED_UTF8)
        assert location.endswith("/members/index.html")
    assert calls(apache, "basic", before) == [
        {"kind": "basic", "user": "jos\u00e9", "password": "s\u00e9same", "uri": "/dologin"}
    ]


# ---- identity reflection --------------------------------------------------------------------


@pytest.mark.parametrize("location,form,logged", [
    ("reflect-on", "latin1", LOGGED_UTF8),
    ("reflect-on", "utf8", LOGGED_UTF8),
    ("reflect-off", "latin1", LOGGED_LATIN1),
    ("reflect-off", "utf8", LOGGED_UTF8),
])
def test_a_reflected_name_becomes_the_utf8_user(apache, location, form, logged):
    before = len(apache.records())
    line = f"(auth type '-') from the response of /{location}/cgi/name.cgi"
    marked = len(apache.error_lines(line))
    resp = apache.request(f"/{location}/cgi/name.cgi?{form}")
    assert resp.status == 200 and resp.body == b"named\n"
    assert "X-Remote-User" not in resp.headers
    assert apache.last_access(200)["user"] == logged
    reflected = apache.error_lines(line)
    assert len(reflected) == marked + 1
    if logged == LOGGED_UTF8:
        assert r"reflected user 'jos\xc3\xa9'" in reflected[-1]
    assert apache.records()[before:] == []  # no Python involved


# ---- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize("value,message", [
    ("latin-1", "WSGIUserNameEncoding must be as-sent (Apache's user is the bytes the client "
                "sent) or utf-8 (the UTF-8 encoding of the name as Python sees it), not 'latin-1'"),
    ("utf-8 as-sent", "WSGIUserNameEncoding takes one argument, as-sent or utf-8"),
])
def test_bad_values_fail_the_config_test(value, message):
    server = Apache(name="user-name-encoding-config",
                    site_conf=f"<Location />\n  WSGIUserNameEncoding {value}\n</Location>\n")
    try:
        rc, output = server.configtest()
        assert rc != 0
        assert message in output
        assert "line 2" in output or "line" in output
    finally:
        server.cleanup()


def test_good_values_pass_the_config_test():
    server = Apache(name="user-name-encoding-config",
                    site_conf="WSGIUserNameEncoding UTF-8\n<Location />\n"
                              "  WSGIUserNameEncoding as-sent\n</Location>\n")
    try:
        rc, output = server.configtest()
        assert rc == 0, output
        assert "Syntax OK" in output
    finally:
        server.cleanup()
