"""Answers remembered for one request must answer only the question they
were given (docs/authorization.md#groups-require-wsgi-group, docs/authorization.md#host-access-wsgiaccessscript-and-require-wsgi-host): `groups_for_user` is asked once per request
for each (script, application group, user), `allow_access` once per
(script, application group) — so `AuthzProviderAlias` sections that name
other scripts or groups are each asked — and a `Require wsgi-host` inside
`<Limit>`/`<LimitExcept>` stands the access-phase gate down only for the
methods it applies to."""

import http.client

import pytest

from harness import Apache, basic_header

USERS = """
def check_password(environ, user, password):
    return password == "pw"
"""

GROUPS = """
def groups_for_user(environ, user):
    record("groups", script={name!r}, user=user,
           application_group=environ["mod_wsgi.application_group"])
    return {groups!r}
"""

HOST = """
def allow_access(environ, host):
    record("host", script={name!r}, method=environ["REQUEST_METHOD"],
           uri=environ["REQUEST_URI"])
    return {verdict!r}
"""


@pytest.fixture(scope="module")
def apache():
    server = Apache(name="per-request", server_conf="StartServers 1\nServerLimit 1\n"
                    "LogLevel info authz_core:debug\n")
    users = server.write_script("users.py", USERS)
    staff = server.write_script("staff.py", GROUPS.format(name="staff", groups=["staff"]))
    nobody = server.write_script("nobody.py", GROUPS.format(name="nobody", groups=[]))
    allow = server.write_script("allow.py", HOST.format(name="allow", verdict=True))
    deny = server.write_script("deny.py", HOST.format(name="deny", verdict=False))
    basic = f"""AuthType Basic
      AuthName per-request
      AuthBasicProvider wsgi
      WSGIAuthUserScript "{users}"
    """
    server.server_conf += f"""
<AuthzProviderAlias wsgi-group staff-db staff>
  WSGIAuthGroupScript "{staff}"
</AuthzProviderAlias>
<AuthzProviderAlias wsgi-group staff-db-other staff>
  WSGIAuthGroupScript "{staff}" application-group=other
</AuthzProviderAlias>
<AuthzProviderAlias wsgi-group nobody-db staff>
  WSGIAuthGroupScript "{nobody}"
</AuthzProviderAlias>
<AuthzProviderAlias wsgi-host denying-host>
  WSGIAccessScript "{deny}"
</AuthzProviderAlias>
<AuthzProviderAlias wsgi-host allowing-host>
  WSGIAccessScript "{allow}"
</AuthzProviderAlias>
"""
    server.site_conf = f"""
    <Location /two-scripts>
      {basic}
      <RequireAll>
        Require staff-db
        Require nobody-db
      </RequireAll>
    </Location>
    <Location /two-groups>
      {basic}
      <RequireAll>
        Require staff-db
        Require staff-db-other
      </RequireAll>
    </Location>
    <Location /same-script>
      {basic}
      WSGIAuthGroupScript "{staff}"
      <RequireAll>
        Require staff-db
        Require wsgi-group staff
        Require wsgi-group staff other
      </RequireAll>
    </Location>
    <Location /gate-then-alias>
      WSGIAccessScript "{allow}"
      <RequireAll>
        Require all granted
        Require denying-host
      </RequireAll>
    </Location>
    <Location /two-host-aliases>
      <RequireAll>
        Require allowing-host
        Require denying-host
      </RequireAll>
    </Location>
    <Location /limit-post>
      WSGIAccessScript "{deny}"
      Require all granted
      <Limit POST>
        Require wsgi-host
      </Limit>
    </Location>
    <Location /limit-except-get>
      WSGIAccessScript "{deny}"
      Require all granted
      <LimitExcept GET>
        Require wsgi-host
      </LimitExcept>
    </Location>
    <Location /limit-allow>
      WSGIAccessScript "{allow}"
      <Limit POST>
        Require wsgi-host
      </Limit>
      <LimitExcept POST>
        Require all granted
      </LimitExcept>
    </Location>
    """
    for d in ("two-scripts", "two-groups", "same-script", "gate-then-alias",
              "two-host-aliases", "limit-post", "limit-except-get", "limit-allow"):
        (server.docroot / d).mkdir()
        (server.docroot / d / "index.html").write_text(f"{d}\n")
    server.start()
    yield server
    server.cleanup()


def send(server, method, path, auth=True):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {"Authorization": basic_header("ann", "pw")} if auth else {}
    conn.request(method, path, body=b"x" if method == "POST" else None, headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def authz_result(server, line, result):
    """mod_authz_core's debug line for one Require line's result."""
    return [l for l in server.error_lines("AH01626")
            if f"Require {line}" in l and l.endswith(f": {result}")]


def fresh(server):
    for name in ("groups", "host"):
        server.clear_records(name)


def test_require_all_of_two_group_scripts_asks_both(apache):
    fresh(apache)
    # A refused user is asked to log in again (no AuthzSendForbiddenOnFailure).
    assert send(apache, "GET", "/two-scripts/index.html") == 401
    assert [r["script"] for r in apache.records("groups")] == ["staff", "nobody"]
    assert authz_result(apache, "nobody-db", "denied")


def test_one_script_in_two_application_groups_is_asked_in_each(apache):
    fresh(apache)
    assert send(apache, "GET", "/two-groups/index.html") == 200
    asked = [(r["script"], r["application_group"]) for r in apache.records("groups")]
    assert asked == [("staff", ""), ("staff", "other")]


def test_the_same_script_and_group_is_asked_once_however_many_lines(apache):
    fresh(apache)
    assert send(apache, "GET", "/same-script/index.html") == 200
    assert [(r["script"], r["user"]) for r in apache.records("groups")] == [("staff", "ann")]


def test_a_denying_host_alias_is_asked_after_an_allowing_access_script(apache):
    fresh(apache)
    assert send(apache, "GET", "/gate-then-alias/index.html", auth=False) == 403
    assert [r["script"] for r in apache.records("host")] == ["allow", "deny"]
    assert authz_result(apache, "denying-host", "denied")


def test_two_host_aliases_are_each_asked(apache):
    fresh(apache)
    assert send(apache, "GET", "/two-host-aliases/index.html", auth=False) == 403
    assert [r["script"] for r in apache.records("host")] == ["allow", "deny"]


@pytest.mark.parametrize("path", ["/limit-post/", "/limit-except-get/"])
def test_a_limited_require_wsgi_host_keeps_the_gate_for_other_methods(apache, path):
    fresh(apache)
    before = len(apache.error_lines("client denied by allow_access"))
    assert send(apache, "GET", path + "index.html", auth=False) == 403
    assert [(r["script"], r["method"]) for r in apache.records("host")] == [("deny", "GET")]
    assert len(apache.error_lines("client denied by allow_access")) == before + 1


def test_the_limited_methods_are_left_to_require(apache):
    """POST at /limit-allow: the gate stands down and `Require wsgi-host`
    asks, and grants; GET: the gate asks, and `Require all granted` lets it
    through."""
    fresh(apache)
    assert send(apache, "POST", "/limit-allow/index.html", auth=False) == 200
    assert send(apache, "GET", "/limit-allow/index.html", auth=False) == 200
    assert [(r["script"], r["method"]) for r in apache.records("host")] == [
        ("allow", "POST"), ("allow", "GET")]
    assert authz_result(apache, "wsgi-host", "granted")
