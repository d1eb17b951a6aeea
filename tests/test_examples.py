"""Every file under apache-conf/ works: each example config is included,
unchanged, into a real Apache (with Debian's default `<Directory />`
refusal) and exercised; each script or page there is used by some config;
no config lets every valid user through a `Require wsgi-group` line; no
config starts when a `${NAME}` it needs is not defined, or defined without
a value (Apache would leave the text `${NAME}` in its place)."""

import re
import shutil
import urllib.parse
import urllib.request

import pytest

from harness import ROOT, Apache, basic_header

EXAMPLES = ROOT / "apache-conf"
CONF_FILES = sorted(p.name for p in EXAMPLES.glob("*.conf"))

DEBIAN_DEFAULTS = """
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{docroot}">
    Require all granted
</Directory>
"""

PAGES = ["basic", "digest", "staff", "admin", "intranet", "reports", "partners", "projects",
         "django", "django/staff", "members"]


class Example:
    def __init__(self, run, modules, defines, tls):
        self.run = run
        self.modules = modules
        self.defines = defines
        self.tls = tls


EXERCISES = {}


def example(name, modules=(), defines=None, tls=False):
    """Register the exercise of apache-conf/`name`. With `tls`, the server
    also has a TLS virtual host (`server.tls` is (https base URL, ssl
    context)), to which the example's sections apply as well."""
    def register(run):
        EXERCISES[name] = Example(run, list(modules) + (["ssl"] if tls else []), defines, tls)
        return run
    return register


def start(name):
    ex = EXERCISES[name]
    server = Apache(name="example-" + name.removesuffix(".conf"), modules=ex.modules)
    copy = server.dir / "apache-conf"
    shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns("__pycache__"))
    defines = {"AUTHNZ_WSGI_EXAMPLES": str(copy)}
    if ex.defines:
        defines.update(ex.defines(server))
    tls_conf = ""
    if ex.tls:
        from test_form_login import tls_vhost

        tls_conf, base, context = tls_vhost(server)
        server.tls = (base, context)
    server.site_conf = (
        DEBIAN_DEFAULTS.format(docroot=server.docroot)
        + "".join(f'Define {k} "{v}"\n' for k, v in defines.items())
        + f'Include "${{AUTHNZ_WSGI_EXAMPLES}}/{name}"\n'
        + tls_conf
    )
    for page in PAGES:
        (server.docroot / page).mkdir(parents=True, exist_ok=True)
        (server.docroot / page / "index.html").write_text(f"{page} page\n")
    server.start()
    return server


def get(server, path, user=None, password=None, headers=None):
    """(status, response headers, body, access-log entry) of one request."""
    headers = dict(headers or {})
    if user is not None:
        headers["Authorization"] = basic_header(user, password)
    resp = server.request(path, headers=headers)
    entry = server.access_entry(resp)
    assert entry["status"] == resp.status
    return resp.status, resp.headers, resp.body, entry


def module_errors(server):
    return [l for l in server.error_lines("AUTHNZ_WSGI") if ":error]" in l]


# ---- the exercises -------------------------------------------------------------------

@example("basic.conf")
def exercise_basic(server):
    status, headers, _, entry = get(server, "/basic/")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="Example: Basic"'
    status, _, body, entry = get(server, "/basic/", "alice", "wonderland")
    assert status == 200 and body == b"basic page\n" and entry["user"] == "alice"
    assert get(server, "/basic/", "alice", "Wonderland")[0] == 401
    assert get(server, "/basic/", "mallory", "wonderland")[0] == 401
    assert any("user mallory not found" in l for l in server.error_lines("auth_basic"))
    assert any("user alice: authentication failure" in l
               for l in server.error_lines("auth_basic"))
    # Outside the protected location Debian's defaults apply unchanged.
    assert get(server, "/index.html")[0] == 200
    assert module_errors(server) == []


@example("digest.conf")
def exercise_digest(server):
    status, headers, _, _ = get(server, "/digest/")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith('Digest realm="Example: Digest"')
    resp = server.open_with_handler("/digest/", urllib.request.HTTPDigestAuthHandler,
                                    "bob", "builder")
    assert resp.status == 200 and resp.body == b"digest page\n"
    assert server.last_access(200)["user"] == "bob"
    resp = server.open_with_handler("/digest/", urllib.request.HTTPDigestAuthHandler,
                                    "bob", "wrong")
    assert resp.status == 401 and server.last_access(401)["status"] == 401
    assert any("user bob: password mismatch" in l for l in server.error_lines("auth_digest"))
    resp = server.open_with_handler("/digest/", urllib.request.HTTPDigestAuthHandler,
                                    "carol", "caroling")  # no Digest hash for carol
    assert resp.status == 401
    assert module_errors(server) == []


