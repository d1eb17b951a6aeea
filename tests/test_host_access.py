"""Host access (docs/authorization.md#host-access-wsgiaccessscript-and-require-wsgi-host): WSGIAccessScript on the access phase, the
composable `Require wsgi-host`, the host Python sees (mod_remoteip-aware,
double-reverse-confirmed with `HostnameLookups Double`), application groups
as separate module instances, and `<AuthnProviderAlias wsgi NAME>` with its
own WSGIAuthUserScript."""

import socket
import urllib.request

import pytest

from harness import Apache, basic_header, free_port

VERDICT_SCRIPT = """
import os

COUNT = 0
ANSWERS = {"true": True, "false": False, "none": None, "absent": None, "int": 1, "str": "yes"}

def allow_access(environ, host):
    global COUNT
    COUNT += 1
    verdict = environ.get("HTTP_X_VERDICT", "absent")
    record(
        host=host,
        uri=environ["REQUEST_URI"],
        verdict=verdict,
        remote_addr=environ["REMOTE_ADDR"],
        remote_host=environ.get("REMOTE_HOST"),
        group=environ["mod_wsgi.application_group"],
        count=COUNT,
        pid=os.getpid(),
    )
    if verdict == "raise":
        raise LookupError("allow_access failed")
    if verdict == "loopback-only":
        return host.startswith("127.")
    return ANSWERS[verdict]

def check_password(environ, user, password):
    record("authn", user=user, uri=environ["REQUEST_URI"])
    return password == "pw"
"""

NO_FUNCTION_SCRIPT = """
def check_password(environ, user, password):
    return True
"""

ALIAS_SCRIPT = """
import hashlib

USERS = %r

def get_realm_hash(environ, user, realm):
    record("alias", script=%r + "-digest", user=user, group=environ["mod_wsgi.application_group"])
    if user not in USERS:
        return None
    return hashlib.md5(f"{user}:{realm}:{USERS[user]}".encode()).hexdigest()

def check_password(environ, user, password):
    record("alias", script=%r, user=user)
    if user not in USERS:
        return None
    return USERS[user] == password
"""

BASIC = """AuthType Basic
  AuthName "host"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{verdict}"
  AuthzSendForbiddenOnFailure On"""


def locations(s):
    """Location bodies keyed by path; `s` holds the script paths."""
    access = f'WSGIAccessScript "{s["verdict"]}"'
    basic = BASIC.format(**s)
    return {
        "/access": access,
        "/access-auth": f"{access}\n  {basic}\n  Require valid-user",
        "/access-nofunc": f'WSGIAccessScript "{s["nofunc"]}"',
        "/access-gone": f'WSGIAccessScript "{s["gone"]}"',
        "/host-alone": f"{access}\n  Require wsgi-host",
        "/host-any": f"""{access}
  <RequireAny>
    Require ip 192.0.2.0/24
    Require wsgi-host
  </RequireAny>""",
        "/host-any-ip": f"""{access}
  <RequireAny>
    Require ip 127.0.0.1
    Require wsgi-host
  </RequireAny>""",
        "/host-all": f"""{access}
  {basic}
  <RequireAll>
    Require valid-user
    Require wsgi-host
  </RequireAll>""",
        "/host-no-script": "Require wsgi-host",
        "/single-lookup": f"HostnameLookups On\n  {access}",
        "/double-lookup": f"HostnameLookups Double\n  {access}",
        "/group-global": access,
        "/group-global-explicit": f"{access} application-group=%{{GLOBAL}}",
        "/group-alpha": f"{access} application-group=alpha",
        "/group-alpha-again": f"{access} application-group=alpha",
        "/group-beta": f"{access} application-group=beta",
        "/group-server": f"{access} application-group=%{{SERVER}}",
        "/group-host": f"{access} application-group=%{{HOST}}",
        "/alias": """AuthType Basic
  AuthName "alias"
  AuthBasicProvider staff-db partners-db
  Require valid-user""",
        "/alias-digest": """AuthType Digest
  AuthName "alias-digest"
  AuthDigestProvider partners-digest
  Require valid-user""",
        "/alias-mixed": f"""AuthType Basic
  AuthName "alias-mixed"
  AuthBasicProvider partners-db wsgi
  WSGIAuthUserScript "{s["verdict"]}"
  Require valid-user""",
    }


