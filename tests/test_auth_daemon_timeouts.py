"""The lines about a daemon call that overran name the setting its limit
came from (docs/auth-daemons.md#time-limits): the Apache child chooses the
limit it sends — the group's `call-timeout=` when set, else the location's
`WSGIScriptTimeout` — and writes the daemon's timeout line
(`AUTHNZ_WSGI0045`) naming that setting.

Two daemon groups, one with `call-timeout=1` (its location says
`WSGIScriptTimeout 30`), one without (its location says `WSGIScriptTimeout
1`). A script that keeps sleeping past the limit is interrupted (500).
Each test asserts the status, the exact line and what the script saw."""

import os
import time

import pytest

from harness import Apache, access_for

SCRIPT = """
import os
import time

def check_password(environ, user, password):
    record(user=user, pid=os.getpid(), group=environ["mod_wsgi.process_group"],
           uri=environ["REQUEST_URI"], at="start")
    if user == "sleeper":
        for _ in range(100):
            time.sleep(0.05)
    record(user=user, pid=os.getpid(), uri=environ["REQUEST_URI"], at="end")
    return password == user + "-pw"
"""

LOCATIONS = {
    # path: (daemon group, WSGIScriptTimeout of the location)
    "/limited": ("limited", 30),
    "/plain": ("plain", 1),
}

SETTING = {
    "/limited": "call-timeout= of WSGIAuthDaemonProcess limited",
    "/plain": "WSGIScriptTimeout",
}


@pytest.fixture(scope="module", params=["event", "prefork"])
def server(request):
    mpm = request.param
    srv = Apache(name=f"daemon-timeouts-{mpm}", mpm=mpm, server_conf=(
        "WSGIAuthDaemonProcess limited user=nobody group=nogroup processes=1 call-timeout=1\n"
        "WSGIAuthDaemonProcess plain user=nobody group=nogroup processes=1\n"))
    srv.script = srv.write_script("slow.py", SCRIPT)
    records = srv.record_dir / "calls.jsonl"
    records.touch()
    os.chmod(records, 0o666)
    sections = []
    for path, (group, timeout) in LOCATIONS.items():
        (srv.docroot / path.strip("/")).mkdir()
        (srv.docroot / path.strip("/") / "index.html").write_text(path + "\n")
        sections.append(f"""
<Location {path}>
  AuthType Basic
  AuthName "t"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{srv.script}" process-group={group}
  WSGIScriptTimeout {timeout}
  Require valid-user
</Location>
""")
    srv.site_conf = "".join(sections)
    srv.start()
    # The child's wait counts from the call's start: let each group's one
    # process start Python and load the script before the timed calls.
    for path in LOCATIONS:
        assert srv.get_basic(f"{path}/index.html?warm", "quick", "quick-pw").status == 200
    yield srv
    srv.cleanup()


def calls_for(server, uri):
    return [r for r in server.records() if r["uri"] == uri]


@pytest.mark.parametrize("path", list(LOCATIONS))
def test_an_interrupted_call_names_the_setting_of_its_limit(server, path):
    uri = f"{path}/index.html?interrupted"
    started = time.monotonic()
    resp = server.get_basic(uri, "sleeper", "sleeper-pw")
    took = time.monotonic() - started
    assert resp.status == 500, resp
    assert took < 5, took
    assert access_for(server, uri)["status"] == 500
    # The script started in the daemon and was interrupted before its end.
    calls = calls_for(server, uri)
    assert [c["at"] for c in calls] == ["start"], calls
    assert calls[0]["group"] == LOCATIONS[path][0]
    with open(f"/proc/{calls[0]['pid']}/comm") as f:
        assert f.read().strip() == "authnz-daemon"
    expected = (f"AUTHNZ_WSGI0045: check_password() in '{server.script}' exceeded "
                f"{SETTING[path]} (1s) and was interrupted")
    mine = server.error_lines(expected)
    assert len(mine) == 1, (expected, server.error_log()[-3000:])
    assert "[client 127.0.0.1:" in mine[0]
    # The other setting is not named in that line.
    other = SETTING["/plain" if path == "/limited" else "/limited"]
    assert other not in mine[0].split("interrupted")[0]
    # The same location answers a quick call afterwards.
    assert server.get_basic(f"{path}/index.html?after", "quick", "quick-pw").status == 200