@example("groups.conf")
def exercise_groups(server):
    table = {
        # path: {user: status}
        "/staff/": {"alice": 200, "bob": 200, "carol": 403, "dave": 403},
        "/admin/": {"alice": 200, "carol": 200, "bob": 403, "dave": 403},
    }
    passwords = {"alice": "wonderland", "bob": "builder", "carol": "caroling",
                 "dave": "diving"}
    for path, expected in table.items():
        assert get(server, path)[0] == 401
        assert get(server, path, "alice", "wrong")[0] == 401
        for user, want in expected.items():
            status, _, _, entry = get(server, path, user, passwords[user])
            assert status == want, (path, user)
            assert entry["user"] == user
    assert any("user dave: authorization failure" in l for l in server.error_lines("AH01631"))
    assert module_errors(server) == []


@example("host-access.conf", modules=["remoteip"])
def exercise_host_access(server):
    office = {"X-Forwarded-For": "10.1.2.3"}
    outside = {"X-Forwarded-For": "203.0.113.5"}
    blocked = {"X-Forwarded-For": "192.0.2.66"}
    assert get(server, "/intranet/", headers=office)[0] == 200
    assert get(server, "/intranet/", headers=outside)[0] == 403
    assert get(server, "/intranet/")[0] == 403          # the proxy itself
    assert get(server, "/intranet/", headers=blocked)[0] == 403
    # Require wsgi-host denied it: httpd's authz refusal, not the access gate.
    assert any("AH01630" in l for l in server.error_lines("authz_core:error"))
    assert not server.error_lines("AUTHNZ_WSGI0062")
    # Reports: the office without a password, everybody else logs in.
    status, _, body, entry = get(server, "/reports/", headers=office)
    assert status == 200 and body == b"reports page\n" and entry["user"] == "-"
    status, headers, _, _ = get(server, "/reports/", headers=outside)
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="Example: reports"'
    status, _, _, entry = get(server, "/reports/", "alice", "wonderland", headers=outside)
    assert status == 200 and entry["user"] == "alice"
    assert get(server, "/reports/", "alice", "wrong", headers=outside)[0] == 401
    assert get(server, "/reports/", headers=blocked)[0] == 401
    assert get(server, "/reports/", "alice", "wonderland", headers=blocked)[0] == 200
    # Partners: the access gate refuses a blocked network whatever the password.
    assert get(server, "/partners/", "alice", "wonderland", headers=outside)[0] == 200
    assert get(server, "/partners/", "alice", "wonderland", headers=blocked)[0] == 403
    assert any("client denied by allow_access: 192.0.2.66" in l
               for l in server.error_lines("AUTHNZ_WSGI0062"))
    assert [l for l in module_errors(server) if "AUTHNZ_WSGI0062" not in l] == []


@example("provider-alias.conf")
def exercise_provider_alias(server):
    assert get(server, "/projects/")[0] == 401
    status, _, _, entry = get(server, "/projects/", "alice", "wonderland")
    assert status == 200 and entry["user"] == "alice"
    status, _, _, entry = get(server, "/projects/", "erin", "engineer")
    assert status == 200 and entry["user"] == "erin"
    assert get(server, "/projects/", "erin", "wrong")[0] == 401
    assert get(server, "/projects/", "alice", "engineer")[0] == 401
    assert get(server, "/projects/", "mallory", "x")[0] == 401
    assert any("user mallory not found" in l for l in server.error_lines("auth_basic"))
    assert module_errors(server) == []


def django_defines(server):
    from test_django import django_venv, make_django_project

    venv = django_venv()
    server.venv = venv
    project, _ = make_django_project(server.dir / "django", venv)
    return {"DJANGO_VENV": venv, "DJANGO_PROJECT": project}


@example("django.conf", defines=django_defines)
def exercise_django(server):
    for user, password, status in [
        ("alice", "alice-pw", 200), ("bob", "bob-pw", 200),
        ("alice", "wrong", 401), ("carol", "carol-pw", 401), ("mallory", "x", 401),
    ]:
        got, _, _, entry = get(server, "/django/", user, password)
        assert got == status, (user, password)
    for user, password, status in [
        ("alice", "alice-pw", 200), ("jos\u00e9", "jos\u00e9-pw", 200),
        ("bob", "bob-pw", 403), ("carol", "carol-pw", 401),
    ]:
        got, _, body, entry = get(server, "/django/staff/", user, password)
        assert got == status, (user, password)
        if status == 200:
            assert body == b"django/staff page\n"
    assert get(server, "/django/staff/")[0] == 401
    lines = server.error_lines("AUTHNZ_WSGI0003")
    assert lines and all(f"sys.prefix {server.venv}," in l for l in lines), lines
    assert module_errors(server) == []