HTACCESS_GATES = {
    "gate-any": "<RequireAny>\n  Require all granted\n  Require wsgi-host\n</RequireAny>\n",
    "gate-alone": "Require wsgi-host\n",
}


@pytest.fixture(scope="module")
def apache():
    server = Apache(
        name="host",
        modules=["remoteip"],
        # One child: the module-instance counters are then per instance only.
        server_conf="StartServers 1\nServerLimit 1\nLogLevel info authnz_wsgi:debug\n",
    )
    # The main port's requests go to a virtual host with two aliases.
    server.server_conf += (f"<VirtualHost 127.0.0.1:{server.port}>\n  ServerName 127.0.0.1\n"
                           "  ServerAlias one.test two.test\n</VirtualHost>\n")
    scripts = {
        "verdict": server.write_script("verdict.py", VERDICT_SCRIPT),
        "nofunc": server.write_script("nofunc.py", NO_FUNCTION_SCRIPT),
        "gone": server.write_script("gone.py", VERDICT_SCRIPT),
        "staff": server.write_script(
            "staff.py", ALIAS_SCRIPT % ({"sam": "sam-pw"}, "staff", "staff")),
        "partners": server.write_script(
            "partners.py",
            ALIAS_SCRIPT % ({"pat": "pat-pw", "sam": "other-pw"}, "partners", "partners")),
    }
    server.trusted_port = free_port()
    server.untrusted_port = free_port()
    blocks = [
        f"""<AuthnProviderAlias wsgi staff-db>
  WSGIAuthUserScript "{scripts["staff"]}"
</AuthnProviderAlias>
<AuthnProviderAlias wsgi partners-db>
  WSGIAuthUserScript "{scripts["partners"]}"
</AuthnProviderAlias>
<AuthnProviderAlias wsgi partners-digest>
  WSGIAuthUserScript "{scripts["partners"]}" application-group=digest-partners
</AuthnProviderAlias>
Listen 127.0.0.1:{server.trusted_port}
Listen 127.0.0.1:{server.untrusted_port}
# Behind a trusted reverse proxy on 127.0.0.1.
<VirtualHost 127.0.0.1:{server.trusted_port}>
  ServerName trusted.test
  RemoteIPHeader X-Forwarded-For
  RemoteIPInternalProxy 127.0.0.1
</VirtualHost>
# Only 192.0.2.1 may say who the client is: our header is ignored.
<VirtualHost 127.0.0.1:{server.untrusted_port}>
  ServerName untrusted.test
  RemoteIPHeader X-Forwarded-For
  RemoteIPInternalProxy 192.0.2.1
</VirtualHost>
"""
    ]
    for path, body in locations(scripts).items():
        blocks.append(f"<Location {path}>\n  {body}\n</Location>")
        (server.docroot / path.strip("/")).mkdir()
        (server.docroot / path.strip("/") / "index.html").write_text(f"{path} page\n")
    # WSGIAccessScript set by the server configuration for a directory whose
    # .htaccess (AuthConfig) adds Require lines of its own.
    for name, htaccess in HTACCESS_GATES.items():
        gate = server.docroot / name
        gate.mkdir()
        (gate / "index.html").write_text(f"{name} page\n")
        (gate / ".htaccess").write_text(htaccess)
        blocks.append(f"""<Directory "{gate}">
  WSGIAccessScript "{scripts["verdict"]}"
  AllowOverride AuthConfig
</Directory>""")
    server.site_conf = "\n".join(blocks)
    server.start()
    scripts["gone"].unlink()
    yield server
    server.cleanup()


class Outcome:
    def __init__(self, status, headers, entry, calls, authn, alias, errors):
        self.status = status
        self.headers = headers
        self.entry = entry
        self.calls = calls
        self.authn = authn
        self.alias = alias
        self.errors = errors

    def tagged(self, tag):
        return [l for l in self.errors if tag in l]

    @property
    def module_errors(self):
        return [l for l in self.errors if "AUTHNZ_WSGI" in l and ":error]" in l]


