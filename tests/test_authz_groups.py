"""Require wsgi-group and groups_for_user (docs/authorization.md#groups-require-wsgi-group): every accepted result
shape, ASCII case-insensitive matching, fail-closed errors with their log
lines, one Python call per request however many Require lines there are,
ap_expr arguments, and the docs/authorization.md#the-requireany-trap trap of a bare `Require wsgi-group` next
to `Require valid-user`."""

import pytest

from harness import Apache

PASSWORD = "group-pw"

# check_password accepts every user with PASSWORD ("renamed" becomes
# "alice-renamed"); groups_for_user answers by user name.
SCRIPT = """
import itertools

class Boom(Exception):
    pass

def _raise_after_match():
    yield "staff"
    raise Boom("iteration failed after the matching group")

class LazyGroups:
    # Like a database query set: the query runs when iteration starts.
    def __iter__(self):
        raise KeyError("database went away")

class OldSequence:
    # Iterable through __getitem__ only.
    def __getitem__(self, index):
        if index < 2:
            return ["other", "staff"][index]
        raise IndexError(index)

def _generator():
    yield "other"
    yield "staff"

RESULTS = {
    "list": lambda: ["other", "staff"],
    "tuple": lambda: ("staff",),
    "set": lambda: {"other", "staff"},
    "frozenset": lambda: frozenset(["staff"]),
    "dict": lambda: {"staff": "keys are the groups"},
    "generator": _generator,
    "sequence": OldSequence,
    "lazy-raise": LazyGroups,
    "bytes-items": lambda: [b"other", b"staff"],
    "mixed-case": lambda: ["sTaFf"],
    "not-member": lambda: ["other", "staffs", "staff "],
    "empty": lambda: [],
    "utf8-bytes": lambda: ["\\u00e9quipe".encode("utf-8")],
    "accented": lambda: ["\\u00e9quipe"],
    "accented-upper": lambda: ["\\u00c9QUIPE"],
    "str": lambda: "staff",
    "bytes": lambda: b"staff",
    "none": lambda: None,
    "int": lambda: 42,
    "nonstring-item": lambda: ["staff", 7],
    "none-item": lambda: [None],
    "control": lambda: ["staff", "bad\\x1bname"],
    "newline": lambda: ["bad\\nname", "staff"],
    "raise-mid": _raise_after_match,
    # an iterator that runs in C and never ends
    "endless": lambda: map(str, itertools.count()),
    "endless-after-staff": lambda: itertools.chain(["staff"], map(str, itertools.count())),
    # mod_wsgi's own examples answer [''] for "no groups"
    "empty-name": lambda: [""],
    "empty-name-and-staff": lambda: ["", "staff"],
    # nested containers
    "admin": lambda: ["admins"],
    "editor": lambda: ["Editors"],
    "webteam": lambda: ["WEB TEAM"],
    "banned-editor": lambda: ["editors", "banned"],
    "nobody": lambda: [],
    # the trap
    "insider": lambda: ["x"],
    "outsider": lambda: ["y"],
    # expressions
    "get-team": lambda: ["GET-team"],
    "alpha": lambda: ["alpha-members"],
    "renamed": lambda: ["renamed-group"],
    "alice-renamed": lambda: ["renamed-group"],
}

def check_password(environ, user, password):
    record("authn", user=user)
    if password != "%s":
        return False
    if user == "renamed":
        return "alice-renamed"
    return True

def groups_for_user(environ, user):
    record("groups", user=user, uri=environ["REQUEST_URI"], method=environ["REQUEST_METHOD"])
    if user == "raise":
        raise Boom("groups_for_user failed")
    if user == "jos\\u00e9":
        return ["staff"]
    return RESULTS[user]()
""" % PASSWORD

NO_FUNCTION_SCRIPT = """
def check_password(environ, user, password):
    return True
"""

AUTH = """
  AuthType Basic
  AuthName "groups"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
"""

# httpd answers an authenticated user whom authorization refuses with 401
# (ask again) unless AuthzSendForbiddenOnFailure is On; every location but
# /staff-401 turns it on so that refusals are told apart from challenges.
FORBIDDEN = "  AuthzSendForbiddenOnFailure On\n"

