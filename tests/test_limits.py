"""Limits on Python calls: WSGIScriptTimeout interrupts an overrunning call
(even one that catches Exception), and WSGIMaxConcurrentCalls refuses
a request beyond the per-child cap after a short bounded wait, while
locations that need no Python keep answering."""

import os
import threading
import time

import pytest

from harness import Apache

SCRIPT = """
import time

def check_password(environ, user, password):
    record(user=user, phase="start")
    if user == "loop":
        try:
            while True:
                pass
        except Exception:
            record(user=user, phase="swallowed")
            while True:
                pass
    if user == "sleep":
        time.sleep(2.5)
    if user == "slow":
        time.sleep(1.2)
    record(user=user, phase="end")
    return True
"""


def start_server(name, cap, timeouts):
    """A one-child server with the given WSGIMaxConcurrentCalls line and a
    protected /<name> location per entry of `timeouts` (name -> seconds)."""
    server = Apache(
        name=name,
        server_conf=f"WSGIMaxConcurrentCalls {cap}\nStartServers 1\nServerLimit 1\n"
        "ThreadsPerChild 16\nMaxRequestWorkers 16\n",
    )
    script = server.write_script("limits.py", SCRIPT)
    for path, seconds in timeouts.items():
        server.site_conf += f"""
        <Location /{path}>
          AuthType Basic
          AuthName "{path}"
          AuthBasicProvider wsgi
          WSGIAuthUserScript "{script}"
          WSGIScriptTimeout {seconds}
          Require valid-user
        </Location>
        """
        (server.docroot / path).mkdir()
        (server.docroot / path / "index.html").write_text("ok\n")
    return server.start()


@pytest.fixture(scope="module")
def apache():
    server = start_server("limits", "2 300ms", {"timed": 1, "untimed": 0})
    yield server
    server.cleanup()


def timed_get(apache, path, user):
    start = time.monotonic()
    status = apache.get_basic(path, user, "pw").status
    return status, time.monotonic() - start


def test_busy_loop_is_interrupted(apache):
    before = len(apache.error_lines("AUTHNZ_WSGI0045"))
    status, took = timed_get(apache, "/timed/index.html", "loop")
    assert status == 500
    assert 0.9 < took < 5
    assert apache.last_access(500)["user"] == "loop"
    lines = apache.error_lines("AUTHNZ_WSGI0045")[before:]
    assert "exceeded WSGIScriptTimeout (1s) and was interrupted: ScriptTimeout" in lines[0]
    # The traceback shows where the script was stuck.
    assert any("while True" in l for l in lines[1:])
    # ScriptTimeout is a BaseException: `except Exception` did not swallow it.
    assert [r["phase"] for r in apache.records() if r["user"] == "loop"] == ["start"]


def test_blocking_call_is_interrupted_when_it_returns(apache):
    status, took = timed_get(apache, "/timed/index.html", "sleep")
    assert status == 500
    # time.sleep cannot be interrupted: the call ends when the sleep does.
    assert 2.3 < took < 6
    assert [r["phase"] for r in apache.records() if r["user"] == "sleep"] == ["start"]


def test_worker_is_usable_after_a_timeout(apache):
    status, took = timed_get(apache, "/timed/index.html", "fine")
    assert status == 200 and took < 1
    assert apache.records()[-1] == {"user": "fine", "phase": "end"}


