"""The line that says which Python a child runs (version, sys.prefix,
libpython; docs/how-it-runs.md) is logged at notice by the first child of each start
and each restart, so the default `LogLevel warn` shows it once; the other
children log it at info."""

import re
import time

import pytest

from harness import Apache, child_pids

LINE = re.compile(r"\[authnz_wsgi:(\w+)\] \[pid (\d+):tid \d+\] AUTHNZ_WSGI0003: Python "
                  r"3\.\d+\.\d+ started in child (\d+) \(sys\.prefix /usr, library "
                  r"\S*libpython3\.\d+\.so[.\d]*\)")

SCRIPT = """
def check_password(environ, user, password):
    return password == "pw"
"""


def starts(server):
    return [LINE.search(l) for l in server.error_lines("AUTHNZ_WSGI0003")]


def wait_for(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while not predicate() and time.time() < deadline:
        time.sleep(0.05)
    return predicate()


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_python_line_is_shown_once_per_start_at_the_default_level(mpm):
    conf = "StartServers 3\nLogLevel warn\n"
    if mpm == "prefork":
        conf += "MinSpareServers 3\nMaxSpareServers 8\n"
    srv = Apache(mpm=mpm, name=f"startline-{mpm}", server_conf=conf)
    try:
        script = srv.write_script("auth.py", SCRIPT, record=False)
        srv.site_conf = f"""
<Location /private>
  AuthType Basic
  AuthName "start line"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  Require valid-user
</Location>
"""
        srv.start()
        assert srv.get_basic("/private/", "ann", "pw").status == 200
        assert wait_for(lambda: len(starts(srv)) == 1), srv.error_log()
        (line,) = starts(srv)
        assert line, srv.error_lines("AUTHNZ_WSGI0003")
        assert line.group(1) == "notice"
        assert line.group(2) == line.group(3)  # logged by the child it names
        # The other children started Python too, at info: not shown at warn.
        parent = int((srv.dir / "run" / "httpd.pid").read_text())
        assert len(child_pids(parent)) >= 2

        # A graceful restart: the first child of the new generation says it.
        srv.graceful()
        assert wait_for(lambda: len(starts(srv)) == 2), srv.error_log()
        assert [m.group(1) for m in starts(srv)] == ["notice", "notice"]
        assert starts(srv)[0].group(2) != starts(srv)[1].group(2)
    finally:
        srv.cleanup()