def call(apache, path, verdict=None, port=None, user=None, password="pw", headers=None):
    headers = dict(headers or {})
    if verdict is not None:
        headers["X-Verdict"] = verdict
    if user is not None:
        headers["Authorization"] = basic_header(user, password)
    calls_before = len(apache.records())
    authn_before = len(apache.records("authn"))
    alias_before = len(apache.records("alias"))
    errors_before = len(apache.error_log().splitlines())
    url = f"http://127.0.0.1:{port or apache.port}{path}"
    resp = apache.open(urllib.request.Request(url, headers=headers))
    return Outcome(
        resp.status,
        resp.headers,
        apache.access_entry(resp),
        apache.records()[calls_before:],
        apache.records("authn")[authn_before:],
        apache.records("alias")[alias_before:],
        apache.error_log().splitlines()[errors_before:],
    )


# ---- WSGIAccessScript ------------------------------------------------------------------

@pytest.mark.parametrize("verdict", ["true", "none", "absent"])
def test_access_script_true_or_none_lets_the_request_through(apache, verdict):
    out = call(apache, "/access/index.html", verdict)
    assert out.status == 200 and out.entry["status"] == 200
    assert [(c["host"], c["uri"], c["verdict"]) for c in out.calls] == [
        ("127.0.0.1", "/access/index.html", verdict)
    ]
    assert out.module_errors == []


def test_access_script_false_is_403_with_log_line(apache):
    out = call(apache, "/access/index.html", "false")
    assert out.status == 403 and out.entry["status"] == 403
    assert len(out.calls) == 1
    lines = out.tagged("AUTHNZ_WSGI0062")
    assert len(lines) == 1
    assert "client denied by allow_access: 127.0.0.1" in lines[0]
    assert "[client 127.0.0.1:" in lines[0]
    assert out.module_errors == lines


@pytest.mark.parametrize("verdict,kind", [("int", "int"), ("str", "str")])
def test_access_script_other_values_are_403_with_log_line(apache, verdict, kind):
    out = call(apache, "/access/index.html", verdict)
    assert out.status == 403 and out.entry["status"] == 403
    assert len(out.calls) == 1
    lines = out.tagged("AUTHNZ_WSGI0061")
    assert len(lines) == 1
    assert (f"AUTHNZ_WSGI0061: script '{apache.scripts}/verdict.py': allow_access must return "
            f"True, False or None, not {kind}") in lines[0]
    assert out.module_errors == lines


def test_access_script_exception_is_403_with_traceback(apache):
    out = call(apache, "/access/index.html", "raise")
    assert out.status == 403 and out.entry["status"] == 403
    assert len(out.calls) == 1
    lines = out.tagged("AUTHNZ_WSGI0042")
    assert "allow_access() in" in lines[0]
    assert "LookupError: allow_access failed" in lines[0]
    assert any("in allow_access" in l for l in lines[1:]), lines


def test_access_script_without_function_is_403(apache):
    out = call(apache, "/access-nofunc/index.html", "true")
    assert out.status == 403 and out.entry["status"] == 403
    lines = apache.error_lines("AUTHNZ_WSGI0021")
    assert lines and all("allow_access is not defined" in l for l in lines), lines


def test_access_script_that_disappeared_is_403(apache):
    out = call(apache, "/access-gone/index.html", "true")
    assert out.status == 403 and out.entry["status"] == 403
    assert out.calls == []
    lines = out.tagged("AUTHNZ_WSGI0023")
    assert len(lines) == 1 and "cannot access script" in lines[0] and "gone.py" in lines[0]


@pytest.mark.parametrize("verdict", ["true", "none"])
def test_access_script_true_still_needs_require(apache, verdict):
    # True/None do not grant: Require valid-user still asks for credentials.
    out = call(apache, "/access-auth/index.html", verdict)
    assert out.status == 401 and out.entry["status"] == 401
    assert out.headers.get("WWW-Authenticate") == 'Basic realm="host"'
    assert len(out.calls) == 1 and out.authn == []
    out = call(apache, "/access-auth/index.html", verdict, user="ann")
    assert out.status == 200 and out.entry["user"] == "ann"
    assert len(out.calls) == 1 and [a["user"] for a in out.authn] == ["ann"]
    out = call(apache, "/access-auth/index.html", verdict, user="ann", password="bad")
    assert out.status == 401


def test_directory_index_calls_allow_access_once(apache):
    out = call(apache, "/access/", "true")
    assert out.status == 200 and out.entry["status"] == 200
    # The DirectoryIndex sub-request and internal redirect reuse the verdict.
    assert [c["uri"] for c in out.calls] == ["/access/"]


