"""bench/benchmark.py runs with every option it advertises (docs/performance.md):
each `--mpm` choice gets MPM settings it accepts (prefork has no
ThreadsPerChild), `--only daemon` runs the daemon cases with the cases they
are paired with (the gil5ms pairs one case after the other), reports the
RSS of the daemon processes apart from Apache's children and the daemon
targets, and option values it cannot use are refused with a message before
any server starts. Tiny runs: one round of one second."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "benchmark.py"


def bench(*args, timeout=300):
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def need_tools():
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed")
    if not Path("/usr/lib/apache2/modules/mod_wsgi.so").exists():
        pytest.skip("mod_wsgi is not installed (the benchmark compares with it)")


@pytest.mark.parametrize("mpm,extra,described", [
    ("prefork", [], "MPM prefork (2 children)"),
    ("worker", ["--no-pin", "--threads", "2"], "MPM worker (2 children x 25 threads)"),
])
def test_a_short_run_under_each_mpm(mpm, extra, described):
    need_tools()
    p = bench("--mpm", mpm, "--rounds", "1", "--seconds", "1", "--connections", "2",
              "--only", "ours, WSGIAuthCacheTimeout", "--pairs-reps", "1", *extra)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Invalid command" not in p.stderr
    assert described in p.stdout, p.stdout
    for check in ("trivial", "slow", "no keep-alive"):
        assert f"| {check} | ours, WSGIAuthCacheTimeout | " in p.stdout, p.stdout
    if "--no-pin" in extra:
        assert "Side by side: not run" in p.stdout


def test_only_daemon_runs_the_daemon_cases_and_their_pairs():
    need_tools()
    p = bench("--mpm", "event", "--rounds", "1", "--seconds", "1", "--connections", "4",
              "--only", "daemon", "--pairs-reps", "1")
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    for check, config in [("trivial", "ours, daemon, uncached"),
                          ("trivial", "ours, daemon, WSGIAuthCacheTimeout"),
                          ("gil5ms", "ours, daemon processes=2"),
                          # the cases they are paired with
                          ("trivial", "no auth"), ("trivial", "ours, uncached"),
                          ("gil5ms", "ours, uncached (embedded)"),
                          ("gil5ms", "ours, uncached (embedded, 2 children)")]:
        assert f"| {check} | {config} | " in out, (check, config, out)
    assert "| trivial | mod_wsgi |" not in out
    assert "gil5ms: a Python loop that holds the GIL until its thread has used 5 ms of CPU" \
        in out
    # The pairs ran: side by side, and the gil5ms ones one after the other.
    assert "| trivial | no auth | ours, daemon, uncached | " in out, out
    assert "| gil5ms | ours, uncached (embedded) | ours, daemon processes=2 | " in out, out
    assert "one after the other  gil5ms" in p.stderr
    # RSS: the daemon processes apart from Apache's children.
    rss = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:6]]
           for line in out.splitlines() if line.startswith("| ours, daemon |")
           or line.startswith("| gil, one child |") or line.startswith("| ours |")}
    assert rss["ours, daemon"][2] == "1" and rss["gil, one child"][2] == "2", rss
    assert rss["ours"][2] == "0" and rss["ours"][0] == "2", rss
    assert "Daemon targets (median B/A req/s of the pairs):" in out
    assert "- gil5ms: ours, daemon processes=2 / ours, uncached (embedded) >= 1.8: " in out


@pytest.mark.parametrize("args,message", [
    (["--mpm", "threaded"], "invalid choice: 'threaded'"),
    (["--threads", "3", "--connections", "2"], "--threads must be between 1 and --connections"),
    (["--connections", "0"], "--connections must be at least 1"),
    (["--pairs-reps", "-1"], "--pairs-reps must be 0 or more"),
    (["--only", "no-such-case"], "matches no check or configuration"),
    (["--daemon-processes", "0"], "--daemon-processes must be from 1 to 64"),
    (["--daemon-threads", "1001"], "--daemon-threads must be from 1 to 1000"),
])
def test_unusable_values_are_refused_before_anything_starts(args, message):
    need_tools()
    p = bench(*args, timeout=60)
    assert p.returncode != 0
    assert message in p.stderr, p.stderr
    assert "bench-" not in p.stderr  # no server was made
