"""Basic authentication through check_password (docs/python-contract.md#check_password-basic): every row of the
result table, provider chaining, and DirectoryIndex calling Python once."""

import re
import subprocess
import urllib.request

import pytest

from harness import Apache

SCRIPT = """
RESULTS = {
    "none": None,
    "true": True,
    "false": False,
    "renamed": "alice-renamed",
    "empty": "",
    "bytes": b"alice",
    "int": 1,
    "list": ["alice"],
    "newline": "bad\\nname",
    "nul": "bad\\x00name",
    "control": "bad\\x1bname",
}

def check_password(environ, user, password):
    record(user=user, password=password, uri=environ["REQUEST_URI"])
    if user == "raise":
        raise ValueError("boom from the script")
    if user == "leak-int":
        return int(password) > 0
    if user == "leak-key":
        raise KeyError(password)
    if user == "leak-bytes":
        raise ValueError(password.encode(), password.encode("latin-1"))
    if user == "leak-short":
        # Short passwords are digits and letters found in any message.
        return [1, 2][int(password) + 5]
    if user == "index":
        return password == "index-pw"
    return RESULTS.get(user)
"""

NO_FUNCTION_SCRIPT = """
def get_realm_hash(environ, user, realm):
    return None
"""

PASSWORD = "s3cret-pass"


@pytest.fixture(scope="module")
def apache():
    server = Apache(
        name="basic",
        modules=["authn_file", "cgi"],
        site_conf="""
        <Directory "@DIR@/cgi">
          Options +ExecCGI
          SetHandler cgi-script
          Require all granted
        </Directory>
        Alias /whoami "@DIR@/cgi"
        <Location /whoami>
          AuthType Basic
          AuthName "whoami"
          AuthBasicProvider wsgi
          WSGIAuthUserScript "@SCRIPTS@/results.py"
          Require valid-user
        </Location>
        <Location /basic>
          AuthType Basic
          AuthName "basic"
          AuthBasicProvider wsgi
          WSGIAuthUserScript "@SCRIPTS@/results.py"
          Require valid-user
        </Location>
        <Location /chain>
          AuthType Basic
          AuthName "chain"
          AuthBasicProvider wsgi file
          AuthUserFile "@DIR@/htpasswd"
          WSGIAuthUserScript "@SCRIPTS@/results.py"
          Require valid-user
        </Location>
        <Location /private>
          AuthType Basic
          AuthName "private"
          AuthBasicProvider wsgi
          WSGIAuthUserScript "@SCRIPTS@/results.py"
          Require valid-user
        </Location>
        <Location /nofunc>
          AuthType Basic
          AuthName "nofunc"
          AuthBasicProvider wsgi
          WSGIAuthUserScript "@SCRIPTS@/nofunc.py"
          Require valid-user
        </Location>
        <Location /noscript>
          AuthType Basic
          AuthName "noscript"
          AuthBasicProvider wsgi
          Require valid-user
        </Location>
        """,
    )
    server.site_conf = server.site_conf.replace("@SCRIPTS@", str(server.scripts)).replace(
        "@DIR@", str(server.dir)
    )
    server.write_script("results.py", SCRIPT)
    cgi = server.dir / "cgi"
    cgi.mkdir()
    (cgi / "env.cgi").write_text(
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
        "printf 'REMOTE_USER=%s AUTH_TYPE=%s\\n' \"$REMOTE_USER\" \"$AUTH_TYPE\"\n")
    (cgi / "env.cgi").chmod(0o755)
    server.write_script("nofunc.py", NO_FUNCTION_SCRIPT)
    for d in ("basic", "chain", "nofunc", "noscript"):
        (server.docroot / d).mkdir()
        (server.docroot / d / "index.html").write_text(f"{d} page\n")
    # The file provider knows "none" and "false": it decides only when Python
    # answers None (user not found), never after False.
    htpasswd = server.dir / "htpasswd"
    for user in ("none", "false"):
        subprocess.run(
            ["htpasswd", "-b", "-B", "-C", "4", *(["-c"] if user == "none" else []),
             str(htpasswd), user, PASSWORD],
            check=True, capture_output=True,
        )
    htpasswd.chmod(0o644)
    server.start()
    yield server
    server.cleanup()


def request(apache, path, user, password=PASSWORD):
    before_calls = len(apache.records())
    resp = apache.get_basic(path, user, password)
    entry = apache.access_entry(resp)
    calls = apache.records()[before_calls:]
    return resp, entry, calls