def test_access_script_false_refuses_before_authentication(apache):
    out = call(apache, "/access-auth/index.html", "false", user="ann")
    assert out.status == 403 and out.entry["status"] == 403
    # The access phase comes first: check_password is never asked.
    assert out.authn == [] and len(out.calls) == 1
    assert len(out.tagged("AUTHNZ_WSGI0062")) == 1


# ---- Require wsgi-host -----------------------------------------------------------------

def test_require_wsgi_host_alone(apache):
    assert call(apache, "/host-alone/index.html", "true").status == 200
    assert apache.last_access()["status"] == 200
    # None is neutral: nothing grants, so httpd refuses.
    out = call(apache, "/host-alone/index.html", "none")
    assert out.status == 403 and out.entry["status"] == 403
    assert any("AH01630" in l for l in out.errors), out.errors
    assert out.module_errors == []
    out = call(apache, "/host-alone/index.html", "false")
    assert out.status == 403 and out.entry["status"] == 403


@pytest.mark.parametrize(
    "verdict,status", [("true", 200), ("none", 403), ("false", 403)]
)
def test_require_wsgi_host_in_require_any_with_ip(apache, verdict, status):
    # `Require ip 192.0.2.0/24` does not match 127.0.0.1: wsgi-host decides.
    out = call(apache, "/host-any/index.html", verdict)
    assert out.status == status and out.entry["status"] == status
    assert out.calls and all(c["host"] == "127.0.0.1" for c in out.calls)


@pytest.mark.parametrize("verdict", ["true", "none"])
def test_require_ip_grants_in_require_any(apache, verdict):
    out = call(apache, "/host-any-ip/index.html", verdict)
    assert out.status == 200 and out.entry["status"] == 200


def test_require_wsgi_host_false_is_overridden_by_matching_ip_in_require_any(apache):
    out = call(apache, "/host-any-ip/index.html", "false")
    assert out.status == 200 and out.entry["status"] == 200


def test_require_wsgi_host_exception_is_500(apache):
    out = call(apache, "/host-alone/index.html", "raise")
    assert out.status == 500 and out.entry["status"] == 500
    assert len(out.calls) == 1 and out.calls[0]["verdict"] == "raise"
    (summary,) = [l for l in out.tagged("AUTHNZ_WSGI0042") if "allow_access() in" in l]
    assert "LookupError: allow_access failed" in summary


def test_require_wsgi_host_calls_allow_access_once(apache):
    out = call(apache, "/host-alone/index.html", "true")
    assert out.status == 200
    assert len(out.calls) == 1


@pytest.mark.parametrize(
    "verdict,user,status",
    [
        ("true", "ann", 200),
        ("true", None, 401),
        ("none", "ann", 200),   # neutral inside RequireAll: valid-user decides
        ("false", "ann", 403),
    ],
)
def test_require_wsgi_host_in_require_all_with_valid_user(apache, verdict, user, status):
    out = call(apache, "/host-all/index.html", verdict, user=user)
    assert out.status == status and out.entry["status"] == status
    assert out.calls and {c["host"] for c in out.calls} == {"127.0.0.1"}
    if status == 200:
        assert out.entry["user"] == "ann"


def test_require_wsgi_host_without_access_script_is_500(apache):
    out = call(apache, "/host-no-script/index.html", "true")
    assert out.status == 500 and out.entry["status"] == 500
    assert out.calls == []
    lines = out.tagged("AUTHNZ_WSGI0060")
    assert len(lines) == 1
    assert "Require wsgi-host is used here but no WSGIAccessScript applies" in lines[0]


@pytest.mark.parametrize("gate", ["gate-any", "gate-alone"])
def test_htaccess_require_wsgi_host_keeps_the_access_gate(apache, gate):
    # The server configuration's WSGIAccessScript refuses with False; an
    # .htaccess author's `Require wsgi-host` (next to `Require all granted`)
    # must not turn that gate into a vote that another line can outvote.
    out = call(apache, f"/{gate}/index.html", "false")
    assert out.status == 403 and out.entry["status"] == 403
    assert len(out.calls) == 1 and out.calls[0]["uri"] == f"/{gate}/index.html"
    assert len(out.tagged("AUTHNZ_WSGI0062")) == 1


