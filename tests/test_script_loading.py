"""Script loading (docs/how-it-runs.md): a slow import blocks only the requests that need
that script; concurrent first requests load a script once per child."""

import threading
import time

import pytest

from harness import Apache

SLOW_SCRIPT = """
import time
record("imports", script="slow")
time.sleep(2)

def check_password(environ, user, password):
    return True
"""

FAST_SCRIPT = """
record("imports", script="fast")

def check_password(environ, user, password):
    return True
"""


@pytest.fixture(scope="module")
def apache():
    server = Apache(name="loading", server_conf="StartServers 1\nServerLimit 1\n")
    slow = server.write_script("slow.py", SLOW_SCRIPT)
    fast = server.write_script("fast.py", FAST_SCRIPT)
    server.site_conf = "".join(
        f"""
    <Location /{name}>
      AuthType Basic
      AuthName "{name}"
      AuthBasicProvider wsgi
      WSGIAuthUserScript "{path}"
      Require valid-user
    </Location>
    """
        for name, path in (("slow", slow), ("fast", fast))
    )
    for d in ("slow", "fast"):
        (server.docroot / d).mkdir()
        (server.docroot / d / "index.html").write_text("ok\n")
    server.start()
    yield server
    server.cleanup()


def test_slow_import_does_not_block_other_scripts(apache):
    results = {}

    def get(name):
        start = time.monotonic()
        status = apache.get_basic(f"/{name}/index.html", "u", "pw").status
        results.setdefault(name, []).append((status, time.monotonic() - start))

    slow_threads = [threading.Thread(target=get, args=("slow",)) for _ in range(3)]
    for t in slow_threads:
        t.start()
    time.sleep(0.3)
    get("fast")
    for t in slow_threads:
        t.join()
    (fast_status, fast_took), = results["fast"]
    assert fast_status == 200 and fast_took < 1.0, results
    assert [s for s, _ in results["slow"]] == [200, 200, 200]
    assert all(took > 1.5 for _, took in results["slow"]), results
    # Three concurrent first requests, one child: the slow script ran once.
    imports = apache.records("imports")
    assert sorted(i["script"] for i in imports) == ["fast", "slow"]
    loads = apache.error_lines("AUTHNZ_WSGI0024")
    assert len([l for l in loads if "slow.py" in l]) == 1