SESSION_SECRET = "example-test-secret-Zx81kQ"


def cookie_attributes(set_cookie):
    """The attributes of one Set-Cookie value: {lower-case name: value}."""
    parts = [p.strip() for p in set_cookie.split(";")][1:]
    return {p.split("=", 1)[0].lower(): (p.split("=", 1) + [""])[1] for p in parts if p}


@example("form-login.conf",
         modules=["auth_form", "session", "session_cookie", "session_crypto", "request"],
         defines=lambda server: {"AUTHNZ_WSGI_SESSION_SECRET": SESSION_SECRET},
         tls=True)
def exercise_form_login(server):
    from test_form_login import Browser

    def visit(browser, path, form=None):
        status, headers, body = browser.open(path, form)
        entry = server.access_entry(browser.last)
        assert entry["status"] == status
        return status, headers, body, entry

    base, context = server.tls
    browser = Browser(server, "authnz-example-session", base, context)
    status, headers, _, entry = visit(browser, "/members/")
    assert status == 302 and headers["Location"] == "/login.html"
    assert entry["user"] == "-" and entry["uri"] == "/members/"
    status, _, body, _ = visit(browser, "/login.html")
    assert status == 200 and b'action="/dologin"' in body
    status, headers, _, entry = visit(
        browser, "/dologin", {"httpd_username": "alice", "httpd_password": "wrong"})
    assert status == 302 and headers["Location"] == "/login.html?failed"
    assert any("AH01807: user 'alice': authentication failure" in l
               for l in server.error_lines("auth_form:error"))
    status, headers, _, entry = visit(
        browser, "/dologin", {"httpd_username": "alice", "httpd_password": "wonderland"})
    assert status == 302 and headers["Location"] == "/members/"
    assert entry["user"] == "alice" and entry["method"] == "POST"
    # The session cookie: over TLS only, out of reach of page scripts, and
    # not sent along with requests that other sites start (except top-level
    # navigation); encrypted with the secret (neither name nor password shows).
    [set_cookie] = browser.set_cookies
    assert set_cookie.startswith("authnz-example-session=")
    attributes = cookie_attributes(set_cookie)
    assert attributes["path"] == "/" and attributes["samesite"] == "Lax"
    assert "secure" in attributes and "httponly" in attributes
    plain = urllib.parse.unquote(browser.cookie())
    assert "alice" not in plain and "wonderland" not in plain
    status, _, body, entry = visit(browser, "/members/")
    assert status == 200 and body == b"members page\n" and entry["user"] == "alice"
    status, headers, _, _ = visit(browser, "/logout")
    assert status == 307 and headers["Location"] == "/login.html?bye"
    status, headers, _, entry = visit(browser, "/members/")
    assert status == 302 and headers["Location"] == "/login.html" and entry["user"] == "-"

    # Over plain HTTP the login is checked and the cookie is set with the
    # same attributes, but a browser never sends a Secure cookie back over
    # HTTP: the next page asks for the login again.
    plain_http = Browser(server, "authnz-example-session")
    status, headers, _, entry = visit(
        plain_http, "/dologin", {"httpd_username": "alice", "httpd_password": "wonderland"})
    assert status == 302 and headers["Location"] == "/members/" and entry["user"] == "alice"
    [set_cookie] = plain_http.set_cookies
    assert "secure" in cookie_attributes(set_cookie)
    status, headers, _, entry = visit(plain_http, "/members/")
    assert status == 302 and headers["Location"] == "/login.html" and entry["user"] == "-"
    assert module_errors(server) == []


# ---- the tests -------------------------------------------------------------------------

def test_there_are_examples():
    assert len(CONF_FILES) >= 7


@pytest.mark.parametrize("name", CONF_FILES)
def test_example(name):
    if name not in EXERCISES:
        pytest.fail(f"apache-conf/{name} has no exercise in tests/test_examples.py")
    server = start(name)
    try:
        EXERCISES[name].run(server)
        # No shipped section lets a group check be bypassed (docs/authorization.md#the-requireany-trap).
        assert server.error_lines("AUTHNZ_WSGI0103") == []
    finally:
        server.cleanup()


def test_every_exercise_has_its_file():
    assert sorted(EXERCISES) == CONF_FILES


