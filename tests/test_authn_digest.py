"""Digest authentication through get_realm_hash (docs/python-contract.md#get_realm_hash-digest), with real
Digest clients (urllib's handler and curl), and Basic with
`AuthBasicUseDigestAlgorithm MD5`."""

import hashlib
import urllib.request

import pytest

from harness import Apache

REALM = "digest realm"
PASSWORD = "digest-pass"

SCRIPT = f"""
import hashlib

def _ha1(user, realm, password):
    return hashlib.md5(f"{{user}}:{{realm}}:{{password}}".encode()).hexdigest()

def get_realm_hash(environ, user, realm):
    record(user=user, realm=realm, uri=environ["REQUEST_URI"])
    good = _ha1(user, realm, "{PASSWORD}")
    if user == "alice":
        return good
    if user == "bytesuser":
        return good.encode()
    if user == "upper":
        return good.upper()
    if user == "short":
        return good[:31]
    if user == "long":
        return good + "0"
    if user == "nothex":
        return "z" * 32
    if user == "int":
        return 42
    if user == "raise":
        raise RuntimeError("digest backend down")
    return None
"""


@pytest.fixture(scope="module")
def apache():
    server = Apache(name="digest")
    script = server.write_script("digest.py", SCRIPT)
    server.site_conf = f"""
    <Location /digest>
      AuthType Digest
      AuthName "{REALM}"
      AuthDigestProvider wsgi
      WSGIAuthUserScript "{script}"
      Require valid-user
    </Location>
    <Location /basic-md5>
      AuthType Basic
      AuthName "{REALM}"
      AuthBasicProvider wsgi
      AuthBasicUseDigestAlgorithm MD5
      WSGIAuthUserScript "{script}"
      Require valid-user
    </Location>
    """
    for d in ("digest", "basic-md5"):
        (server.docroot / d).mkdir()
        (server.docroot / d / "index.html").write_text(f"{d} page\n")
    server.start()
    yield server
    server.cleanup()


def digest_get(apache, user, password=PASSWORD, path="/digest/index.html"):
    return apache.open_with_handler(path, urllib.request.HTTPDigestAuthHandler, user, password, REALM)


@pytest.mark.parametrize("user", ["alice", "bytesuser"])
def test_valid_hash_as_str_or_bytes_grants(apache, user):
    before = len(apache.records())
    resp = digest_get(apache, user)
    assert resp.status == 200 and resp.body == b"digest page\n"
    entry = apache.last_access(200)
    assert entry["status"] == 200 and entry["user"] == user
    calls = apache.records()[before:]
    assert calls and all(c == {"user": user, "realm": REALM, "uri": "/digest/index.html"} for c in calls)


def test_wrong_password_is_401(apache):
    resp = digest_get(apache, "alice", "not-the-password")
    assert resp.status == 401
    assert apache.last_access(401)["user"] == "alice"
    assert any("alice" in l for l in apache.error_lines("auth_digest:error"))


def test_unknown_user_is_401(apache):
    before = len(apache.records())
    resp = digest_get(apache, "nobody")
    assert resp.status == 401
    assert apache.last_access(401)["user"] == "nobody"
    assert apache.records()[before]["user"] == "nobody"
    assert any("nobody" in l and "not found" in l for l in apache.error_lines("auth_digest:error"))


@pytest.mark.parametrize(
    "user,described",
    [
        ("upper", "uppercase"),
        ("short", "31 characters"),
        ("long", "33 characters"),
        ("nothex", "not hex digits"),
        ("int", "not int"),
    ],
)
def test_unusable_hash_is_500_with_log_line(apache, user, described):
    before = len(apache.error_lines("AUTHNZ_WSGI0013"))
    calls_before = len(apache.records())
    resp = digest_get(apache, user)
    assert resp.status == 500
    assert apache.last_access(500)["user"] == user
    assert apache.records()[calls_before:] == [
        {"user": user, "realm": REALM, "uri": "/digest/index.html"}]
    lines = apache.error_lines("AUTHNZ_WSGI0013")[before:]
    assert len(lines) == 1 and described in lines[0], lines
    # The hash is a password equivalent: it never reaches the log.
    good = hashlib.md5(f"{user}:{REALM}:{PASSWORD}".encode()).hexdigest()
    assert good not in apache.error_log() and good.upper() not in apache.error_log()


def test_exception_is_500_with_traceback(apache):
    before = len(apache.error_lines("AUTHNZ_WSGI0042"))
    calls_before = len(apache.records())
    resp = digest_get(apache, "raise")
    assert resp.status == 500
    assert apache.last_access(500)["user"] == "raise"
    assert apache.records()[calls_before:] == [
        {"user": "raise", "realm": REALM, "uri": "/digest/index.html"}]
    lines = apache.error_lines("AUTHNZ_WSGI0042")[before:]
    # One summary line, then the traceback down to the line that raised.
    summaries = [l for l in lines if "get_realm_hash() in" in l]
    assert len(summaries) == 1 and "RuntimeError: digest backend down" in summaries[0], lines
    assert any("Traceback" in l for l in lines), lines
    assert any('raise RuntimeError("digest backend down")' in l for l in lines), lines


def test_curl_digest(apache):
    status, body = apache.curl("--digest", "-u", f"alice:{PASSWORD}", apache.url("/digest/index.html"))
    assert status == 200 and "digest page" in body
    assert apache.last_access(200)["user"] == "alice"


def test_basic_with_digest_algorithm(apache):
    before = len(apache.records())
    assert apache.get_basic("/basic-md5/index.html", "alice", PASSWORD).status == 200
    assert apache.last_access(200)["user"] == "alice"
    assert apache.get_basic("/basic-md5/index.html", "alice", "wrong").status == 401
    calls = apache.records()[before:]
    assert [c["realm"] for c in calls] == [REALM, REALM]
