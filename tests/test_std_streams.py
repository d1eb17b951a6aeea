"""print() and writes to sys.stdout/sys.stderr reach Apache's error log as
lines (docs/how-it-runs.md), as under mod_wsgi: inside a call with the request's context
(`[client ...]`) like wsgi.errors, outside a call (the script's import, a
thread the script started) in the server's log without one. Lines are tagged
AUTHNZ_WSGI0100 (stdout) and AUTHNZ_WSGI0101 (stderr); a partial line is
written when the call (or the import) ends; a line longer than 4096 bytes is
written in pieces of that size, losing nothing. Run on event and prefork."""

import re
import time

import pytest

from harness import Apache

SCRIPT = """
import io
import sys
import threading
import time

print("import-time line from a script module:", __name__.startswith("_authnz_wsgi_"))
sys.stderr.write("import-time partial line")

def _late(user):
    time.sleep(0.3)
    print("thread line after the call for", user)

def check_password(environ, user, password):
    print("stdout line for", user)
    print("stderr line for", user, file=sys.stderr)
    sys.stdout.write("partial line for " + user)
    if user == "long":
        print()
        print("L" * 10000)
    if user == "threaded":
        worker = threading.Thread(target=print, args=("thread line during the call for", user))
        worker.start()
        worker.join(10)
        threading.Thread(target=_late, args=(user,)).start()
    try:
        sys.stdout.fileno()
        fileno = "no error"
    except io.UnsupportedOperation as e:
        fileno = type(e).__name__
    record(user=user, stdout_type=type(sys.stdout).__name__,
           names=[sys.stdout.name, sys.stderr.name],
           errors_type=type(environ["wsgi.errors"]).__name__,
           isatty=sys.stdout.isatty(), writable=sys.stderr.writable(), fileno=fileno)
    return True

def groups_for_user(environ, user):
    print("groups asked for", user)
    def lazy():
        # Runs while the module reads the result, after the function returned.
        print("groups read for", user)
        yield "staff"
    return lazy()
"""


@pytest.fixture(scope="module", params=["event", "prefork"])
def apache(request):
    server = Apache(name=f"stdio-{request.param}", mpm=request.param,
                    server_conf="StartServers 1\nServerLimit 1\n")
    script = server.write_script("printing.py", SCRIPT)
    server.site_conf = f"""
<Location /private>
  AuthType Basic
  AuthName "stdio"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  Require valid-user
</Location>
<Location /staff>
  AuthType Basic
  AuthName "stdio"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  WSGIAuthGroupScript "{script}"
  Require wsgi-group staff
</Location>
"""
    server.start()
    yield server
    server.cleanup()


def login(apache, user):
    resp = apache.get_basic("/private/", user, "pw")
    assert resp.status == 200
    assert apache.last_access(200)["user"] == user
    return apache.records()[-1]


def tagged(apache, tag, text):
    """Error-log lines whose message, after our tag, is exactly `text`."""
    pattern = re.compile(rf"AUTHNZ_WSGI{tag:04d}: {re.escape(text)}$")
    return [l for l in apache.error_log().splitlines() if pattern.search(l)]