@pytest.mark.parametrize("verdict,gate,status", [
    ("true", "gate-any", 200),
    ("true", "gate-alone", 200),
    ("none", "gate-any", 200),    # Require all granted decides
    ("none", "gate-alone", 403),  # neutral: nothing grants
])
def test_htaccess_require_wsgi_host_shares_the_gates_call(apache, verdict, gate, status):
    out = call(apache, f"/{gate}/index.html", verdict)
    assert out.status == status and out.entry["status"] == status
    # The access phase asked; Require wsgi-host reuses that answer.
    assert len(out.calls) == 1, out.calls
    assert out.module_errors == []


def test_require_wsgi_host_takes_no_arguments():
    server = Apache(name="host-conf")
    try:
        server.site_conf = "<Location /x>\n  Require wsgi-host 127.0.0.1\n</Location>\n"
        code, output = server.configtest()
        assert code != 0
        assert f"of {server.conf_path}" in output
        assert "Require wsgi-host takes no arguments" in output
    finally:
        server.cleanup()


# ---- which host Python sees ------------------------------------------------------------

def test_trusted_proxy_hands_the_forwarded_address(apache):
    out = call(apache, "/access/index.html", "true", port=apache.trusted_port,
               headers={"X-Forwarded-For": "203.0.113.9"})
    assert out.status == 200
    assert [c["host"] for c in out.calls] == ["203.0.113.9"]
    assert out.calls[0]["remote_addr"] == "203.0.113.9"
    # A client-supplied address in front of the proxy's entry is not trusted:
    # mod_remoteip stops at the first untrusted hop, counted from the right.
    out = call(apache, "/access/index.html", "true", port=apache.trusted_port,
               headers={"X-Forwarded-For": "127.0.0.5, 203.0.113.9"})
    assert [c["host"] for c in out.calls] == ["203.0.113.9"]


def test_trusted_proxy_address_is_what_allow_access_judges(apache):
    out = call(apache, "/access/index.html", "loopback-only", port=apache.trusted_port,
               headers={"X-Forwarded-For": "203.0.113.9"})
    assert out.status == 403 and out.entry["status"] == 403
    lines = out.tagged("AUTHNZ_WSGI0062")
    assert len(lines) == 1 and "client denied by allow_access: 203.0.113.9" in lines[0]
    # Without the header, the proxy itself (127.0.0.1) is the client.
    out = call(apache, "/access/index.html", "loopback-only", port=apache.trusted_port)
    assert out.status == 200 and [c["host"] for c in out.calls] == ["127.0.0.1"]


def test_untrusted_peer_cannot_choose_its_address(apache):
    out = call(apache, "/access/index.html", "loopback-only", port=apache.untrusted_port,
               headers={"X-Forwarded-For": "203.0.113.9"})
    assert out.status == 200
    assert [c["host"] for c in out.calls] == ["127.0.0.1"]
    assert out.calls[0]["remote_addr"] == "127.0.0.1"


def test_forwarded_address_in_require_wsgi_host(apache):
    out = call(apache, "/host-alone/index.html", "loopback-only", port=apache.trusted_port,
               headers={"X-Forwarded-For": "203.0.113.9"})
    assert out.status == 403
    assert out.calls and {c["host"] for c in out.calls} == {"203.0.113.9"}


def confirmed_name(address):
    """The double-reverse-confirmed name of `address` on this machine, or None."""
    try:
        name = socket.gethostbyaddr(address)[0]
        forward = socket.gethostbyname_ex(name)[2]
    except OSError:
        return None
    return name if address in forward else None


def test_hostname_lookups_double_gives_the_confirmed_name(apache):
    out = call(apache, "/double-lookup/index.html", "true")
    assert out.status == 200
    expected = confirmed_name("127.0.0.1")
    # On this machine /etc/hosts maps 127.0.0.1 <-> localhost; where it does
    # not, the module falls back to the address.
    assert [c["host"] for c in out.calls] == [expected or "127.0.0.1"]
    if expected:
        assert out.calls[0]["remote_host"] == expected


def test_single_reverse_lookup_is_not_trusted(apache):
    # HostnameLookups On gives REMOTE_HOST a PTR name, but a PTR record is the
    # client's to choose: allow_access still sees the address.
    out = call(apache, "/single-lookup/index.html", "true")
    assert out.status == 200
    assert [c["host"] for c in out.calls] == ["127.0.0.1"]
    name = confirmed_name("127.0.0.1")
    if name:
        assert out.calls[0]["remote_host"] == name


