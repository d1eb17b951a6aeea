"""Options of the script directives as mod_wsgi accepts them (docs/directives.md):
the value of `application-group=` may be quoted ('...' or "..."), as
mod_wsgi reads it (the option's name up to `=`, then one word with httpd's
quoting); `%{RESOURCE}` and `%{ENV:NAME}` are kept as the literal group
name, as mod_wsgi's `wsgi_server_group` keeps them for auth scripts, so no
request variable (here one `SetEnvIf` takes from a request header) chooses
the group. Each form is checked by what the script saw in
`environ['mod_wsgi.application_group']` and which module instance ran; bad
forms fail `apache2 -t` naming file, line and what to write instead."""

import re

import pytest

from harness import Apache, basic_header

SCRIPT = """
import sys

CALLS = {"n": 0}

def _seen(environ, function, **extra):
    CALLS["n"] += 1
    record(function=function, uri=environ["REQUEST_URI"],
           group=environ["mod_wsgi.application_group"], module=__name__,
           calls=CALLS["n"], **extra)

def check_password(environ, user, password):
    _seen(environ, "check_password", user=user)
    return True

def groups_for_user(environ, user):
    _seen(environ, "groups_for_user", user=user)
    return ["staff"]

def allow_access(environ, host):
    _seen(environ, "allow_access")
    return True
"""

# path -> (the options written after the script path, the group expected)
FORMS = {
    "/plain": ("", ""),
    "/single-global": ("application-group='%{GLOBAL}'", ""),
    "/double-global": ('application-group="%{GLOBAL}"', ""),
    "/double-server": ('application-group="%{SERVER}"', "SERVER"),
    "/single-host": ("application-group='%{HOST}'", "SERVER"),
    "/resource": ("application-group=%{RESOURCE}", "%{RESOURCE}"),
    "/resource-quoted": ("application-group='%{RESOURCE}'", "%{RESOURCE}"),
    "/env": ("application-group=%{ENV:AUTH_GROUP}", "%{ENV:AUTH_GROUP}"),
    "/words": ('application-group="two words"', "two words"),
    "/escaped": (r"application-group='it\'s'", "it's"),
    "/named": ("application-group=site1", "site1"),
}


def user_location(path, options, script):
    return f"""
<Location {path}>
  AuthType Basic
  AuthName "options"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}" {options}
  Require valid-user
</Location>
"""


@pytest.fixture(scope="module")
def apache():
    # At server level SetEnvIf runs before authentication (in a section it
    # would run after it), so AUTH_GROUP is set when the script is called.
    server = Apache(name="options", modules=["setenvif"],
                    server_conf='StartServers 1\nServerLimit 1\n'
                                'SetEnvIf X-Group "(.+)" AUTH_GROUP=$1\n')
    script = server.write_script("opts.py", SCRIPT)
    site = [user_location(path, options, script) for path, (options, _) in FORMS.items()]
    # The other two directives read their options the same way.
    site.append(f"""
<Location /group-quoted>
  AuthType Basic
  AuthName "options"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  WSGIAuthGroupScript "{script}" application-group="group script"
  Require wsgi-group staff
</Location>
<Location /access-quoted>
  WSGIAccessScript "{script}" application-group='%{{RESOURCE}}'
  Require all granted
</Location>
""")
    server.site_conf = "".join(site)
    server.start()
    yield server
    server.cleanup()


def get(apache, path, **headers):
    apache.clear_records()
    headers["Authorization"] = basic_header("alice", "pw")
    resp = apache.request(path + "/", headers=headers)
    return resp.status, apache.records()


@pytest.mark.parametrize("path", list(FORMS))
def test_each_accepted_form_names_the_expected_group(apache, path):
    expected = FORMS[path][1]
    if expected == "SERVER":
        expected = f"127.0.0.1:{apache.port}"
    status, records = get(apache, path)
    # No index file in these directories: authentication passed when the
    # answer is 404 rather than 401 or 500.
    assert status == 404
    assert apache.last_access(404)["user"] == "alice"
    assert [(r["function"], r["group"]) for r in records] == [("check_password", expected)]


def test_quoted_global_is_the_global_module_instance(apache):
    modules = {path: get(apache, path)[1][0]["module"]
               for path in ("/plain", "/single-global", "/double-global")}
    assert len(set(modules.values())) == 1, modules
    assert get(apache, "/resource")[1][0]["module"] == get(apache, "/resource-quoted")[1][0]["module"]
    assert get(apache, "/named")[1][0]["module"] not in modules.values()


