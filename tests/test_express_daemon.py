"""authnz-wsgi-express with --auth-daemon and the options that imply it:
the configuration setup-server writes (one `WSGIAuthDaemonProcess express`
and `process-group=express` on every script directive; it passes
`apache2 -t`), bad values refused with exit status 2 before anything is
written, and start-server against a real Apache, where the scripts record
the process that ran them: every check ran in a process whose
/proc/PID/comm is `authnz-daemon`, a child of Apache's parent, as the
account asked for, as many of them as asked for; the in-process cache
answers in Apache's children without asking the daemons; and stopping
Apache leaves no daemon behind. Also a tiny run of the benchmark's daemon
cases (bench/benchmark.py --only daemon).

Needs `cargo build --release --workspace` (the launcher and the module in
target/release/)."""

import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import RECORD_SNIPPET, ROOT, basic_header, clear_records, records, wait_for
from test_express import (Express, express, get, get_digest, make_work, need_binaries,
                          setup_conf)

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
DAEMON_COMM = "authnz-daemon"

# Each function records the process it ran in: pid, parent, comm, uid.
WHERE = """
import os

def where():
    with open("/proc/self/comm") as f:
        comm = f.read().strip()
    return dict(pid=os.getpid(), ppid=os.getppid(), comm=comm, uid=os.getuid())
"""

AUTH_SCRIPT = RECORD_SNIPPET + WHERE + f"""
import hashlib, time

USERS = {USERS!r}

def check_password(environ, user, password):
    record(function="check_password", user=user, **where())
    if user == "sleepy":
        time.sleep(5)
    if user not in USERS:
        return None
    return USERS[user] == password

def get_realm_hash(environ, user, realm):
    record(function="get_realm_hash", user=user, **where())
    if user not in USERS:
        return None
    return hashlib.md5(f"{{user}}:{{realm}}:{{USERS[user]}}".encode()).hexdigest()
"""

GROUPS_SCRIPT = RECORD_SNIPPET + WHERE + """
GROUPS = {"alice": ["staff"], "bob": ["other"]}

def groups_for_user(environ, user):
    record(function="groups_for_user", user=user, **where())
    return GROUPS.get(user, [])
"""

HOSTS_SCRIPT = RECORD_SNIPPET + WHERE + """
def allow_access(environ, host):
    record(function="allow_access", host=host, **where())
    return "HTTP_X_DENY" not in environ
"""


# ---- helpers -------------------------------------------------------------------

@pytest.fixture(scope="module")
def work():
    """Scripts in scripts/ recording into record/ (writable by the daemons'
    account), and a static page."""
    need_binaries()
    path = make_work("authnz-wsgi-express-daemon-",
                     {"scripts": 0o755, "record": 0o777, "docs": 0o755},
                     {"scripts/auth.py": AUTH_SCRIPT, "scripts/groups.py": GROUPS_SCRIPT,
                      "scripts/hosts.py": HOSTS_SCRIPT, "docs/index.html": "static page\n"})
    yield path
    shutil.rmtree(path, ignore_errors=True)


def script(w, name):
    return w / "scripts" / name