@pytest.mark.parametrize(
    "user,status,logged_user",
    [
        ("none", 401, "none"),
        ("true", 200, "true"),
        ("false", 401, "false"),
        ("renamed", 200, "alice-renamed"),
    ],
)
def test_result_rows(apache, user, status, logged_user):
    errors_before = len(apache.error_lines("AUTHNZ_WSGI"))
    resp, entry, calls = request(apache, "/basic/index.html", user)
    assert resp.status == status
    assert entry["status"] == status
    assert entry["user"] == logged_user
    assert calls == [{"user": user, "password": PASSWORD, "uri": "/basic/index.html"}]
    # None and False are ordinary answers: the module logs nothing for them.
    new_errors = [l for l in apache.error_lines("AUTHNZ_WSGI")[errors_before:] if ":error]" in l]
    assert new_errors == []


@pytest.mark.parametrize("user,seen", [("true", "true"), ("renamed", "alice-renamed")])
def test_the_application_sees_the_user_check_password_chose(apache, user, seen):
    # A CGI behind the location: REMOTE_USER is r->user after authentication.
    resp, entry, calls = request(apache, "/whoami/env.cgi", user)
    assert resp.status == 200 and entry["status"] == 200 and entry["user"] == seen
    assert resp.body == f"REMOTE_USER={seen} AUTH_TYPE=Basic\n".encode()
    assert calls == [{"user": user, "password": PASSWORD, "uri": "/whoami/env.cgi"}]


@pytest.mark.parametrize(
    "user,described",
    [
        ("empty", "unusable user name: it is empty"),
        ("bytes", "not bytes"),
        ("int", "not int"),
        ("list", "not list"),
        ("newline", "control character"),
        ("nul", "control character"),
        ("control", "control character"),
    ],
)
def test_bad_results_are_500_with_one_log_line(apache, user, described):
    before = len(apache.error_lines("AUTHNZ_WSGI0011"))
    resp, entry, calls = request(apache, "/basic/index.html", user)
    assert resp.status == 500
    assert entry["status"] == 500
    assert len(calls) == 1 and calls[0]["user"] == user
    lines = apache.error_lines("AUTHNZ_WSGI0011")[before:]
    assert len(lines) == 1, lines
    assert described in lines[0]
    assert "[client 127.0.0.1:" in lines[0]
    # The line names the script that returned it.
    assert f"AUTHNZ_WSGI0011: script '{apache.scripts}/results.py': check_password " in lines[0]


def test_exception_is_500_with_traceback(apache):
    before = len(apache.error_lines("AUTHNZ_WSGI0042"))
    resp, entry, calls = request(apache, "/basic/index.html", "raise")
    assert resp.status == 500 and entry["status"] == 500
    assert len(calls) == 1
    lines = apache.error_lines("AUTHNZ_WSGI0042")[before:]
    assert "check_password() in" in lines[0] and "ValueError: boom from the script" in lines[0]
    assert any("Traceback" in l or "line " in l for l in lines[1:]), lines


def test_password_never_logged(apache):
    request(apache, "/basic/index.html", "raise")
    request(apache, "/basic/index.html", "int")
    assert PASSWORD not in apache.error_log()
    assert PASSWORD not in apache.access_log_path.read_text()


# Passwords whose repr() differs from the text: a quote, a backslash, a
# non-ASCII letter (its UTF-8 and Latin-1 bytes reprs differ again).
LEAKY_PASSWORD = "s3cr\\et-pä's"


@pytest.mark.parametrize("user", ["leak-int", "leak-key", "leak-bytes"])
def test_password_in_an_exception_is_hidden(apache, user):
    errors_before = len(apache.error_log().splitlines())
    resp, entry, calls = request(apache, "/basic/index.html", user, LEAKY_PASSWORD)
    assert resp.status == 500 and entry["status"] == 500
    assert calls == [{"user": user, "password": LEAKY_PASSWORD, "uri": "/basic/index.html"}]
    new = apache.error_log().splitlines()[errors_before:]
    (summary,) = [l for l in new if "AUTHNZ_WSGI0042" in l and "raised" in l]
    assert "Error (message not logged: it contains the password)" in summary, summary
    text = "\n".join(new)
    spellings = {LEAKY_PASSWORD, repr(LEAKY_PASSWORD)[1:-1],
                 repr(LEAKY_PASSWORD.encode())[2:-1],
                 repr(LEAKY_PASSWORD.encode("latin-1"))[2:-1]}
    for spelling in spellings:
        assert spelling not in text, (spelling, new)
    # The traceback is still there, with the line that raised.
    assert any("check_password" in l for l in new if "AUTHNZ_WSGI0042" in l), new