# ---- application groups ----------------------------------------------------------------

def counts(apache, path, n, **kw):
    result = []
    for _ in range(n):
        out = call(apache, path, "true", **kw)
        assert out.status == 200
        assert len(out.calls) == 1
        result.append((out.calls[0]["group"], out.calls[0]["count"], out.calls[0]["pid"]))
    return result


def test_literal_application_groups_are_separate_instances(apache):
    beta = counts(apache, "/group-beta/index.html", 1)
    alpha = counts(apache, "/group-alpha/index.html", 2)
    again = counts(apache, "/group-alpha-again/index.html", 1)
    beta += counts(apache, "/group-beta/index.html", 1)
    pids = {p for _, _, p in alpha + beta + again}
    assert len(pids) == 1
    # Both locations naming "alpha" share one instance; "beta" has its own,
    # whose counter the alpha calls did not move.
    base = alpha[0][1]
    assert [(g, c) for g, c, _ in alpha + again] == [
        ("alpha", base), ("alpha", base + 1), ("alpha", base + 2)
    ]
    assert [(g, c) for g, c, _ in beta] == [("beta", beta[0][1]), ("beta", beta[0][1] + 1)]


def test_global_group_is_not_a_named_one(apache):
    first = counts(apache, "/group-global/index.html", 1)
    alpha = counts(apache, "/group-alpha/index.html", 1)
    second = counts(apache, "/group-global-explicit/index.html", 1)
    # The default and an explicit %{GLOBAL} are the same instance.
    assert first[0][0] == second[0][0] == ""
    assert second[0][1] == first[0][1] + 1
    assert alpha[0][0] == "alpha"


def test_server_application_group_follows_the_virtual_host(apache):
    main = counts(apache, "/group-server/index.html", 2)
    trusted = counts(apache, "/group-server/index.html", 1, port=apache.trusted_port)
    main_again = counts(apache, "/group-server/index.html", 1)
    assert {g for g, _, _ in main + main_again} == {f"127.0.0.1:{apache.port}"}
    assert trusted[0][0] == f"trusted.test:{apache.trusted_port}"
    assert trusted[0][1] == 1
    assert [c for _, c, _ in main + main_again] == [1, 2, 3]


def test_host_application_group_follows_the_host_header(apache):
    port = apache.port
    one = counts(apache, "/group-host/index.html", 2, headers={"Host": f"one.test:{port}"})
    two = counts(apache, "/group-host/index.html", 1, headers={"Host": "two.test"})
    one_again = counts(apache, "/group-host/index.html", 1, headers={"Host": f"ONE.test:{port}"})
    assert {g for g, _, _ in one} == {f"one.test:{port}"}
    # The port is the one the connection arrived on, whatever the Host
    # header says (80 and 443 are left out).
    assert two == [(f"two.test:{port}", 1, two[0][2])]
    # httpd lower-cases the host name: the same instance.
    assert one_again[0][0] == f"one.test:{port}"
    assert [c for _, c, _ in one + one_again] == [1, 2, 3]


def test_host_application_group_is_a_name_of_the_virtual_host(apache):
    """A Host header the virtual host was not configured with (no
    ServerName or ServerAlias of it) gets the ServerName's group, and a
    port in the Host header never makes another group."""
    port = apache.port
    main = f"127.0.0.1:{port}"
    before = len(apache.error_lines("AUTHNZ_WSGI0083"))
    strangers = [counts(apache, "/group-host/index.html", 1, headers={"Host": host})[0]
                 for host in ("stranger.test", f"other.test:{port}", "one.test:1", "one.test:2")]
    assert [g for g, _, _ in strangers] == [main, main, f"one.test:{port}", f"one.test:{port}"]
    assert len(apache.error_lines("AUTHNZ_WSGI0083")) == before + 2
    assert "'stranger.test' is not a name of this virtual host" in \
        apache.error_lines("AUTHNZ_WSGI0083")[before]


