"""A short run of the soak (bench/soak/soak.py; `scripts/soak.sh` runs the
long one): mixed valid, wrong and unknown Basic users, Digest, groups, host
access, static files and a raising check at 64 connections, with children
recycled by a small MaxConnectionsPerChild, under the event, worker and
prefork MPMs; under event also graceful and hard restarts, script edits,
deletion and syntax errors, a raising group backend, hung checks and a
full WSGIMaxConcurrentCalls cap, all under load. Every request kind has one expected status: no unexpected
status, no failed request, no crashed child."""

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench" / "soak"))

import soak  # noqa: E402
from loadgen import run_load  # noqa: E402

ALL_PHASES = ["graceful", "restart", "reload", "raise", "hang", "cap"]


def check(report):
    problems = soak.verdict({"load": [report], "leak": []})
    assert problems == [], "\n".join(problems)


def test_event_with_faults_under_load():
    report = soak.soak_mpm("event", 12_000, 64, 300, ALL_PHASES, soak.cap_conf("event", "default"),
                           short=True)
    soak.print_summary({"load": [report], "leak": [], "seconds": 0, "problems": []})
    check(report)
    phases = report["phases"]
    steady = phases["steady"]
    assert steady["requests"] >= 12_000
    # Children were recycled (MaxConnectionsPerChild 300).
    assert steady["rss"]["children_seen"] > 2
    # Each state of the edited script was answered while it lasted.
    assert set(phases["reload"]["statuses"]["reload"]) == {200, 401, 500}
    assert set(phases["raise"]["statuses"]["flaky"]) == {200, 500}
    assert phases["raise"]["log_tags"].get("AUTHNZ_WSGI0042", 0) > 0
    # Busy loops were interrupted by the watchdog, sleeps refused when they returned.
    assert phases["hang"]["hung_ok"], phases["hang"]["hung_calls"]
    assert phases["hang"]["log_tags"].get("AUTHNZ_WSGI0045", 0) >= 4
    # With WSGIMaxConcurrentCalls 2 200ms, sleeping checks beyond the cap
    # were refused after the wait and static files kept being served.
    assert phases["cap"]["cap_ok"], phases["cap"]["cap_calls"]
    assert phases["cap"]["log_tags"].get("AUTHNZ_WSGI0044", 0) > 0


@pytest.mark.parametrize("mpm", ["worker", "prefork"])
def test_other_mpms_with_graceful_restart(mpm):
    mcpc = 300 if mpm == "worker" else 20
    report = soak.soak_mpm(mpm, 5_000, 64, mcpc, ["graceful"], soak.cap_conf(mpm, "default"),
                           short=True)
    check(report)
    assert report["phases"]["steady"]["requests"] >= 5_000
    assert report["phases"]["graceful"]["requests"] > 0


PYTHON_KINDS = {"basic-valid", "basic-wrong", "basic-unknown", "group-member", "group-nonmember",
                "digest-valid", "digest-wrong"}


def test_default_call_cap_refuses_nothing_under_plain_load():
    """Eight worker threads, 32 connections, only Python checks: threads
    that merely take turns on the GIL wait for a slot instead of being
    refused, so the default WSGIMaxConcurrentCalls refuses nothing."""
    conf = ("StartServers 1\nServerLimit 1\nThreadsPerChild 8\nMaxRequestWorkers 8\n"
            "MinSpareThreads 1\nMaxSpareThreads 8\n")
    server = soak.make_server("event", "cap", conf)
    server.start()
    try:
        kinds = [k for k in soak.kinds() if k.name in PYTHON_KINDS]
        stats = asyncio.run(run_load(server.port, kinds, 6_000, concurrency=32))
        refusals = server.error_lines("AUTHNZ_WSGI0044")
    finally:
        server.cleanup()
    assert stats.failed_total() == 0
    assert (stats.unexpected_total(), len(refusals)) == (0, 0), stats.summary()["unexpected_by_kind"]
