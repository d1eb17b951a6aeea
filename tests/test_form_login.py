"""Form login (mod_auth_form + mod_session_cookie) with `AuthFormProvider
wsgi`: log in through the form, reach the protected pages with the session
cookie, log out, and be refused again. `tls_vhost` and `Browser` serve the
shipped example (apache-conf/form-login.conf, exercised over TLS in
test_examples.py) as well."""

import http.cookiejar
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from harness import Apache, Response, free_port, port_recording_handlers

SCRIPT = """
USERS = {"ann": "ann-pw", "jos\\u00e9": "s\\u00e9same"}

def check_password(environ, user, password):
    record(user=user, uri=environ["REQUEST_URI"], method=environ["REQUEST_METHOD"])
    if user not in USERS:
        return None
    return USERS[user] == password
"""

SESSION = """  Session On
  SessionCookieName authnz-session path=/;httponly
  SessionCryptoPassphrase "form-test-passphrase"
"""

FORM = """<!doctype html>
<form method="post" action="/dologin">
  <input name="httpd_username"> <input type="password" name="httpd_password">
  <button>Log in</button>
</form>
"""


@pytest.fixture(scope="module")
def apache():
    server = Apache(
        name="form",
        modules=["auth_form", "session", "session_cookie", "session_crypto", "request"],
    )
    script = server.write_script("form.py", SCRIPT)
    provider = f'  AuthFormProvider wsgi\n  WSGIAuthUserScript "{script}"\n'
    server.site_conf = f"""
<Location /dologin>
  SetHandler form-login-handler
  AuthType form
  AuthName "members"
{provider}{SESSION}  AuthFormLoginRequiredLocation "/login.html?failed"
  AuthFormLoginSuccessLocation "/members/index.html"
  # The handler checks the form itself; the page is open to everybody
  # (an AuthType without any Require is a 500 in httpd 2.4).
  Require all granted
</Location>
<Location /members>
  AuthType form
  AuthName "members"
{provider}{SESSION}  AuthFormLoginRequiredLocation "/login.html"
  Require valid-user
</Location>
<Location /logout>
  SetHandler form-logout-handler
  # The session keys are named after AuthName: without the same AuthName
  # the logout handler clears nothing.
  AuthName "members"
{SESSION}  SessionMaxAge 1
  AuthFormLogoutLocation "/login.html?bye"
</Location>
"""
    (server.docroot / "login.html").write_text(FORM)
    (server.docroot / "members").mkdir()
    (server.docroot / "members" / "index.html").write_text("members only\n")
    (server.docroot / "members" / "other.html").write_text("more for members\n")
    server.start()
    yield server
    server.cleanup()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Show each 302 to the test instead of following it."""

    def redirect_request(self, *args, **kwargs):
        return None


def tls_vhost(server):
    """A TLS virtual host for `server` on a second 127.0.0.1 port, with a
    self-signed certificate for 127.0.0.1 made here (load mod_ssl). The main
    server's sections apply to it too. Returns (config text, https base URL,
    an ssl context that trusts that certificate only and checks the name)."""
    cert, key = server.dir / "tls-cert.pem", server.dir / "tls-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    port = free_port()
    conf = f"""
Listen 127.0.0.1:{port} https
<VirtualHost 127.0.0.1:{port}>
    SSLEngine on
    SSLCertificateFile "{cert}"
    SSLCertificateKeyFile "{key}"
</VirtualHost>
"""
    return conf, f"https://127.0.0.1:{port}", ssl.create_default_context(cafile=str(cert))


class Browser:
    """A client that keeps cookies as a browser does (a `Secure` cookie goes
    back over https only) and shows each redirect instead of following it.
    With `base` and `context`, it talks TLS to that base URL."""

    def __init__(self, apache, cookie_name="authnz-session", base=None, context=None):
        self.apache = apache
        self.cookie_name = cookie_name
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        # The client port of each connection: it names the access-log line.
        self.ports = []
        handlers = [urllib.request.HTTPCookieProcessor(self.jar), NoRedirect(),
                    *port_recording_handlers(self.ports, context)]
        self.opener = urllib.request.build_opener(*handlers)
        self.set_cookies = []
        # The last response, for apache.access_entry.
        self.last = None

    def open(self, path, form=None):
        """(status, headers, body); the response's Set-Cookie header values
        are kept in `set_cookies`."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        url = self.base + path if self.base else self.apache.url(path)
        req = urllib.request.Request(url, data=data)
        mark = self.apache.access_count()
        try:
            with self.opener.open(req, timeout=30) as resp:
                self.set_cookies = resp.headers.get_all("Set-Cookie") or []
                status, headers, body = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            self.set_cookies = e.headers.get_all("Set-Cookie") or []
            status, headers, body = e.code, dict(e.headers), e.read()
        self.last = Response(status, headers, body, self.ports[-1], mark)
        return status, headers, body

    def cookie(self):
        values = [c.value for c in self.jar if c.name == self.cookie_name]
        return values[0] if values else None


