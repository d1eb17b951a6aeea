"""Decoding of credentials (SPEC §3.1): UTF-8 when valid, else Latin-1;
passwords with ':'; a returned name equal to its input keeps the client's
bytes in r->user (the access log escapes non-ASCII bytes as \\xhh)."""

import pytest

from harness import Apache

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
    server = Apache(name="credentials")
    script = server.write_script("cred.py", SCRIPT)
    server.site_conf = f"""
    <Location /cred>
      AuthType Basic
      AuthName "cred"
      AuthBasicProvider wsgi
      WSGIAuthUserScript "{script}"
      Require valid-user
    </Location>
    """
    (server.docroot / "cred").mkdir()
    (server.docroot / "cred" / "index.html").write_text("cred page\n")
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
