"""How a daemon process shares its `threads=` serving threads among calls
(docs/auth-daemons.md): every idle thread waits for frames on all the
connections, so a call that blocks never holds up the others, and up to
`threads=` calls run at once, never more.

Every test asserts the HTTP statuses, what the script saw (`record(...)`,
written inside the daemon: its process and thread) and the error log, on a
real Apache."""

import threading
import time

import pytest

from harness import Apache
from test_auth_daemon_processes import private_location

SCRIPT = """
import os
import threading
import time

def check_password(environ, user, password):
    record(user=user, pid=os.getpid(), thread=threading.get_ident(),
           start=time.time())
    if user.startswith("slow"):
        time.sleep(1.0)
    if user.startswith("blocked"):
        time.sleep(3.0)
    return password == user + "-pw"
"""


def make_server(name, mpm, threads):
    srv = Apache(name=name, mpm=mpm,
                 server_conf=f"WSGIAuthDaemonProcess auth processes=1 threads={threads}\n"
                             + ("StartServers 8\nMinSpareServers 8\nServerLimit 12\n"
                                "MaxRequestWorkers 12\n" if mpm == "prefork" else
                                "StartServers 1\nServerLimit 1\nThreadsPerChild 12\n"
                                "MaxRequestWorkers 12\n"))
    srv.site_conf = private_location(srv.write_script("auth.py", SCRIPT))
    return srv


def concurrently(srv, users):
    """GET /private/ as each user at once; (user -> status, seconds taken)."""
    statuses = {}

    def call(user):
        statuses[user] = srv.get_basic("/private/", user, user + "-pw").status

    threads = [threading.Thread(target=call, args=(u,)) for u in users]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses, time.monotonic() - began


def daemon_trouble(srv):
    """The daemon lines above info level (a start is info)."""
    return [line for line in srv.error_lines("AUTHNZ_WSGI01") if ":info]" not in line]


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_up_to_threads_calls_run_at_once_and_never_more(mpm):
    srv = make_server(f"daemon-threads-{mpm}", mpm, threads=4)
    try:
        srv.start()
        assert srv.get_basic("/private/", "warm", "warm-pw").status == 200
        srv.clear_records()
        users = [f"slow{n}" for n in range(4)]
        statuses, took = concurrently(srv, users)
        assert statuses == {u: 200 for u in users}
        # Four calls of one second each, one after another, would take four.
        assert took < 2.5, took
        seen = srv.records()
        assert sorted(r["user"] for r in seen) == sorted(users)
        assert len({r["thread"] for r in seen}) == 4, ("four at once", seen)
        assert len({r["pid"] for r in seen}) == 1
        starts = sorted(r["start"] for r in seen)
        assert starts[-1] - starts[0] < 1.0, starts

        # Six such calls: four at once, then two: no fifth thread.
        srv.clear_records()
        users = [f"slow{n}" for n in range(6)]
        statuses, took = concurrently(srv, users)
        assert statuses == {u: 200 for u in users}
        assert took >= 2.0, took
        seen = srv.records()
        assert len({r["thread"] for r in seen}) == 4, ("six", seen)
        starts = sorted(r["start"] for r in seen)
        assert starts[4] - starts[0] >= 0.9, starts
        assert daemon_trouble(srv) == []
    finally:
        srv.cleanup()


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_a_blocked_call_does_not_hold_up_the_next(mpm):
    """While one call sleeps for 3 s, 30 short calls one after another are
    each answered at once by another thread."""
    srv = make_server(f"daemon-blocked-{mpm}", mpm, threads=3)
    try:
        srv.start()
        assert srv.get_basic("/private/", "warm", "warm-pw").status == 200
        srv.clear_records()
        blocked = {}

        def block():
            blocked["status"] = srv.get_basic("/private/", "blocked", "blocked-pw").status

        t = threading.Thread(target=block)
        t.start()
        time.sleep(0.3)
        slowest = 0.0
        for n in range(30):
            began = time.monotonic()
            right = n % 4 != 0
            status = srv.get_basic("/private/", f"quick{n}",
                                   f"quick{n}-pw" if right else "wrong").status
            slowest = max(slowest, time.monotonic() - began)
            assert status == (200 if right else 401), (n, status)
        still_blocked = t.is_alive()
        t.join()
        assert still_blocked, "the 30 calls took as long as the blocked one"
        assert blocked == {"status": 200}
        assert slowest < 1.0, slowest
        seen = srv.records()
        assert [r["user"] for r in seen if r["user"].startswith("quick")] == \
            [f"quick{n}" for n in range(30)]
        (blocker,) = [r["thread"] for r in seen if r["user"] == "blocked"]
        assert blocker not in {r["thread"] for r in seen if r["user"] != "blocked"}
        assert daemon_trouble(srv) == []
    finally:
        srv.cleanup()