LOCATIONS = {
    # `Require wsgi-group` alone: no user yet means 401, then the group decides.
    "/staff": 'WSGIAuthGroupScript "{script}"\n  Require wsgi-group staff',
    "/staff-401": 'WSGIAuthGroupScript "{script}"\n  Require wsgi-group staff',
    "/accent": 'WSGIAuthGroupScript "{script}"\n  Require wsgi-group \u00e9quipe',
    "/quoted": 'WSGIAuthGroupScript "{script}"\n  Require wsgi-group admins "web team"',
    "/nested": """WSGIAuthGroupScript "{script}"
  <RequireAll>
    Require valid-user
    <RequireAny>
      Require wsgi-group admins
      Require wsgi-group "web team" editors
    </RequireAny>
    <RequireNone>
      Require wsgi-group banned
    </RequireNone>
  </RequireAll>""",
    # docs/authorization.md#the-requireany-trap: several Require lines outside a container mean "any of them".
    "/trap-any": """WSGIAuthGroupScript "{script}"
  Require valid-user
  Require wsgi-group x""",
    "/trap-all": """WSGIAuthGroupScript "{script}"
  <RequireAll>
    Require valid-user
    Require wsgi-group x
  </RequireAll>""",
    "/trap-alone": 'WSGIAuthGroupScript "{script}"\n  Require wsgi-group x',
    # ap_expr arguments, evaluated per request.
    "/method": 'WSGIAuthGroupScript "{script}"\n  Require wsgi-group %{{REQUEST_METHOD}}-team',
    "/header": 'WSGIAuthGroupScript "{script}"\n  Require wsgi-group "%{{HTTP:X-Project}}-members"',
    "/header-only": 'WSGIAuthGroupScript "{script}"\n  Require wsgi-group %{{HTTP:X-Team}}',
    "/expr-error": 'WSGIAuthGroupScript "{script}"\n  Require wsgi-group %{{file:{missing}}}',
    # Misconfigurations.
    "/no-group-script": "Require wsgi-group staff",
    "/no-function": 'WSGIAuthGroupScript "{nofunc}"\n  Require wsgi-group staff',
}


@pytest.fixture(scope="module")
def apache():
    server = Apache(name="groups")
    script = server.write_script("groups.py", SCRIPT)
    nofunc = server.write_script("nofunc.py", NO_FUNCTION_SCRIPT)
    blocks = []
    for path, body in LOCATIONS.items():
        body = body.format(script=script, nofunc=nofunc, missing=server.dir / "no-such-file")
        forbidden = "" if path == "/staff-401" else FORBIDDEN
        # A <Location> with `Require wsgi-group` and no group script fails
        # start-up (test_auth_setup_checks.py); a regex section cannot be
        # judged then, so the request-time error is tested here.
        section = ("LocationMatch", f'"^{path}/"') if path == "/no-group-script" \
            else ("Location", path)
        blocks.append(
            f"<{section[0]} {section[1]}>\n{AUTH.format(script=script)}{forbidden}  {body}\n"
            f"</{section[0]}>\n"
        )
        (server.docroot / path.strip("/")).mkdir()
        (server.docroot / path.strip("/") / "index.html").write_text(f"{path} page\n")
    server.site_conf = "\n".join(blocks)
    server.start()
    yield server
    server.cleanup()


class Outcome:
    def __init__(self, resp, entry, groups_calls, authn_calls, errors):
        self.resp = resp
        self.status = resp.status
        self.entry = entry
        self.groups_calls = groups_calls
        self.authn_calls = authn_calls
        self.errors = errors

    def tagged(self, tag):
        return [l for l in self.errors if tag in l]


def call(apache, path, user=None, password=PASSWORD, method="GET", headers=None):
    """One request; returns what the client, the access log, Python and the
    error log saw for it."""
    groups_before = len(apache.records("groups"))
    authn_before = len(apache.records("authn"))
    errors_before = len(apache.error_log().splitlines())
    if user is None:
        resp = apache.request(path, headers=headers, method=method)
    else:
        resp = apache.get_basic(path, user, password, method=method, headers=headers)
    entry = apache.access_entry(resp)
    errors = apache.error_log().splitlines()[errors_before:]
    return Outcome(
        resp,
        entry,
        apache.records("groups")[groups_before:],
        apache.records("authn")[authn_before:],
        errors,
    )


def module_errors(outcome):
    return [l for l in outcome.errors if "AUTHNZ_WSGI" in l and ":error]" in l]


# ---- results that grant -------------------------------------------------------------