def step(apache, browser, path, form=None):
    calls_before = len(apache.records())
    status, headers, body = browser.open(path, form)
    entry = apache.access_entry(browser.last)
    return status, headers, body, entry, apache.records()[calls_before:]


def test_login_visit_logout(apache):
    browser = Browser(apache)

    # Not logged in: sent to the login form, Python not asked.
    status, headers, _, entry, calls = step(apache, browser, "/members/index.html")
    assert status == 302 and entry["status"] == 302
    assert headers["Location"] == "/login.html"
    assert calls == []
    status, _, body, _, _ = step(apache, browser, "/login.html")
    assert status == 200 and b'name="httpd_username"' in body

    # Log in through the form.
    status, headers, _, entry, calls = step(
        apache, browser, "/dologin", {"httpd_username": "ann", "httpd_password": "ann-pw"}
    )
    assert status == 302 and entry["status"] == 302 and entry["method"] == "POST"
    assert headers["Location"] == "/members/index.html"
    assert entry["user"] == "ann"
    assert calls == [{"user": "ann", "uri": "/dologin", "method": "POST"}]
    cookie = browser.cookie()
    assert cookie
    # The session is encrypted: the password is not in the cookie.
    plain = urllib.parse.unquote(cookie)
    assert "ann-pw" not in plain and "user=" not in plain

    # The session cookie opens the protected pages; each request is checked
    # again through the provider with the credentials the session holds.
    for page, text in (("index.html", b"members only\n"), ("other.html", b"more for members\n")):
        status, _, body, entry, calls = step(apache, browser, f"/members/{page}")
        assert status == 200 and body == text
        assert entry["status"] == 200 and entry["user"] == "ann"
        assert calls == [{"user": "ann", "uri": f"/members/{page}", "method": "GET"}]

    # Log out: the session loses the credentials (mod_auth_form answers 307).
    status, headers, _, entry, calls = step(apache, browser, "/logout")
    assert status == 307 and entry["status"] == 307
    assert headers["Location"] == "/login.html?bye"
    assert calls == []
    assert browser.cookie() != cookie

    status, headers, _, entry, calls = step(apache, browser, "/members/index.html")
    assert status == 302 and headers["Location"] == "/login.html"
    assert entry["status"] == 302 and entry["user"] == "-"
    assert calls == []


def test_wrong_password_does_not_log_in(apache):
    browser = Browser(apache)
    status, headers, _, entry, calls = step(
        apache, browser, "/dologin", {"httpd_username": "ann", "httpd_password": "nope"}
    )
    assert status == 302 and headers["Location"] == "/login.html?failed"
    assert entry["status"] == 302
    assert calls == [{"user": "ann", "uri": "/dologin", "method": "POST"}]
    assert any("auth_form" in l and "ann" in l for l in apache.error_lines(":error]")), \
        apache.error_log()[-2000:]
    status, headers, _, entry, calls = step(apache, browser, "/members/index.html")
    assert status == 302 and headers["Location"] == "/login.html"
    assert calls == []


def test_unknown_user_does_not_log_in(apache):
    browser = Browser(apache)
    status, headers, _, _, calls = step(
        apache, browser, "/dologin", {"httpd_username": "eve", "httpd_password": "x"}
    )
    assert status == 302 and headers["Location"] == "/login.html?failed"
    assert [c["user"] for c in calls] == ["eve"]
    status, _, _, _, _ = step(apache, browser, "/members/index.html")
    assert status == 302


def test_non_ascii_form_login(apache):
    browser = Browser(apache)
    status, headers, _, entry, calls = step(
        apache, browser, "/dologin",
        {"httpd_username": "jos\u00e9", "httpd_password": "s\u00e9same"},
    )
    assert status == 302 and headers["Location"] == "/members/index.html"
    assert [c["user"] for c in calls] == ["jos\u00e9"]
    status, _, body, entry, calls = step(apache, browser, "/members/index.html")
    assert status == 200 and body == b"members only\n"
    assert [c["user"] for c in calls] == ["jos\u00e9"]


def test_python_errors_do_not_appear(apache):
    Browser(apache).open("/members/index.html")
    assert [l for l in apache.error_lines("AUTHNZ_WSGI") if ":error]" in l] == []