def test_a_script_runs_in_a_bounded_number_of_application_groups():
    """Host names a wildcard ServerAlias admits are each a group: past 64
    groups of one script a new one is refused (403 from the access script,
    one log line), and the groups already loaded keep working."""
    server = Apache(name="group-bound", server_conf="StartServers 1\nServerLimit 1\n")
    server.server_conf += (f"<VirtualHost 127.0.0.1:{server.port}>\n  ServerName 127.0.0.1\n"
                           "  ServerAlias *.wild.test\n</VirtualHost>\n")
    script = server.write_script("groups.py", """
def allow_access(environ, host):
    record(group=environ["mod_wsgi.application_group"])
    return True
""")
    server.site_conf = f"""
    <Location /wild>
      WSGIAccessScript "{script}" application-group=%{{HOST}}
    </Location>
    """
    (server.docroot / "wild").mkdir()
    (server.docroot / "wild" / "index.html").write_text("wild\n")
    try:
        server.start()
        statuses = [server.request("/wild/index.html", headers={"Host": f"h{i}.wild.test"}).status
                    for i in range(70)]
        assert statuses == [200] * 64 + [403] * 6
        assert len(server.records()) == 64
        assert len({r["group"] for r in server.records()}) == 64
        refused = server.error_lines("AUTHNZ_WSGI0084")
        assert len(refused) == 6
        assert "already runs in 64 application groups" in refused[0]
        assert f"'h64.wild.test:{server.port}' is refused" in refused[0]
        assert server.request("/wild/index.html", headers={"Host": "h3.wild.test"}).status == 200
    finally:
        server.cleanup()


# ---- AuthnProviderAlias ----------------------------------------------------------------

def test_provider_alias_uses_its_own_script(apache):
    out = call(apache, "/alias/index.html", user="sam", password="sam-pw")
    assert out.status == 200 and out.entry["user"] == "sam"
    assert out.alias == [{"script": "staff", "user": "sam"}]


def test_provider_alias_chain_falls_through_on_none(apache):
    out = call(apache, "/alias/index.html", user="pat", password="pat-pw")
    assert out.status == 200 and out.entry["user"] == "pat"
    assert out.alias == [
        {"script": "staff", "user": "pat"},
        {"script": "partners", "user": "pat"},
    ]


def test_provider_alias_false_stops_the_chain(apache):
    # staff-db knows sam: a wrong password there is final, partners-db
    # (where "other-pw" would be right) is not asked.
    out = call(apache, "/alias/index.html", user="sam", password="other-pw")
    assert out.status == 401 and out.entry["status"] == 401
    assert out.alias == [{"script": "staff", "user": "sam"}]


def test_provider_alias_unknown_everywhere_is_401(apache):
    out = call(apache, "/alias/index.html", user="nobody", password="x")
    assert out.status == 401 and out.entry["status"] == 401
    assert [a["script"] for a in out.alias] == ["staff", "partners"]
    assert out.authn == []
    assert any("nobody" in l and "not found" in l for l in out.errors), out.errors


def test_alias_and_plain_provider_keep_their_scripts(apache):
    # The location's own WSGIAuthUserScript serves the plain `wsgi` provider.
    out = call(apache, "/alias-mixed/index.html", user="ann", password="pw")
    assert out.status == 200 and out.entry["user"] == "ann"
    assert out.alias == [{"script": "partners", "user": "ann"}]
    assert [a["user"] for a in out.authn] == ["ann"]
    out = call(apache, "/alias-mixed/index.html", user="pat", password="pat-pw")
    assert out.status == 200
    assert out.alias == [{"script": "partners", "user": "pat"}] and out.authn == []


def test_provider_alias_for_digest_with_its_own_application_group(apache):
    before = len(apache.records("alias"))
    resp = apache.open_with_handler("/alias-digest/", urllib.request.HTTPDigestAuthHandler,
                                    "pat", "pat-pw")
    assert resp.status == 200 and resp.body == b"/alias-digest page\n"
    assert apache.last_access(200)["user"] == "pat"
    calls = apache.records("alias")[before:]
    assert calls and all(c == {"script": "partners-digest", "user": "pat",
                               "group": "digest-partners"} for c in calls), calls
    resp = apache.open_with_handler("/alias-digest/", urllib.request.HTTPDigestAuthHandler,
                                    "pat", "wrong")
    assert resp.status == 401 and apache.last_access(401)["status"] == 401
    assert any("user pat: password mismatch" in l for l in apache.error_lines("auth_digest"))
