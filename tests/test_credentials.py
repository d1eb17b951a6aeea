"""Decoding of credentials (docs/python-contract.md#decoding-of-credentials): UTF-8 when valid, else Latin-1;
passwords with ':'; a returned name equal to its input keeps the client's
bytes in r->user (the access log escapes non-ASCII bytes as \\xhh). So one
name typed in two encodings is one user to Python and two to everything in
Apache that compares r->user's bytes (pinned below: that is the default;
tests/test_user_name_encoding.py has `WSGIUserNameEncoding utf-8`, which
stores one form)."""

import pytest

from harness import Apache

# A CGI that answers with the bytes of REMOTE_USER, in hex.
WHO_CGI = """#!/usr/bin/python3
import os, sys
sys.stdout.buffer.write(b"Content-Type: text/plain\\r\\n\\r\\n"
                        + os.environb.get(b"REMOTE_USER", b"").hex().encode() + b"\\n")
"""

SCRIPT = """
def check_password(environ, user, password):
    record(user=user, password=password)
    if password == "return-user":
        return user
    if password == "rename-utf8":
        return "Zo\\u00eb"
    return (user, password) in {
        ("jos\\u00e9", "p\\u00e4ssword"),
        ("colon", "a:b:c"),
        ("\\u00ff\\u00feuser", "pw"),
    }
"""


@pytest.fixture(scope="module")
def apache():
    server = Apache(name="credentials", modules=["cgid"])
    script = server.write_script("cred.py", SCRIPT)
    cgi_dir = server.dir / "cgi"
    cgi_dir.mkdir()
    (cgi_dir / "who.cgi").write_text(WHO_CGI)
    (cgi_dir / "who.cgi").chmod(0o755)
    # The config file is UTF-8: `Require not user josé` names the bytes c3 a9.
    server.site_conf = f"""
    <Location /cred>
      AuthType Basic
      AuthName "cred"
      AuthBasicProvider wsgi
      WSGIAuthUserScript "{script}"
      Require valid-user
    </Location>
    ScriptAlias /cred/cgi/ "{cgi_dir}/"
    <Location /cred/not-jose>
      <RequireAll>
        Require valid-user
        Require not user jos\u00e9
      </RequireAll>
    </Location>
    """
    (server.docroot / "cred").mkdir()
    (server.docroot / "cred" / "index.html").write_text("cred page\n")
    (server.docroot / "cred" / "not-jose").mkdir()
    (server.docroot / "cred" / "not-jose" / "index.html").write_text("not for jose\n")
    server.start()
    yield server
    server.cleanup()


@pytest.mark.parametrize(
    "user,password,seen_user,seen_password,status,logged",
    [
        # UTF-8 from a browser arrives as the characters the user typed.
        ("josé".encode(), "pässword".encode(), "josé", "pässword", 200, r"jos\xc3\xa9"),
        # The same name in Latin-1 bytes (not valid UTF-8) decodes byte for byte.
        (b"jos\xe9", b"p\xe4ssword", "josé", "pässword", 200, r"jos\xe9"),
        # Invalid UTF-8 never fails: Latin-1 maps every byte.
        (b"\xff\xfeuser", b"pw", "\xff\xfeuser", "pw", 200, r"\xff\xfeuser"),
        # Only the first ':' separates user and password.
        (b"colon", b"a:b:c", "colon", "a:b:c", 200, "colon"),
        (b"colon", b"a:b", "colon", "a:b", 401, "colon"),
    ],
)
def test_decoding(apache, user, password, seen_user, seen_password, status, logged):
    before = len(apache.records())
    resp = apache.get_basic("/cred/index.html", user, password)
    assert resp.status == status
    assert apache.records()[before:] == [{"user": seen_user, "password": seen_password}]
    assert apache.last_access(status)["user"] == logged


def test_returned_name_equal_to_input_keeps_client_bytes(apache):
    # The client sent Latin-1 bytes; Python returns the decoded name unchanged.
    resp = apache.get_basic("/cred/index.html", b"jos\xe9", b"return-user")
    assert resp.status == 200
    assert apache.records()[-1] == {"user": "josé", "password": "return-user"}
    # r->user is still the client's byte \xe9, not the UTF-8 re-encoding.
    assert apache.last_access(200)["user"] == r"jos\xe9"


def test_renamed_user_is_utf8(apache):
    resp = apache.get_basic("/cred/index.html", b"someone", b"rename-utf8")
    assert resp.status == 200
    assert apache.last_access(200)["user"] == r"Zo\xc3\xab"


def test_empty_user_and_password_reach_python(apache):
    before = len(apache.records())
    resp = apache.get_basic("/cred/index.html", b"", b"")
    assert resp.status == 401
    assert apache.records()[before:] == [{"user": "", "password": ""}]


def test_one_name_in_two_encodings_is_one_user_to_python_and_two_to_apache(apache):
    """`josé` in UTF-8 (c3 a9) and in Latin-1 (e9): both decode to the same
    str, so a script that grants `josé` lets both in; r->user keeps each
    client's bytes, so %u, REMOTE_USER and `Require not user` see two users."""
    forms = {b"jos\xc3\xa9": r"jos\xc3\xa9", b"jos\xe9": r"jos\xe9"}
    for raw, logged in forms.items():
        before = len(apache.records())
        resp = apache.get_basic("/cred/cgi/who.cgi", raw, "p\u00e4ssword".encode())
        assert resp.status == 200
        assert apache.records()[before:] == [{"user": "jos\u00e9", "password": "p\u00e4ssword"}]
        assert resp.body == raw.hex().encode() + b"\n"  # REMOTE_USER: the client's bytes
        entry = apache.last_access(200)
        assert (entry["uri"], entry["user"]) == ("/cred/cgi/who.cgi", logged)

    # A rule written with the UTF-8 name refuses that form only.
    before = len(apache.records())
    utf8 = apache.get_basic("/cred/not-jose/", b"jos\xc3\xa9", "p\u00e4ssword".encode())
    assert utf8.status == 401
    assert apache.last_access(401)["user"] == r"jos\xc3\xa9"
    latin1 = apache.get_basic("/cred/not-jose/", b"jos\xe9", "p\u00e4ssword".encode())
    assert latin1.status == 200 and latin1.body == b"not for jose\n"
    assert apache.last_access(200)["user"] == r"jos\xe9"
    assert [r["user"] for r in apache.records()[before:]] == ["jos\u00e9", "jos\u00e9"]
    assert apache.error_lines(r'AH01631: user jos\xc3\xa9: authorization failure for "/cred/not-jose/"')
    assert not apache.error_lines(r"AH01631: user jos\xe9:")