@pytest.mark.parametrize("password,message", [
    ("1", "IndexError: list index out of range"),
    ("2", "IndexError: list index out of range"),
    ("e", "ValueError (message not logged: it contains the password)"),
])
def test_a_short_password_is_not_given_away_by_hiding_it(apache, password, message):
    """Replacing a one-character password where it appears would name it
    (`line 31` would read `line 3[password hidden]`): a message that shows
    it is withheld whole, and the traceback, which holds only code locations
    and source text, is logged unedited."""
    errors_before = len(apache.error_log().splitlines())
    resp, entry, calls = request(apache, "/basic/index.html", "leak-short", password)
    assert resp.status == 500 and entry["status"] == 500
    assert [c["password"] for c in calls] == [password]
    new = [l for l in apache.error_log().splitlines()[errors_before:] if "AUTHNZ_WSGI0042" in l]
    assert "[password hidden]" not in "\n".join(new)
    (summary,) = [l for l in new if "raised" in l]
    assert summary.split("raised: ", 1)[1] == message, summary
    tb = [l.split("AUTHNZ_WSGI0042: ", 1)[1] for l in new if "raised" not in l]
    assert any(re.fullmatch(r'File ".*results\.py", line \d+, in check_password', l.strip())
               for l in tb), tb
    assert any(l.strip() == "return [1, 2][int(password) + 5]" for l in tb), tb


def test_none_falls_through_to_next_provider(apache):
    resp, entry, calls = request(apache, "/chain/index.html", "none")
    assert resp.status == 200 and entry["user"] == "none"
    assert len(calls) == 1


def test_false_stops_the_chain(apache):
    resp, entry, calls = request(apache, "/chain/index.html", "false")
    assert resp.status == 401 and entry["status"] == 401
    assert len(calls) == 1
    # mod_auth_basic reports the refusal; the file provider was not asked.
    assert any("user false" in l for l in apache.error_lines("auth_basic:error"))


def test_no_credentials_does_not_call_python(apache):
    before = len(apache.records())
    resp = apache.request("/basic/index.html")
    assert resp.status == 401
    assert resp.headers.get("WWW-Authenticate") == 'Basic realm="basic"'
    assert len(apache.records()) == before


def test_directory_index_calls_python_once(apache):
    resp, entry, calls = request(apache, "/private/", "index", "index-pw")
    assert resp.status == 200
    assert resp.body == b"private index\n"
    assert entry["user"] == "index"
    # The DirectoryIndex sub-request and internal redirect reuse the result
    # (AP_AUTH_INTERNAL_PER_CONF): Python is called exactly once.
    assert calls == [{"user": "index", "password": "index-pw", "uri": "/private/"}]


def test_missing_function_is_500_logged_on_every_request(apache):
    statuses = [apache.get_basic("/nofunc/index.html", "true", PASSWORD).status for _ in range(3)]
    assert statuses == [500, 500, 500]
    lines = apache.error_lines("AUTHNZ_WSGI0021")
    # One error line per failing request, naming the script and function.
    assert len(lines) == 3, lines
    assert all("check_password is not defined" in l and "[authnz_wsgi:error]" in l
               for l in lines), lines
    # "loaded, but ..." once per load: each child that loaded the script.
    loaded = [l for l in lines if "loaded, but" in l]
    pids = [l.split("[pid ")[1].split(":")[0] for l in loaded]
    assert loaded and len(pids) == len(set(pids)), lines


def test_location_without_script_is_500(apache):
    resp = apache.get_basic("/noscript/index.html", "true", PASSWORD)
    assert resp.status == 500
    lines = apache.error_lines("AUTHNZ_WSGI0010")
    assert lines and "no WSGIAuthUserScript" in lines[-1]


def test_real_client_basic_handler(apache):
    resp = apache.open_with_handler("/basic/index.html", urllib.request.HTTPBasicAuthHandler,
                                    "true", PASSWORD)
    assert resp.status == 200
    assert resp.body == b"basic page\n"
    assert apache.last_access(200)["user"] == "true"


def test_curl_basic(apache):
    status, body = apache.curl("-u", f"renamed:{PASSWORD}", apache.url("/basic/index.html"))
    assert status == 200 and "basic page" in body
    assert apache.last_access(200)["user"] == "alice-renamed"