def test_env_group_is_not_chosen_by_the_request(apache):
    """`SetEnvIf X-Group` puts a client-chosen value into AUTH_GROUP; the
    group stays the literal text for every request, and one module instance
    serves them all."""
    seen = []
    for value in ("evil-1", "evil-2", "evil-3"):
        status, records = get(apache, "/env", **{"X-Group": value})
        assert status == 404
        seen.extend(records)
    assert {r["group"] for r in seen} == {"%{ENV:AUTH_GROUP}"}
    assert len({r["module"] for r in seen}) == 1
    calls = [r["calls"] for r in seen]
    assert calls == sorted(calls) and len(set(calls)) == 3
    loads = [l for l in apache.error_lines("AUTHNZ_WSGI0024") if "%{ENV:AUTH_GROUP}" in l]
    assert len(loads) == 1, loads


def test_group_and_access_scripts_take_quoted_values(apache):
    status, records = get(apache, "/group-quoted")
    assert status == 404
    assert [(r["function"], r["group"]) for r in records] == [
        ("check_password", ""), ("groups_for_user", "group script")]
    apache.clear_records()
    assert apache.request("/access-quoted/").status == 404
    assert [(r["function"], r["group"]) for r in apache.records()] == [
        ("allow_access", "%{RESOURCE}")]


# ---- forms apache2 -t refuses ------------------------------------------------------------

@pytest.fixture(scope="module")
def checked():
    srv = Apache(name="options-check")
    srv.script = srv.write_script("opts.py", SCRIPT)
    yield srv
    srv.cleanup()


def refused(server, options, directive="WSGIAuthUserScript"):
    """`apache2 -t` with `directive script options` in a <Location>: the
    message httpd printed after "Syntax error on line N of FILE:", once N
    and FILE were checked to be the directive's own line and file."""
    line = f'{directive} "{server.script}" {options}'
    server.site_conf = user_location("/x", options, server.script).replace(
        f'WSGIAuthUserScript "{server.script}" {options}', line)
    code, output = server.configtest()
    assert code != 0, output
    lines = server.conf_path.read_text().splitlines()
    expected_line = next(i for i, l in enumerate(lines, 1) if l.strip() == line)
    m = re.search(r"Syntax error on line (\d+) of (\S+):\n(.*)", output)
    assert m, output
    assert (int(m.group(1)), m.group(2)) == (expected_line, str(server.conf_path)), output
    assert m.group(3).startswith(directive + ": "), output
    return m.group(3)


@pytest.mark.parametrize("options, expected", [
    ("application-group=", ["application-group= needs a value", "write %{GLOBAL}"]),
    ("application-group=''", ["application-group= needs a value", "write %{GLOBAL}"]),
    ("application-group=%{global}", ["application-group=%{global}", "write %{GLOBAL}",
                                     "upper case"]),
    ("application-group=%{ENV:}", ["application-group=%{ENV:}", "%{ENV:NAME}"]),
    ("process-group=", ["process-group= needs the name of a WSGIAuthDaemonProcess"]),
    ("process-group='a b'", ["process-group= needs the name of a WSGIAuthDaemonProcess"]),
    ("Process-Group=x", ["'Process-Group'", "write process-group=NAME"]),
    ("pass-authorization=On", ["'pass-authorization'", "remove it"]),
    ("Application-Group=x", ["'Application-Group'", "write application-group=NAME"]),
    ('"application-group=a b"', ["quote the value, not the option",
                                 'application-group="VALUE"']),
    ("application-group", ["malformed option 'application-group'", "name=value"]),
    ("colour=blue", ["unknown option 'colour'",
                     "the options are application-group=NAME and process-group=NAME"]),
])
@pytest.mark.parametrize("directive", ["WSGIAuthUserScript", "WSGIAuthGroupScript",
                                       "WSGIAccessScript"])
def test_bad_forms_fail_configtest_saying_what_to_write(checked, directive, options, expected):
    message = refused(checked, options, directive)
    for part in expected:
        assert part in message, message


def test_the_accepted_forms_pass_configtest(checked):
    """The control case of the test above: the same section with each good
    form is accepted."""
    checked.site_conf = "".join(user_location(f"/p{i}", options, checked.script)
                                for i, (options, _) in enumerate(FORMS.values()))
    code, output = checked.configtest()
    assert code == 0 and "Syntax OK" in output, output