def placeholder_cases():
    """(config, NAME) for every `${NAME}` a config uses and does not define
    itself."""
    cases = []
    for name in CONF_FILES:
        text = "\n".join(l for l in (EXAMPLES / name).read_text().splitlines()
                         if not l.lstrip().startswith("#"))
        own = set(re.findall(r"^\s*Define\s+(\w+)", text, re.M))
        for var in sorted(set(re.findall(r"\$\{(\w+)\}", text)) - own):
            cases.append((name, var))
    return cases


@pytest.mark.parametrize("how", ["missing", "no value"])
@pytest.mark.parametrize("name,var", placeholder_cases())
def test_a_placeholder_without_a_value_stops_the_config(name, var, how):
    """Apache leaves an undefined `${NAME}` as that literal text and only
    warns: a session secret would become a passphrase anyone can read here,
    a path would point nowhere. Each example refuses to start instead, and
    says what to define. `-D NAME` or `Define NAME` without a value define
    the name for <IfDefine> but give it no value: refused too."""
    server = Apache(name="example-placeholder", modules=EXERCISES[name].modules)
    try:
        copy = server.dir / "apache-conf"
        shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns("__pycache__"))
        lines = []
        for other in [v for n, v in placeholder_cases() if n == name]:
            value = str(copy) if other == "AUTHNZ_WSGI_EXAMPLES" else str(server.dir)
            if other != var:
                lines.append(f'Define {other} "{value}"')
            elif how == "no value":
                lines.append(f"Define {other}")
        server.site_conf = "\n".join(lines) + f'\nInclude "{copy}/{name}"\n'
        code, output = server.configtest()
        assert code != 0 and "Syntax OK" not in output, output
        # What stopped it names the variable (Apache's own AH00111 warning
        # about the undefined variable does not count).
        error = output[output.index("AH00526: Syntax error"):]
        if how == "missing":
            assert f"{name}: Define {var} " in error, error
        else:
            assert var in error, error
        # Starting the server stops at the same point.
        with pytest.raises(RuntimeError, match=re.escape(error.splitlines()[1])):
            server.start()
    finally:
        server.cleanup()


def test_every_other_file_is_used_by_a_config():
    configs = {n: (EXAMPLES / n).read_text() for n in CONF_FILES}
    for path in sorted(EXAMPLES.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".conf":
            continue
        rel = path.relative_to(EXAMPLES).as_posix()
        users = [n for n, text in configs.items() if "${AUTHNZ_WSGI_EXAMPLES}/" + rel in text]
        assert users, f"apache-conf/{rel} is used by no example config"


def authz_blocks(text):
    """Yield (container, [direct Require lines], [direct Require* sections])
    for every section of a config, `Require*` sections included."""
    stack = [("top", [], [])]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        closing = re.match(r"</(\w+)>", line)
        opening = re.match(r"<(\w+)", line)
        if closing:
            done = stack.pop()
            yield done
            if done[0].lower().startswith("require"):
                stack[-1][2].append(done[0])
        elif opening:
            stack.append((opening.group(1), [], []))
        elif line.split()[0].lower() == "require":
            stack[-1][1].append(line)


def group_traps(text):
    """docs/authorization.md#the-requireany-trap: `Require wsgi-group` next to other Require lines or sections
    outside <RequireAll> (an implicit or explicit <RequireAny>) restricts
    nothing. One message per such section."""
    found = []
    for container, lines, nested in authz_blocks(text):
        groups = [l for l in lines if l.split()[1:2] == ["wsgi-group"]]
        if groups and container.lower() != "requireall" and len(lines) + len(nested) > 1:
            found.append(f"<{container}>: {groups[0]!r} among other Require lines")
    return found


def test_the_trap_check_works():
    trap = "<Location /x>\n  Require valid-user\n  Require wsgi-group staff\n</Location>\n"
    assert group_traps(trap) == ["<Location>: 'Require wsgi-group staff' among other Require lines"]
    any_trap = ("<Location /x>\n  <RequireAny>\n    Require wsgi-group staff\n"
                "    <RequireAll>\n      Require ip 10.0.0.0/8\n    </RequireAll>\n"
                "  </RequireAny>\n</Location>\n")
    assert len(group_traps(any_trap)) == 1
    fine = ("<Location /x>\n  <RequireAll>\n    Require valid-user\n"
            "    Require wsgi-group staff\n  </RequireAll>\n</Location>\n"
            "<Location /y>\n  Require wsgi-group staff \"web team\"\n</Location>\n")
    assert group_traps(fine) == []


@pytest.mark.parametrize("name", CONF_FILES)
def test_no_example_admits_every_valid_user_through_a_group_line(name):
    assert group_traps((EXAMPLES / name).read_text()) == []