@pytest.mark.parametrize(
    "user",
    ["list", "tuple", "set", "frozenset", "dict", "generator", "sequence", "bytes-items",
     "mixed-case", "empty-name-and-staff"],
)
def test_iterable_results_grant(apache, user):
    out = call(apache, "/staff/index.html", user)
    assert out.status == 200
    assert out.resp.body == b"/staff page\n"
    assert out.entry["status"] == 200 and out.entry["user"] == user
    assert out.groups_calls == [{"user": user, "uri": "/staff/index.html", "method": "GET"}]
    assert module_errors(out) == []


def test_required_group_is_matched_case_insensitively(apache):
    # The Require line says "web team"; the script says "WEB TEAM".
    out = call(apache, "/quoted/index.html", "webteam")
    assert out.status == 200 and out.entry["user"] == "webteam"
    assert len(out.groups_calls) == 1


def test_case_folding_is_ascii_only(apache):
    # UTF-8 bytes and the same str both match "\u00e9quipe" ...
    for user in ("utf8-bytes", "accented"):
        out = call(apache, "/accent/index.html", user)
        assert out.status == 200, user
        assert out.entry["status"] == 200 and len(out.groups_calls) == 1
    # ... but "\u00c9" is not an ASCII letter: no Unicode case folding.
    out = call(apache, "/accent/index.html", "accented-upper")
    assert out.status == 403 and out.entry["status"] == 403
    assert len(out.groups_calls) == 1
    assert module_errors(out) == []


def test_non_ascii_user_name_reaches_groups_for_user(apache):
    out = call(apache, "/staff/index.html", "jos\u00e9".encode("utf-8"))
    assert out.status == 200
    assert out.groups_calls == [
        {"user": "jos\u00e9", "uri": "/staff/index.html", "method": "GET"}
    ]
    assert out.authn_calls == [{"user": "jos\u00e9"}]


def test_renamed_user_is_what_groups_for_user_receives(apache):
    out = call(apache, "/staff/index.html", "renamed")
    # check_password renamed the user: the group check sees the new name,
    # whose groups do not include "staff".
    assert out.status == 403
    assert out.entry["user"] == "alice-renamed"
    assert [c["user"] for c in out.groups_calls] == ["alice-renamed"]


def test_directory_index_calls_groups_for_user_once(apache):
    out = call(apache, "/staff/", "list")
    assert out.status == 200 and out.resp.body == b"/staff page\n"
    assert out.entry["status"] == 200 and out.entry["user"] == "list"
    assert out.groups_calls == [{"user": "list", "uri": "/staff/", "method": "GET"}]


# ---- refusals ------------------------------------------------------------------------

@pytest.mark.parametrize("user", ["not-member", "empty", "empty-name"])
def test_not_in_group_is_403(apache, user):
    out = call(apache, "/staff/index.html", user)
    assert out.status == 403
    assert out.entry["status"] == 403 and out.entry["user"] == user
    assert len(out.groups_calls) == 1
    # httpd's own refusal line, and nothing from the module at error level.
    assert any("authorization failure" in l and user in l for l in out.errors), out.errors
    assert module_errors(out) == []


def test_refusal_without_authz_send_forbidden_is_401(apache):
    # httpd's default: a refused, authenticated user is challenged again.
    out = call(apache, "/staff-401/index.html", "not-member")
    assert out.status == 401
    assert out.resp.headers.get("WWW-Authenticate") == 'Basic realm="groups"'
    assert out.entry["status"] == 401 and out.entry["user"] == "not-member"
    assert len(out.groups_calls) == 1
    assert any("authorization failure" in l for l in out.errors), out.errors
    assert module_errors(out) == []
    assert call(apache, "/staff-401/index.html", "list").status == 200


def test_no_credentials_is_401_without_calling_python(apache):
    out = call(apache, "/staff/index.html")
    assert out.status == 401
    assert out.resp.headers.get("WWW-Authenticate") == 'Basic realm="groups"'
    assert out.entry["status"] == 401 and out.entry["user"] == "-"
    assert out.groups_calls == [] and out.authn_calls == []
    assert module_errors(out) == []


def test_wrong_password_is_401_without_group_lookup(apache):
    out = call(apache, "/staff/index.html", "list", "wrong")
    assert out.status == 401 and out.entry["status"] == 401
    assert out.authn_calls == [{"user": "list"}]
    assert out.groups_calls == []


# ---- fail closed -----------------------------------------------------------------------