def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def parent(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def uid_of(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def daemons_of(apache_pid):
    """The pids of the daemon processes Apache's parent `apache_pid` runs."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and comm(entry.name) == DAEMON_COMM \
                and parent(entry.name) == apache_pid:
            pids.append(int(entry.name))
    return sorted(pids)


def expected_uid():
    """The account the daemons run as by default: Apache's user, which the
    launcher makes www-data when it runs as root."""
    return pwd.getpwnam("www-data").pw_uid if os.geteuid() == 0 else os.geteuid()


def alice():
    return {"Authorization": basic_header("alice", "alice-pw")}


# ---- options ---------------------------------------------------------------------

def test_help_lists_the_daemon_options():
    need_binaries()
    p = express("--help")
    assert p.returncode == 0
    for option in ["--auth-daemon", "--auth-daemon-user", "--auth-daemon-group",
                   "--auth-daemon-processes", "--auth-daemon-threads", "--auth-daemon-timeout"]:
        assert f"  {option} " in p.stdout, option
    line = next(l for l in p.stdout.splitlines() if l.startswith("  --auth-daemon-processes "))
    assert "implies --auth-daemon" in line


BAD_OPTIONS = {
    "no-script": (lambda w: ["--auth-daemon"],
                  "--auth-daemon needs a script to run in the daemon processes"),
    "implied-no-script": (lambda w: ["--auth-daemon-threads", "4"],
                          "--auth-daemon-threads needs a script"),
    "processes-zero": (lambda w: [*auth(w), "--auth-daemon-processes", "0"],
                       "--auth-daemon-processes: '0' is not a whole number from 1 to"),
    "threads-word": (lambda w: [*auth(w), "--auth-daemon-threads", "many"],
                     "--auth-daemon-threads: 'many' is not a whole number"),
    "timeout-too-long": (lambda w: [*auth(w), "--auth-daemon-timeout", "86401"],
                         "--auth-daemon-timeout: '86401' is not a whole number from 0 to 86400"),
    "processes-too-many": (lambda w: [*auth(w), "--auth-daemon-processes", "65"],
                           "from 1 to 64"),
    "flag-with-value": (lambda w: [*auth(w), "--auth-daemon=yes"],
                        "--auth-daemon takes no value"),
    "user-root": (lambda w: [*auth(w), "--auth-daemon-user", "root"],
                  "--auth-daemon-user: 'root' is root"),
    "user-uid-0": (lambda w: [*auth(w), "--auth-daemon-user", "#0"],
                   "--auth-daemon-user: '#0' is root"),
    "user-unknown": (lambda w: [*auth(w), "--auth-daemon-user", "no-such-user-x"],
                     "--auth-daemon-user: there is no user 'no-such-user-x'"),
    "group-root": (lambda w: [*auth(w), "--auth-daemon-group", "root"],
                   "--auth-daemon-group: 'root' is root's group"),
    "server-root-too-long": (lambda w: [*auth(w), "--auth-daemon", "--server-root",
                                        "/tmp/" + "r" * 80],
                             "is too long for --auth-daemon"),
    "group-unknown": (lambda w: [*auth(w), "--auth-daemon-group", "no-such-group-x"],
                      "--auth-daemon-group: there is no group 'no-such-group-x'"),
    "apache-user-root": (lambda w: [*auth(w), "--user", "root", "--auth-daemon"],
                         "would run as Apache's user 'root'"),
}


def auth(w):
    return ["--auth-user-script", script(w, "auth.py")]


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_daemon_options_fail_with_a_message(work, case):
    make_args, message = BAD_OPTIONS[case]
    if case == "apache-user-root" and os.geteuid() != 0:
        # Not root: Apache keeps the invoking user, which is not root.
        make_args = lambda w: [*auth(w), "--auth-daemon-user", "root"]  # noqa: E731
        message = "is root"
    args = [str(a) for a in make_args(work)]
    if "--server-root" in args:
        root = Path(args[args.index("--server-root") + 1])
    else:
        root = work / f"never-{case}"
        args = ["--server-root", root, *args]
    p = express("start-server", *args, timeout=30)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "authnz-wsgi-express: error: " in p.stderr
    assert message in p.stderr, p.stderr
    assert not root.exists()


# id -> (arguments, text the configuration must contain), given the work dir
CONFIG_CASES = {
    "flag": lambda w: (
        [*auth(w), "--auth-daemon"],
        ["WSGIAuthDaemonProcess express processes=1 threads=15\n",
         f'WSGIAuthUserScript "{script(w, "auth.py")}" process-group=express\n']),
    "every-setting": lambda w: (
        [*auth(w), "--auth-daemon-user", "nobody", "--auth-daemon-group", "nogroup",
         "--auth-daemon-processes", "3", "--auth-daemon-threads", "4",
         "--auth-daemon-timeout", "20"],
        ["WSGIAuthDaemonProcess express user=nobody group=nogroup processes=3 threads=4 "
         "call-timeout=20\n"]),
    "every-script": lambda w: (
        [*auth(w), "--auth-group-script", script(w, "groups.py"), "--auth-group", "staff",
         "--host-access-script", script(w, "hosts.py"), "--application-group", "site 1",
         "--auth-daemon-processes", "2"],
        ["WSGIAuthDaemonProcess express processes=2 threads=15\n",
         f'WSGIAuthGroupScript "{script(w, "groups.py")}" application-group="site 1" '
         "process-group=express\n",
         f'WSGIAccessScript "{script(w, "hosts.py")}" application-group="site 1" '
         "process-group=express\n"]),
    "digest-cache-python": lambda w: (
        [*auth(w), "--auth-type", "Digest", "--auth-daemon", "--auth-cache-timeout", "60",
         "--python-path", w / "scripts"],
        [f'processes=1 threads=15 "python-path={w / "scripts"}"\n',
         "    WSGIAuthCacheTimeout 60\n"]),
    "no-call-timeout": lambda w: (
        [*auth(w), "--auth-daemon-timeout", "0", "--script-timeout", "10"],
        ["WSGIScriptTimeout 10\n",
         "WSGIAuthDaemonProcess express processes=1 threads=15 call-timeout=0\n"]),
    "prefork": lambda w: (
        [*auth(w), "--mpm", "prefork", "--processes", "3", "--auth-daemon-processes", "2"],
        ["LoadModule mpm_prefork_module", "StartServers 3\n",
         "WSGIAuthDaemonProcess express processes=2 threads=15\n"]),
    "host-access-only": lambda w: (
        ["--host-access-script", script(w, "hosts.py"), "--auth-daemon-threads", "2"],
        ["WSGIAuthDaemonProcess express processes=1 threads=2\n", "process-group=express\n"]),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_daemon_config_is_written_and_passes_configtest(work, case):
    args, expected = CONFIG_CASES[case](work)
    conf, stdout, _ = setup_conf(work, *args)
    for text in expected:
        assert text in conf, (text, conf)
    assert conf.index("WSGIAuthDaemonProcess express") < conf.index("<Location />")
    assert conf.count("process-group=express") == sum(
        conf.count(d + " ") for d in ("WSGIAuthUserScript", "WSGIAuthGroupScript",
                                      "WSGIAccessScript"))
    assert "Auth Daemons      : express: " in stdout, stdout


# ---- a real server -----------------------------------------------------------------

def test_every_check_runs_in_a_daemon_process_of_apache(work):
    """Basic, groups and host access through two daemon processes: each
    call ran in a process named authnz-daemon whose parent is Apache's
    parent, as Apache's user; Apache's children run no script."""
    clear_records(work)
    args = [*auth(work), "--auth-group-script", script(work, "groups.py"), "--auth-group",
            "staff", "--host-access-script", script(work, "hosts.py"),
            "--auth-daemon-processes", "2", "--auth-daemon-threads", "3",
            "--document-root", work / "docs"]
    with Express(work, *args) as srv:
        apache = srv.proc.pid  # start-server execs Apache: this is its parent
        daemons = wait_for(lambda: (lambda d: d if len(d) == 2 else None)(daemons_of(apache)),
                           timeout=15)
        assert daemons and len(daemons) == 2, daemons_of(apache)
        for pid in daemons:
            assert uid_of(pid) == expected_uid()
        assert get(srv.url + "/", alice())[:3:2] == (200, "static page\n")
        assert get(srv.url + "/", {"Authorization": basic_header("bob", "bob-pw")})[0] == 403
        assert get(srv.url + "/", {"Authorization": basic_header("alice", "x")})[0] == 401
        assert get(srv.url + "/", {**alice(), "X-Deny": "1"})[0] == 403
        calls = records(work)
        children = [p for p in _children(apache) if p not in daemons]
    functions = {c["function"] for c in calls}
    assert functions == {"check_password", "groups_for_user", "allow_access"}, calls
    for call in calls:
        assert call["comm"] == DAEMON_COMM, call
        assert call["ppid"] == apache, call
        assert call["pid"] in daemons, (call, daemons)
        assert call["uid"] == expected_uid(), call
        assert call["pid"] not in children
    # Nothing is left once Apache has stopped.
    assert wait_for(lambda: not any(comm(p) == DAEMON_COMM for p in daemons), timeout=10)


def _children(pid):
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and parent(e.name) == pid]


def test_digest_runs_in_the_daemon(work):
    clear_records(work)
    args = [*auth(work), "--auth-type", "Digest", "--auth-realm", "daemon realm",
            "--auth-daemon", "--document-root", work / "docs"]
    with Express(work, *args) as srv:
        status, body = get_digest(srv.url + "/", "alice", "alice-pw", "daemon realm")
        assert (status, body) == (200, "static page\n")
        apache = srv.proc.pid
    calls = [c for c in records(work) if c["function"] == "get_realm_hash"]
    assert calls and all(c["comm"] == DAEMON_COMM and c["ppid"] == apache for c in calls), calls


def test_the_cache_answers_in_apaches_children(work):
    """--auth-cache-timeout stays in front of the daemons: one login, then
    the same login answered without a daemon call."""
    clear_records(work)
    args = [*auth(work), "--auth-daemon", "--auth-cache-timeout", "60", "--processes", "1",
            "--document-root", work / "docs"]
    with Express(work, *args) as srv:
        for _ in range(3):
            assert get(srv.url + "/", alice())[0] == 200
        assert [c["user"] for c in records(work)] == ["alice"]
        assert records(work)[0]["comm"] == DAEMON_COMM


def test_the_daemons_run_as_the_account_asked_for(work):
    """Started as root (as the tests are), Apache starts the daemons as
    --auth-daemon-user."""
    assert os.geteuid() == 0, "run the tests as root: Apache switches accounts"
    clear_records(work)
    nobody = pwd.getpwnam("nobody")
    args = [*auth(work), "--auth-daemon-user", "nobody", "--document-root", work / "docs"]
    with Express(work, *args) as srv:
        assert get(srv.url + "/", alice())[0] == 200
        daemons = daemons_of(srv.proc.pid)
        assert daemons and all(uid_of(p) == nobody.pw_uid for p in daemons)
    calls = records(work)
    assert calls and all(c["uid"] == nobody.pw_uid and c["comm"] == DAEMON_COMM
                         for c in calls), calls


def test_the_call_timeout_answers_500_and_the_daemon_is_replaced(work):
    """--auth-daemon-timeout 1 (over --script-timeout 30): a check that
    sleeps 5 s is answered 500 within about two seconds; the group keeps its
    process count and serves the next request."""
    clear_records(work)
    args = [*auth(work), "--auth-daemon-timeout", "1", "--script-timeout", "30",
            "--document-root", work / "docs"]
    conf, _, _ = setup_conf(work, *args)
    assert "WSGIAuthDaemonProcess express processes=1 threads=15 call-timeout=1\n" in conf
    with Express(work, *args) as srv:
        assert get(srv.url + "/", alice())[0] == 200
        started = time.monotonic()
        assert get(srv.url + "/", {"Authorization": basic_header("sleepy", "x")})[0] == 500
        assert time.monotonic() - started < 4
        assert wait_for(lambda: get(srv.url + "/", alice())[0] == 200, timeout=15)
        assert wait_for(lambda: len(daemons_of(srv.proc.pid)) == 1, timeout=15)
    assert {c["comm"] for c in records(work)} == {DAEMON_COMM}


# ---- the benchmark's daemon cases -------------------------------------------------

def bench(*args, timeout=600):
    return subprocess.run([sys.executable, str(ROOT / "bench" / "benchmark.py"), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_the_benchmarks_daemon_cases_run_with_their_pairs():
    """bench/benchmark.py --only daemon (docs/performance.md): the daemon
    cases with the cases they are paired with (the gil5ms pairs one case
    after the other), the RSS of the daemon processes apart from Apache's
    children, and the daemon targets. A tiny run: one round of a second."""
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed (apt-get install wrk)")
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