def wait_for(apache, tag, text, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = tagged(apache, tag, text)
        if lines:
            return lines
        time.sleep(0.05)
    return tagged(apache, tag, text)


def test_the_script_sees_log_streams(apache):
    seen = login(apache, "viewer")
    assert seen["stdout_type"] == seen["errors_type"] == "ErrorStream"
    assert seen["names"] == ["<stdout>", "<stderr>"]
    assert seen["isatty"] is False and seen["writable"] is True
    assert seen["fileno"] == "UnsupportedOperation"


def test_lines_printed_in_a_call_carry_the_request(apache):
    login(apache, "alice")
    (out,) = tagged(apache, 100, "stdout line for alice")
    (err,) = tagged(apache, 101, "stderr line for alice")
    for line in (out, err):
        assert "[client 127.0.0.1:" in line and "[authnz_wsgi:error]" in line, line


def test_a_partial_line_is_written_when_the_call_ends(apache):
    login(apache, "bob")
    log = apache.error_log().splitlines()
    (partial,) = tagged(apache, 100, "partial line for bob")
    assert "[client 127.0.0.1:" in partial
    (full,) = tagged(apache, 100, "stdout line for bob")
    assert log.index(full) < log.index(partial)


def test_reading_a_lazy_result_is_part_of_the_call(apache):
    resp = apache.get_basic("/staff/", "erin", "pw")
    assert resp.status == 404  # granted: no such directory
    assert apache.last_access(404)["user"] == "erin"
    for text in ("groups asked for erin", "groups read for erin"):
        (line,) = tagged(apache, 100, text)
        assert "[client 127.0.0.1:" in line, line


def test_import_time_output_goes_to_the_server_log(apache):
    login(apache, "carol")
    (line,) = tagged(apache, 100, "import-time line from a script module: True")
    (partial,) = tagged(apache, 101, "import-time partial line")
    for l in (line, partial):
        assert "[client" not in l and "[authnz_wsgi:error]" in l, l
    # Printed once, at the one import, however many calls followed.
    login(apache, "carol")
    assert len(tagged(apache, 100, "import-time line from a script module: True")) == 1


def test_a_long_line_comes_in_pieces_and_loses_nothing(apache):
    login(apache, "long")
    pieces = [l for l in apache.error_log().splitlines()
              if re.search(r"AUTHNZ_WSGI0100: L+$", l)]
    assert [len(l.rsplit("AUTHNZ_WSGI0100: ", 1)[1]) for l in pieces] == [4096, 4096, 1808]
    assert all("[client 127.0.0.1:" in l for l in pieces)
    # The partial line before the long one was ended by print().
    assert tagged(apache, 100, "partial line for long")


def test_threads_the_script_starts_write_to_the_server_log(apache):
    login(apache, "threaded")
    (during,) = wait_for(apache, 100, "thread line during the call for threaded")
    (after,) = wait_for(apache, 100, "thread line after the call for threaded")
    for line in (during, after):
        assert "[client" not in line and "[authnz_wsgi:error]" in line, line
    # The worker thread's own lines still carry its request.
    assert "[client 127.0.0.1:" in tagged(apache, 100, "stdout line for threaded")[0]



def test_streams_another_embedder_installed_keep_what_is_written_outside_calls():
    """Where something replaced sys.stdout before the first script was
    loaded (mod_wsgi does, in the interpreter it shares; here a .pth file on
    WSGIPythonPath), lines written outside a call still go there, while a
    call's lines reach the error log with the request."""
    server = Apache(name="stdio-foreign", server_conf="StartServers 1\nServerLimit 1\n")
    try:
        foreign = server.record_dir / "foreign-stdout.txt"
        site = server.dir / "site"
        site.mkdir()
        (site / "foreign.pth").write_text(
            f"import sys; sys.stdout = open({str(foreign)!r}, 'a', buffering=1)\n")
        server.server_conf += f'WSGIPythonPath "{site}"\n'
        script = server.write_script("printing.py", SCRIPT)
        server.site_conf = f"""
<Location /private>
  AuthType Basic
  AuthName "stdio"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  Require valid-user
</Location>
"""
        server.start()
        seen = login(server, "threaded")
        assert seen["stdout_type"] == "ErrorStream"
        deadline = time.time() + 5
        while "thread line after the call" not in (foreign.read_text() if foreign.exists() else ""):
            assert time.time() < deadline, foreign.read_text() if foreign.exists() else "no file"
            time.sleep(0.05)
        outside = foreign.read_text().splitlines()
        assert outside == ["import-time line from a script module: True",
                           "thread line during the call for threaded",
                           "thread line after the call for threaded"]
        for tag, text in ((100, "stdout line for threaded"), (101, "stderr line for threaded"),
                          (100, "partial line for threaded")):
            (line,) = tagged(server, tag, text)
            assert "[client 127.0.0.1:" in line
        # sys.stderr was the interpreter's own: ours logs it, outside calls too.
        assert tagged(server, 101, "import-time partial line")
        assert tagged(server, 100, "import-time line from a script module: True") == []
    finally:
        server.cleanup()