def watchdog_wakeups(apache):
    """Context switches of the child's watchdog thread so far (it sleeps
    between its looks, so each look is one voluntary switch)."""
    (child,) = apache.child_pids()
    for task in os.listdir(f"/proc/{child}/task"):
        with open(f"/proc/{child}/task/{task}/comm") as f:
            if f.read().strip() != "authnz-wsgi-wat":
                continue
        with open(f"/proc/{child}/task/{task}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    raise AssertionError("no watchdog thread in the child")


def test_idle_watchdog_parks_and_the_next_call_wakes_it(apache):
    assert timed_get(apache, "/timed/index.html", "fine")[0] == 200
    # No call with a limit for more than a second: the watchdog parks.
    time.sleep(1.5)
    idle_start = watchdog_wakeups(apache)
    time.sleep(1.0)
    # Looking every 50 ms would be about 20 switches in that second.
    assert watchdog_wakeups(apache) - idle_start <= 1
    # The next call with a limit wakes it: an overrun is still interrupted.
    status, took = timed_get(apache, "/timed/index.html", "loop")
    assert status == 500 and 0.9 < took < 5
    assert watchdog_wakeups(apache) - idle_start >= 10


def test_timeout_zero_means_no_limit(apache):
    status, took = timed_get(apache, "/untimed/index.html", "slow")
    assert status == 200 and took >= 1.1
    assert apache.records()[-1] == {"user": "slow", "phase": "end"}


def test_calls_beyond_the_cap_are_refused_after_the_wait(apache):
    before = len(apache.error_lines("AUTHNZ_WSGI0044"))
    before_records = len(apache.records())
    results = []

    def go():
        results.append(timed_get(apache, "/untimed/index.html", "slow"))

    threads = [threading.Thread(target=go) for _ in range(5)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    # Requests that need no Python are still served while the cap is reached.
    static_status = apache.request("/index.html").status
    for t in threads:
        t.join()
    assert static_status == 200
    statuses = sorted(s for s, _ in results)
    assert statuses == [200, 200, 500, 500, 500]
    # Refused after the configured 300ms wait, long before the slow calls end.
    refused = [took for s, took in results if s == 500]
    assert all(0.25 < took < 1.15 for took in refused), results
    lines = apache.error_lines("AUTHNZ_WSGI0044")[before:]
    assert len(lines) == 3
    assert "2 Python calls were still running in this child after waiting 300ms" in lines[0]
    # The line names the script and the function that were refused.
    assert f"script '{apache.scripts}/limits.py': check_password: 2 Python calls" in lines[0]
    refused_users = [e for e in apache.access_entries() if e["status"] == 500][-3:]
    assert [e["user"] for e in refused_users] == ["slow"] * 3
    # The refused requests never reached Python.
    calls = apache.records()[before_records:]
    assert [r["phase"] for r in calls if r["user"] == "slow"].count("start") == 2, calls


def test_a_call_beyond_the_cap_runs_when_a_slot_frees_within_the_wait():
    server = start_server("limits-queue", "1 5", {"untimed": 0})
    try:
        results = []
        threads = [
            threading.Thread(
                target=lambda: results.append(timed_get(server, "/untimed/index.html", "slow"))
            )
            for _ in range(2)
        ]
        for t in threads:
            t.start()
            time.sleep(0.1)
        for t in threads:
            t.join()
        assert sorted(s for s, _ in results) == [200, 200], results
        # The second call waited for the first (1.2s each, one at a time).
        assert max(took for _, took in results) > 2.2, results
        assert server.error_lines("AUTHNZ_WSGI0044") == []
        phases = [(r["user"], r["phase"]) for r in server.records()]
        assert phases == [("slow", "start"), ("slow", "end")] * 2, phases
    finally:
        server.cleanup()


def test_config_values_are_checked(apache):
    for bad, needle in [
        ("WSGIScriptTimeout soon", "takes a number of seconds"),
        ("WSGIScriptTimeout 100000", "at most 86400"),
        ("WSGIMaxConcurrentCalls 0", "at least 1"),
        ("WSGIMaxConcurrentCalls 4 soon", "the wait must be whole seconds or milliseconds"),
        ("WSGIMaxConcurrentCalls 4 61", "at most 60s"),
        ("WSGIMaxConcurrentCalls 4 1 2", "takes a positive number of calls"),
    ]:
        probe = Apache(name="limits-bad", server_conf=bad + "\n")
        try:
            rc, out = probe.configtest()
        finally:
            probe.cleanup()
        assert rc != 0 and needle in out and "Syntax error on line" in out, out