@pytest.mark.parametrize(
    "user,described",
    [
        ("str", "groups_for_user returned a single str instead of an iterable"),
        ("bytes", "groups_for_user returned a single bytes instead of an iterable"),
        ("none", "not NoneType"),
        ("int", "not int"),
        ("nonstring-item", "yielded an item of type int"),
        ("none-item", "yielded an item of type NoneType"),
        ("control", "unusable group name"),
        ("newline", "unusable group name"),
    ],
)
def test_bad_results_are_500_with_one_log_line(apache, user, described):
    out = call(apache, "/staff/index.html", user)
    assert out.status == 500
    assert out.entry["status"] == 500 and out.entry["user"] == user
    assert len(out.groups_calls) == 1
    lines = out.tagged("AUTHNZ_WSGI0031")
    assert len(lines) == 1, out.errors
    assert described in lines[0]
    assert "[client 127.0.0.1:" in lines[0]
    # The line names the script that returned it.
    assert f"AUTHNZ_WSGI0031: script '{apache.scripts}/groups.py': groups_for_user " in lines[0]
    assert module_errors(out) == lines


@pytest.mark.parametrize("user", ["endless", "endless-after-staff"])
def test_a_result_that_never_ends_is_read_up_to_a_bound_and_refused(apache, user):
    out = call(apache, "/staff/index.html", user)
    assert out.status == 500
    assert out.entry["status"] == 500 and out.entry["user"] == user
    assert len(out.groups_calls) == 1
    lines = out.tagged("AUTHNZ_WSGI0082")
    assert len(lines) == 1, out.errors
    assert "groups_for_user yielded more than 10000 items; refused" in lines[0]
    assert module_errors(out) == lines


def test_exception_from_groups_for_user_is_500_with_traceback(apache):
    out = call(apache, "/staff/index.html", "raise")
    assert out.status == 500 and out.entry["status"] == 500
    assert len(out.groups_calls) == 1
    lines = out.tagged("AUTHNZ_WSGI0042")
    assert "groups_for_user() in" in lines[0]
    assert "Boom: groups_for_user failed" in lines[0]
    assert any("line " in l for l in lines[1:]), lines


def test_exception_after_the_matching_group_is_500(apache):
    # "staff" was yielded before the generator raised: granting on what was
    # seen so far would be fail-open (mod_wsgi does that).
    out = call(apache, "/staff/index.html", "raise-mid")
    assert out.status == 500 and out.entry["status"] == 500
    assert len(out.groups_calls) == 1
    lines = out.tagged("AUTHNZ_WSGI0032")
    assert "iterating the result of groups_for_user raised" in lines[0]
    assert "Boom: iteration failed after the matching group" in lines[0]
    assert any("_raise_after_match" in l for l in lines[1:]), lines


def test_exception_when_iteration_starts_is_500(apache):
    out = call(apache, "/staff/index.html", "lazy-raise")
    assert out.status == 500 and out.entry["status"] == 500
    assert len(out.groups_calls) == 1
    assert len(module_errors(out)) >= 1


def test_exception_when_iteration_starts_is_reported_with_traceback(apache):
    out = call(apache, "/staff/index.html", "lazy-raise")
    assert out.status == 500
    lines = out.tagged("AUTHNZ_WSGI0032")
    assert lines and "KeyError: 'database went away'" in lines[0]
    assert any("in __iter__" in l for l in lines[1:]), lines
    assert out.tagged("AUTHNZ_WSGI0031") == []


def test_location_without_group_script_is_500(apache):
    out = call(apache, "/no-group-script/index.html", "list")
    assert out.status == 500 and out.entry["status"] == 500
    assert out.groups_calls == []
    lines = out.tagged("AUTHNZ_WSGI0030")
    assert len(lines) == 1 and "no WSGIAuthGroupScript applies" in lines[0]


def test_script_without_groups_for_user_is_500(apache):
    out = call(apache, "/no-function/index.html", "list")
    assert out.status == 500 and out.entry["status"] == 500
    lines = apache.error_lines("AUTHNZ_WSGI0021")
    assert lines and all("groups_for_user is not defined" in l for l in lines), lines


# ---- several Require lines -------------------------------------------------------------

