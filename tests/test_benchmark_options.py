"""bench/benchmark.py runs with every option it advertises (docs/performance.md):
each `--mpm` choice gets MPM settings it accepts (prefork has no
ThreadsPerChild), and option values it cannot use are refused with a
message before any server starts. Tiny runs: one round of one second. The
daemon cases (`--only daemon`), which need a module that runs
WSGIAuthDaemonProcess groups, are run by tests/test_express_daemon.py."""

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