@pytest.mark.parametrize(
    "user,status",
    [
        ("admin", 200),          # first wsgi-group line
        ("editor", 200),         # second line, second word
        ("webteam", 200),        # second line, quoted first word
        ("banned-editor", 403),  # RequireNone line
        ("nobody", 403),
    ],
)
def test_nested_containers_each_line_keeps_its_arguments(apache, user, status):
    out = call(apache, "/nested/index.html", user)
    assert out.status == status
    assert out.entry["status"] == status and out.entry["user"] == user
    # Up to three wsgi-group lines were evaluated; Python was asked once.
    assert out.groups_calls == [{"user": user, "uri": "/nested/index.html", "method": "GET"}]
    assert module_errors(out) == []


def test_each_request_asks_again(apache):
    first = call(apache, "/nested/index.html", "admin")
    second = call(apache, "/nested/index.html", "admin")
    assert first.status == second.status == 200
    assert len(first.groups_calls) == len(second.groups_calls) == 1


# ---- ap_expr arguments -----------------------------------------------------------------

def test_expression_with_request_method(apache):
    get = call(apache, "/method/index.html", "get-team")
    assert get.status == 200 and get.entry["status"] == 200
    assert get.groups_calls[0]["method"] == "GET"
    # HEAD needs group "HEAD-team", which the user lacks.
    head = call(apache, "/method/index.html", "get-team", method="HEAD")
    assert head.status == 403 and head.entry["status"] == 403
    assert head.entry["method"] == "HEAD"
    assert [c["method"] for c in head.groups_calls] == ["HEAD"]


def test_expression_with_request_header(apache):
    ok = call(apache, "/header/index.html", "alpha", headers={"X-Project": "alpha"})
    assert ok.status == 200
    other = call(apache, "/header/index.html", "alpha", headers={"X-Project": "beta"})
    assert other.status == 403
    assert len(ok.groups_calls) == len(other.groups_calls) == 1


def test_expression_that_evaluates_to_nothing_is_500(apache):
    out = call(apache, "/header-only/index.html", "alpha")
    assert out.status == 500 and out.entry["status"] == 500
    assert out.groups_calls == []
    lines = out.tagged("AUTHNZ_WSGI0036")
    assert len(lines) == 1 and "evaluated to no group names" in lines[0]


def test_expression_evaluation_error_is_500(apache):
    out = call(apache, "/expr-error/index.html", "list")
    assert out.status == 500 and out.entry["status"] == 500
    assert out.groups_calls == []
    lines = out.tagged("AUTHNZ_WSGI0033")
    assert len(lines) == 1
    assert "cannot evaluate the Require wsgi-group arguments" in lines[0]


# ---- docs/authorization.md#the-requireany-trap: the recipe that admits everybody -----------------------------------------

def test_bare_wsgi_group_next_to_valid_user_admits_every_valid_user(apache):
    """Two Require lines outside a container are an implicit <RequireAny>:
    `Require valid-user` alone grants, and the group is never even asked."""
    for user in ("insider", "outsider"):
        out = call(apache, "/trap-any/index.html", user)
        assert out.status == 200, user
        assert out.entry["status"] == 200 and out.entry["user"] == user
        assert out.groups_calls == []
    # The same user is refused where the group really is required.
    for path in ("/trap-all/index.html", "/trap-alone/index.html"):
        out = call(apache, path, "outsider")
        assert out.status == 403, path
        assert out.entry["status"] == 403
        assert [c["user"] for c in out.groups_calls] == ["outsider"]
        out = call(apache, path, "insider")
        assert out.status == 200, path
        assert len(out.groups_calls) == 1
    # Without credentials every variant asks for them.
    for path in ("/trap-any/", "/trap-all/", "/trap-alone/"):
        assert call(apache, path).status == 401
    # Start-up warned about exactly that section, and no other (docs/authorization.md#the-requireany-trap).
    (warning,) = apache.error_lines("AUTHNZ_WSGI0103")
    assert warning.split("AUTHNZ_WSGI0103: ", 1)[1].startswith("<Location /trap-any> (")


# ---- configuration ---------------------------------------------------------------------

def test_require_wsgi_group_without_a_group_is_a_config_error():
    server = Apache(name="groups-conf")
    try:
        included = server.dir / "groups-site.conf"
        included.write_text(
            "<Location /x>\n"
            "  AuthType Basic\n"
            '  AuthName "x"\n'
            "  Require wsgi-group\n"
            "</Location>\n"
        )
        server.site_conf = f'Include "{included}"\n'
        code, output = server.configtest()
        assert code != 0
        assert f"line 4 of {included}" in output
        assert "Require wsgi-group needs at least one group name" in output
    finally:
        server.cleanup()
