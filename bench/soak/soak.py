"""Load, soak and fault run of mod_authnz_wsgi against real Apache servers on
127.0.0.1 (see scripts/soak.sh for the command line).

Per MPM (event, worker, prefork), one server with a small
MaxConnectionsPerChild (children are recycled all the time) runs:

  steady     N mixed requests at C connections: valid, wrong and unknown
             Basic users, Digest (a client that follows nonces), groups
             (member / not member), WSGIAccessScript and Require wsgi-host
             (allowed / denied), static files, a check that raises. Every
             kind has one expected status. Children's VmRSS is sampled.
  graceful   load while `apache2 -k graceful` (SIGUSR1) runs twice: no
             failed request, no unexpected status.
  restart    load while `apache2 -k restart` (SIGHUP) runs: resets while
             the children are killed are counted apart; none after.
  reload     the script of /reload is edited (401), restored, deleted (500),
             restored, made a syntax error (500) and restored, under load:
             each state answers its status once the one-second mtime check
             has seen it; no restart.
  raise      the group backend of /flaky starts raising (500) and recovers.
  hang       WSGIScriptTimeout 1 on /slow: busy loops and blocking sleeps in
             Python answer 500 while every other kind keeps its status.
  cap        (threaded MPMs) a graceful restart sets WSGIMaxConcurrentCalls
             2 200ms and 12 checks that sleep 3 s arrive at once: beyond the
             cap they are refused after the 200 ms wait (500), Python checks
             of a full child may be refused (500/403), static files all get
             200; the default cap is restored.

Then, per MPM, a second server without recycling runs the leak check:
a warm-up, then >= 100k requests between two snapshots of each child
(VmRSS, and from inside Python: gc object count, sys.getallocatedblocks(),
tracemalloc's traced memory and its top growth lines).

Crashes are read from the error log: "exit signal", "Segmentation fault",
AH00052, and AUTHNZ_WSGI0001 (a Rust panic caught at the boundary).

--daemon runs the same with every script directive naming a
WSGIAuthDaemonProcess group (`process-group=soak`; processes=2, threads=15
unless --daemon-processes/--daemon-threads say otherwise): every Python call
crosses the Unix socket to a daemon process. /slow's script, whose checks
overrun their limit on purpose, runs in a group of its own (`soak-slow`,
one process), as a site would keep a script that may hang apart: the
watchdog ends the process of a call that overran, and the calls running in
that process at that moment are answered 500. The daemons' VmRSS is sampled
apart from the children's (they name themselves authnz-daemon); they are
not recycled, so the steady phase must see exactly the groups' processes,
and a daemon that ends (AUTHNZ_WSGI0121) outside the hang and cap phases is
a problem.
In the leak check the Python figures (gc objects, allocated blocks,
tracemalloc) come from the daemons, where the scripts run, and VmRSS from
the daemons and the children. Phases that cannot apply in daemon mode are
skipped with the reason printed (DAEMON_SKIPS). The default (embedded) run
is unchanged.
"""

import argparse
import asyncio
import collections
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))

from harness import APACHE_BIN, Apache  # noqa: E402
from loadgen import Control, Kind, basic, run_load  # noqa: E402

REALM = "soak"
CRASH_PATTERNS = [
    re.compile(r"exit signal"),
    re.compile(r"Segmentation fault"),
    re.compile(r"AH00052"),
    re.compile(r"AUTHNZ_WSGI0001"),
    re.compile(r"panicked"),
]

USERS_SCRIPT = f"""
import gc, hashlib, os, sys, threading

USERS = {{"alice": "secret", "bob": "secret"}}
_SNAPSHOT = None

_MALLINFO2 = None

def _malloc_in_use():
    # glibc's mallinfo2 over every arena: bytes handed out by malloc and
    # still in use (small chunks + mmapped ones), whoever allocated them
    # (Rust, APR, CPython's raw allocations). Set up once per child.
    global _MALLINFO2
    if _MALLINFO2 is None:
        import ctypes
        class MallInfo2(ctypes.Structure):
            _fields_ = [(n, ctypes.c_size_t) for n in
                        ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                         "uordblks", "fordblks", "keepcost")]
        fn = ctypes.CDLL(None).mallinfo2
        fn.restype = MallInfo2
        _MALLINFO2 = fn
    m = _MALLINFO2()
    return m.uordblks + m.hblkhd, m.arena

def _stats(phase):
    import tracemalloc
    global _SNAPSHOT
    gc.collect()
    info = dict(phase=phase, pid=os.getpid(), gc_objects=len(gc.get_objects()),
                blocks=sys.getallocatedblocks(), threads=threading.active_count())
    info["malloc_in_use"], info["malloc_arena"] = _malloc_in_use()
    if phase == "trace-start":
        if not tracemalloc.is_tracing():
            tracemalloc.start(5)
        _SNAPSHOT = tracemalloc.take_snapshot()
    elif phase == "trace-end" and _SNAPSHOT is not None:
        snapshot = tracemalloc.take_snapshot()
        info["traced_bytes"], info["traced_peak"] = tracemalloc.get_traced_memory()
        diff = snapshot.compare_to(_SNAPSHOT, "lineno")
        info["traced_growth"] = sum(s.size_diff for s in diff)
        info["top_growth"] = [str(s) for s in diff[:5]]
    record("stats", **info)

def check_password(environ, user, password):
    if user == "__stats__":
        _stats(password)
        return False
    if user == "raise":
        raise RuntimeError("the user database is down")
    if user not in USERS:
        return None
    return USERS[user] == password

def get_realm_hash(environ, user, realm):
    if user not in USERS:
        return None
    return hashlib.md5(f"{{user}}:{{realm}}:{{USERS[user]}}".encode()).hexdigest()
"""

GROUPS_SCRIPT = """
GROUPS = {"alice": ["staff", "ops"], "bob": ["other"]}

def groups_for_user(environ, user):
    return GROUPS.get(user, [])
"""

FLAKY_SCRIPT = """
import os

FLAG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flaky.down")

def groups_for_user(environ, user):
    if os.path.exists(FLAG):
        raise ConnectionError("group backend unreachable")
    return ["staff"]
"""

ACCESS_SCRIPT = """
def allow_access(environ, host):
    if environ.get("HTTP_X_VERDICT") == "deny":
        return False
    return host == "127.0.0.1"
"""

RELOAD_VERSIONS = {
    "good": "def check_password(environ, user, password):\n    return password == 'secret'\n",
    "edited": "def check_password(environ, user, password):\n    return False\n",
    "broken": "def check_password(environ, user, password:\n    return True\n",
}

SLOW_SCRIPT = """
import time

def check_password(environ, user, password):
    if user == "loop":
        while True:
            pass
    if user == "sleep":
        time.sleep(3)
    return True
"""

BASIC = """  AuthType Basic
  AuthName "{realm}"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{users}"{opt}
"""

# --daemon: the daemon group every script directive names, and the group
# of its own for /slow, whose checks overrun their time limit on purpose
# (hang and cap phases): the watchdog ends the process of a call that
# overran, and calls running in that process at that moment are answered
# 500, so a site keeps a script that may hang apart, as here.
DAEMON_GROUP = "soak"
SLOW_GROUP = "soak-slow"


def site_conf(s, opt="", slow_opt=""):
    """The locations; `opt` follows every script directive's path but
    /slow's, which `slow_opt` follows (daemon mode: ` process-group=soak`,
    ` process-group=soak-slow`)."""
    b = BASIC.format(realm=REALM, users=s["users"], opt=opt)
    reload_auth = BASIC.format(realm=REALM, users=s["reload"], opt=opt)
    slow_auth = BASIC.format(realm=REALM, users=s["slow"], opt=slow_opt)
    return f"""
<Location /basic>
{b}  Require valid-user
</Location>
<Location /raise>
{b}  Require valid-user
</Location>
<Location /group>
{b}  WSGIAuthGroupScript "{s['groups']}"{opt}
  AuthzSendForbiddenOnFailure On
  Require wsgi-group staff
</Location>
<Location /flaky>
{b}  WSGIAuthGroupScript "{s['flaky']}"{opt}
  AuthzSendForbiddenOnFailure On
  Require wsgi-group staff
</Location>
<Location /access>
  WSGIAccessScript "{s['access']}"{opt}
  Require all granted
</Location>
<Location /host>
  WSGIAccessScript "{s['access']}"{opt}
  Require wsgi-host
</Location>
<Location /digest>
  AuthType Digest
  AuthName "{REALM}"
  AuthDigestProvider wsgi
  AuthDigestDomain /digest/
  WSGIAuthUserScript "{s['users']}"{opt}
  Require valid-user
</Location>
<Location /reload>
{reload_auth}  Require valid-user
</Location>
<Location /slow>
{slow_auth}  WSGIScriptTimeout 1
  Require valid-user
</Location>
"""


def kinds():
    a, b = basic("alice", "secret"), basic("bob", "secret")
    return [
        Kind("static", "/static/index.html", 200, 4),
        Kind("basic-valid", "/basic/index.html", 200, 16, [a]),
        Kind("basic-wrong", "/basic/index.html", 401, 7, [basic("alice", "wrong")]),
        Kind("basic-unknown", "/basic/index.html", 401, 7, [basic("nobody", "x")]),
        Kind("group-member", "/group/index.html", 200, 9, [a]),
        Kind("group-nonmember", "/group/index.html", 403, 5, [b]),
        Kind("access-allow", "/access/index.html", 200, 6),
        Kind("access-deny", "/access/index.html", 403, 3, ["X-Verdict: deny"]),
        Kind("host-allow", "/host/index.html", 200, 4),
        Kind("host-deny", "/host/index.html", 403, 2, ["X-Verdict: deny"]),
        Kind("digest-valid", "/digest/index.html", 200, 9, digest=("alice", "secret", REALM)),
        Kind("digest-wrong", "/digest/index.html", 401, 3, digest=("alice", "wrong", REALM)),
        Kind("raise", "/raise/index.html", 500, 2, [basic("raise", "x")]),
        Kind("flaky", "/flaky/index.html", 200, 3, [a]),
        Kind("reload", "/reload/index.html", 200, 4, [a]),
    ]


MPM_CONF = {
    "event": """StartServers 2
ServerLimit 4
ThreadsPerChild 25
MaxRequestWorkers 100
MinSpareThreads 25
MaxSpareThreads 75
""",
    "worker": """StartServers 2
ServerLimit 4
ThreadsPerChild 25
MaxRequestWorkers 100
MinSpareThreads 25
MaxSpareThreads 75
""",
    "prefork": """StartServers 16
MinSpareServers 8
MaxSpareServers 80
ServerLimit 80
MaxRequestWorkers 80
""",
}

# The leak check: children that live through the whole run.
LEAK_MPM_CONF = {
    "event": "StartServers 1\nServerLimit 1\nThreadsPerChild 64\nMaxRequestWorkers 64\n"
    "MinSpareThreads 1\nMaxSpareThreads 64\n",
    "worker": "StartServers 1\nServerLimit 1\nThreadsPerChild 64\nMaxRequestWorkers 64\n"
    "MinSpareThreads 1\nMaxSpareThreads 64\n",
    "prefork": "StartServers 4\nMinSpareServers 4\nMaxSpareServers 5\nServerLimit 4\n"
    "MaxRequestWorkers 4\n",
}

COMMON_CONF = """KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 5
ListenBacklog 1024
LogLevel notice auth_basic:crit auth_digest:crit authz_core:crit authnz_wsgi:info
"""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- servers ----------------------------------------------------------------


def daemon_conf(daemon, slow_apart=True):
    """`daemon`: None (embedded) or {"processes": N, "threads": T}: the
    server-level lines of the daemon group every script runs in and, with
    `slow_apart`, of /slow's group."""
    if not daemon:
        return ""
    return (f"WSGIAuthDaemonProcess {DAEMON_GROUP} processes={daemon['processes']} "
            f"threads={daemon['threads']}\n"
            + (f"WSGIAuthDaemonProcess {SLOW_GROUP} processes=1 threads=15\n"
               if slow_apart else ""))


def daemon_processes(daemon):
    """The daemon processes a daemon-mode server runs: its groups'."""
    return daemon["processes"] + 1 if daemon else 0


def make_server(mpm, name, mpm_conf, extra="", daemon=None, slow_apart=True):
    """A soak server; with `daemon` (see daemon_conf) every script runs in
    a WSGIAuthDaemonProcess group, /slow's in a group of its own unless
    `slow_apart` is false (the leak check, which never calls it)."""
    server = Apache(name=f"soak-{name}-{mpm}", mpm=mpm,
                    server_conf=COMMON_CONF + mpm_conf + extra
                    + daemon_conf(daemon, slow_apart))
    scripts = {
        "users": server.write_script("users.py", USERS_SCRIPT),
        "groups": server.write_script("groups.py", GROUPS_SCRIPT, record=False),
        "flaky": server.write_script("flaky.py", FLAKY_SCRIPT, record=False),
        "access": server.write_script("access.py", ACCESS_SCRIPT, record=False),
        "reload": server.write_script("reload.py", RELOAD_VERSIONS["good"], record=False),
        "slow": server.write_script("slow.py", SLOW_SCRIPT, record=False),
    }
    group = f" process-group={DAEMON_GROUP}"
    server.site_conf = (site_conf(scripts, group,
                                  f" process-group={SLOW_GROUP}" if slow_apart else group)
                        if daemon else site_conf(scripts))
    server.daemon = daemon
    for d in ("static", "basic", "raise", "group", "flaky", "access", "host", "digest", "reload",
              "slow"):
        (server.docroot / d).mkdir()
        (server.docroot / d / "index.html").write_text(f"{d}\n")
    server.soak_scripts = scripts
    return server


def apachectl(server, action):
    """`apache2 -k graceful|restart -f CONF` (SIGUSR1 / SIGHUP to the parent)."""
    subprocess.run([APACHE_BIN, "-k", action, "-f", str(server.conf_path)], check=True,
                   capture_output=True, timeout=60)


def child_pids(parent):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                pids.append(int(entry))
    return pids


def vm_rss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


DAEMON_COMM = "authnz-daemon"


def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def split_children(parent):
    """The children of Apache's parent: (Apache children, daemon processes).
    A daemon process names itself authnz-daemon (/proc/PID/comm)."""
    children, daemons = [], []
    for pid in child_pids(parent):
        (daemons if comm(pid) == DAEMON_COMM else children).append(pid)
    return sorted(children), sorted(daemons)


class RssSampler(threading.Thread):
    """Samples the VmRSS of every child of the server every `interval` s:
    Apache's children and, apart, its daemon processes."""

    def __init__(self, parent, interval=1.0):
        super().__init__(daemon=True)
        self.parent = parent
        self.interval = interval
        self.samples = collections.defaultdict(list)  # pid -> [(t, kb)]
        self.daemons = set()  # the pids of daemon processes among them
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            now = time.monotonic()
            for pid in child_pids(self.parent):
                kb = vm_rss_kb(pid)
                if kb:
                    # A daemon names itself right after the fork: asked
                    # until it has.
                    if pid not in self.daemons and comm(pid) == DAEMON_COMM:
                        self.daemons.add(pid)
                    self.samples[pid].append((now, kb))
            self.halt.wait(self.interval)

    def stop(self):
        self.halt.set()
        self.join(timeout=10)

    def report(self, warmup=5.0, min_life=15.0, daemons=False):
        """Per child (or, with `daemons`, per daemon process): growth from
        `warmup` s after it appeared to its last sample, over those sampled
        for at least `min_life` s."""
        samples = {pid: s for pid, s in self.samples.items()
                   if (pid in self.daemons) == daemons}
        growth = []
        for pid, s in samples.items():
            start = s[0][0] + warmup
            after = [kb for t, kb in s if t >= start]
            if s[-1][0] - s[0][0] >= min_life and len(after) >= 2:
                growth.append((after[-1] / after[0] - 1) * 100)
        firsts = [s[0][1] for s in samples.values()]
        lasts = [s[-1][1] for s in samples.values()]
        return {
            "children_seen": len(samples),
            "children_measured": len(growth),
            "rss_growth_pct_max": round(max(growth), 2) if growth else None,
            "rss_growth_pct_median": round(statistics.median(growth), 2) if growth else None,
            "rss_kb_first_median": int(statistics.median(firsts)) if firsts else None,
            "rss_kb_last_median": int(statistics.median(lasts)) if lasts else None,
            "rss_kb_max": max((kb for s in samples.values() for _, kb in s), default=None),
        }


# A daemon process that ended (AUTHNZ_WSGI0121). Its line quotes httpd's
# "exit signal" line, which a crash adds on its own: it is not a crash line
# itself. The watchdog ends a process whose call overran (the hang and cap
# phases); anywhere else an ended daemon is a problem (see verdict).
DAEMON_ENDED = "AUTHNZ_WSGI0121"


def is_crash_line(line):
    return DAEMON_ENDED not in line and any(p.search(line) for p in CRASH_PATTERNS)


def crash_lines(server):
    return [l for l in server.error_log().splitlines() if is_crash_line(l)]


def tag_counts(text):
    return dict(sorted(collections.Counter(re.findall(r"AUTHNZ_WSGI\d{4}", text)).items()))


def wait_generation(server, before, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.error_log().count("resuming normal operations") > before:
            return True
        time.sleep(0.05)
    return False


# ---- phases -----------------------------------------------------------------


def run(coro):
    return asyncio.run(coro)


async def load_during(server, control, duration, concurrency, actions, seed, stop_after=False):
    """Run load while `actions` (an async function taking the control) runs
    alongside; the load stops when the actions are done (`stop_after`) or
    after `duration` s at the latest."""
    load = asyncio.ensure_future(
        run_load(server.port, control, total=10**9, concurrency=concurrency, duration=duration, seed=seed)
    )
    try:
        await actions(control)
    finally:
        if stop_after:
            control.stop = True
        stats = await load
    return stats


def phase_graceful(server, concurrency, seed, short=False):
    control = Control(kinds())
    pause = 1.5 if short else 2.5

    async def actions(c):
        for _ in range(1 if short else 2):
            await asyncio.sleep(pause)
            before = server.error_log().count("resuming normal operations")
            await asyncio.to_thread(apachectl, server, "graceful")
            assert await asyncio.to_thread(wait_generation, server, before), "graceful did not finish"
        await asyncio.sleep(pause)

    return run(load_during(server, control, 60, concurrency, actions, seed, stop_after=True))


def phase_restart(server, concurrency, seed, short=False):
    control = Control(kinds())

    async def actions(c):
        await asyncio.sleep(1.5 if short else 2.0)
        before = server.error_log().count("resuming normal operations")
        c.restarting = True
        await asyncio.to_thread(apachectl, server, "restart")
        ok = await asyncio.to_thread(wait_generation, server, before)
        # Connections the old children held are reset until the new ones run.
        await asyncio.sleep(1.0)
        c.restarting = False
        assert ok, "restart did not finish"
        await asyncio.sleep(1.5 if short else 3.0)

    return run(load_during(server, control, 60, concurrency, actions, seed, stop_after=True))


def phase_reload(server, concurrency, seed, short=False):
    """Edit, delete and break /reload's script under load. While the
    one-second mtime check may not have seen a change yet, both the old and
    the new status are allowed; afterwards only the new one."""
    control = Control(kinds())
    path = Path(server.soak_scripts["reload"])
    steps = [("edited", 401), ("good", 200), ("deleted", 500), ("good", 200), ("broken", 500),
             ("good", 200)]
    settle, hold = (2.5, 0.8) if short else (2.5, 1.5)

    async def actions(c):
        await asyncio.sleep(1.0)
        current = 200
        for i, (state, status) in enumerate(steps):
            c.allow("reload", {current, status})
            if state == "deleted":
                path.unlink()
            else:
                # Replaced whole, as a deployment does: a request never
                # reads a half-written file. Distinct whole-second mtimes.
                tmp = path.with_suffix(".tmp")
                tmp.write_text(RELOAD_VERSIONS[state])
                os.chmod(tmp, 0o644)
                stamp = int(time.time()) + i + 1
                os.utime(tmp, (stamp, stamp))
                os.replace(tmp, path)
            await asyncio.sleep(settle)
            c.allow("reload", {status})
            await asyncio.sleep(hold)
            current = status

    return run(load_during(server, control, 120, concurrency, actions, seed, stop_after=True))


def phase_raise(server, concurrency, seed, short=False):
    control = Control(kinds())
    flag = Path(server.soak_scripts["flaky"]).parent / "flaky.down"
    pause = 1.0 if short else 1.5

    async def actions(c):
        await asyncio.sleep(pause)
        c.allow("flaky", {200, 500})
        flag.write_text("down\n")
        await asyncio.sleep(0.5)
        c.allow("flaky", {500})
        await asyncio.sleep(pause)
        c.allow("flaky", {200, 500})
        flag.unlink()
        await asyncio.sleep(0.5)
        c.allow("flaky", {200})
        await asyncio.sleep(pause)

    return run(load_during(server, control, 60, concurrency, actions, seed, stop_after=True))


def phase_hang(server, concurrency, seed, short=False, hung=4):
    """Busy loops (interrupted at 1 s) and blocking sleeps (3 s, refused
    when they return) on /slow while the mix goes on."""
    control = Control(kinds())
    results = []

    async def one_hung(user):
        start = time.monotonic()
        data = Kind(user, "/slow/index.html", 500, 0, [basic(user, "x")]).request()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(data.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            writer.close()
            results.append((user, int(head.split()[1]), time.monotonic() - start))
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            results.append((user, type(e).__name__, time.monotonic() - start))

    async def actions(c):
        await asyncio.sleep(1.0 if short else 1.5)
        await asyncio.gather(*(one_hung(u) for u in ["loop", "sleep"] * (hung // 2)))
        await asyncio.sleep(0.5 if short else 1.0)

    stats = run(load_during(server, control, 60, concurrency, actions, seed, stop_after=True))
    return stats, results


def phase_cap(server, concurrency, seed, short=False, cap=2, hung=12):
    """WSGIMaxConcurrentCalls under load: a graceful restart sets a cap of
    `cap` with a 200 ms wait, then `hung` blocking checks (3 s sleeps)
    arrive at once. In each child the first ones run, the rest are refused
    after the wait (500,
    AUTHNZ_WSGI0044); while the cap is full, other Python checks of that
    child may be refused too (500, or 403 for WSGIAccessScript), but
    static files never wait and never fail. The cap is restored after."""
    original = server.server_conf
    lines = [l for l in original.splitlines() if not l.startswith("WSGIMaxConcurrentCalls")]

    def set_conf(text):
        server.server_conf = text
        server.write_config()
        before = server.error_log().count("resuming normal operations")
        apachectl(server, "graceful")
        assert wait_generation(server, before), "graceful did not finish"

    set_conf("\n".join(lines + [f"WSGIMaxConcurrentCalls {cap} 200ms"]) + "\n")
    control = Control(kinds())
    for kind in control.kinds.values():
        if kind.name == "static":
            continue
        extra = 403 if kind.name.startswith("access") else 500
        control.allow(kind.name, {kind.expect, extra})
    results = []

    async def one_hung():
        start = time.monotonic()
        data = Kind("sleep", "/slow/index.html", 500, 0, [basic("sleep", "x")]).request()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(data.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            writer.close()
            results.append((int(head.split()[1]), time.monotonic() - start))
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            results.append((type(e).__name__, time.monotonic() - start))

    async def actions(c):
        await asyncio.sleep(1.0)
        await asyncio.gather(*(one_hung() for _ in range(hung)))
        await asyncio.sleep(0.5)

    try:
        stats = run(load_during(server, control, 60, concurrency, actions, seed, stop_after=True))
    finally:
        set_conf(original)
    return stats, results


# ---- the two runs per MPM ---------------------------------------------------


def cap_conf(mpm, setting, leak=False):
    """The WSGIMaxConcurrentCalls line: none for 'default' (the module's own
    default, 3/4 of ThreadsPerChild, which a healthy busy child never hits),
    ThreadsPerChild for 'threads', or the number given."""
    if setting == "default" or mpm == "prefork":
        return ""
    threads = 64 if leak else 25
    return f"WSGIMaxConcurrentCalls {threads if setting == 'threads' else int(setting)}\n"


# Phases that do not apply in daemon mode, and why (printed, and kept in
# the report under "skipped").
DAEMON_SKIPS = {}


def soak_mpm(mpm, requests, concurrency, max_conn_per_child, phases, cap="", seed=1, short=False,
             daemon=None):
    extra = f"MaxConnectionsPerChild {max_conn_per_child}\n" + cap
    server = make_server(mpm, "load", MPM_CONF[mpm], extra, daemon=daemon)
    server.start()
    report = {"mpm": mpm, "max_connections_per_child": max_conn_per_child,
              "max_concurrent_calls": cap.split()[-1] if cap else "default", "phases": {},
              "daemon": daemon, "skipped": {}}
    try:
        time.sleep(1.0)
        sampler = RssSampler(server.proc.pid, interval=0.5)
        sampler.start()
        log(f"{mpm}: steady, {requests} requests at {concurrency} connections")
        t0 = time.monotonic()
        stats = run(run_load(server.port, kinds(), requests, concurrency=concurrency, seed=seed))
        took = time.monotonic() - t0
        sampler.stop()
        steady = stats.summary()
        steady["seconds"] = round(took, 1)
        steady["requests_per_second"] = round(stats.requests / took)
        steady["rss"] = sampler.report(warmup=2.0, min_life=5.0)
        if daemon:
            steady["daemon_rss"] = sampler.report(warmup=2.0, min_life=5.0, daemons=True)
        steady["log_tags"] = tag_counts(server.error_log())
        steady["crash_lines"] = crash_lines(server)
        report["phases"]["steady"] = steady
        log(f"{mpm}: steady done: {brief(steady)}")

        for name in phases:
            if daemon and name in DAEMON_SKIPS:
                report["skipped"][name] = DAEMON_SKIPS[name]
                log(f"{mpm}: phase {name} skipped in daemon mode: {DAEMON_SKIPS[name]}")
                continue
            log(f"{mpm}: phase {name}")
            before_log = len(server.error_log())
            if name == "graceful":
                result = phase_graceful(server, concurrency, seed, short).summary()
            elif name == "restart":
                result = phase_restart(server, concurrency, seed, short).summary()
            elif name == "reload":
                result = phase_reload(server, concurrency, seed, short).summary()
            elif name == "raise":
                result = phase_raise(server, concurrency, seed, short).summary()
            elif name == "hang":
                stats, hung = phase_hang(server, concurrency, seed, short)
                result = stats.summary()
                result["hung_calls"] = [
                    {"user": u, "status": s, "seconds": round(t, 2)} for u, s, t in hung
                ]
                result["hung_ok"] = all(
                    s == 500 and (t < 3.0 if u == "loop" else t < 6.0) for u, s, t in hung
                )
            elif name == "cap":
                if mpm == "prefork":
                    continue  # one thread per child: the cap never limits
                stats, hung = phase_cap(server, concurrency, seed, short)
                result = stats.summary()
                # A refused check never ran its 3 s sleep; its answer may
                # still wait for a worker thread (after the graceful restart
                # the MPM spawns children once a second).
                refused = [t for st, t in hung if st == 500 and t < 2.5]
                ran = [t for st, t in hung if st == 500 and t >= 2.9]
                result["cap_calls"] = {"refused": len(refused), "ran_3s": len(ran),
                                       "refused_seconds_max": round(max(refused, default=0), 2),
                                       "other": [(st, round(t, 2)) for st, t in hung
                                                 if not (st == 500 and (t < 2.5 or t >= 2.9))]}
                result["cap_ok"] = (len(refused) > 0 and not result["cap_calls"]["other"]
                                    and result["statuses"].get("static", {}).keys() <= {200})
            else:
                raise ValueError(name)
            new_log = server.error_log()[before_log:]
            result["log_tags"] = tag_counts(new_log)
            result["crash_lines"] = [l for l in new_log.splitlines() if is_crash_line(l)]
            report["phases"][name] = result
            log(f"{mpm}: {name}: {brief(result)}")
        report["crash_lines"] = crash_lines(server)
        report["children_seen"] = report["phases"]["steady"]["rss"]["children_seen"]
    finally:
        server.cleanup()
    return report


def stats_snapshot(server, phase, want_pids, attempts=400):
    """Ask each child for its Python memory figures (user __stats__)."""
    import socket

    seen = {}
    hdr = basic("__stats__", phase)
    req = f"GET /basic/index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n{hdr}\r\nConnection: close\r\n\r\n".encode()
    before = len(server.records("stats"))
    for _ in range(attempts):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            s.sendall(req)
            while s.recv(65536):
                pass
        for rec in server.records("stats")[before:]:
            if rec["phase"] == phase:
                seen[rec["pid"]] = rec
        if set(want_pids) <= set(seen):
            break
    return {pid: seen[pid] for pid in want_pids if pid in seen}


def leak_mpm(mpm, requests, warmup, concurrency, trace_requests, cap="", seed=2, chunks=10,
             daemon=None):
    """The leak check. In daemon mode the Python figures come from the
    daemon processes (where the scripts run) and the RSS figures from both
    Apache's children and the daemons."""
    conc = min(concurrency, 8) if mpm == "prefork" else concurrency
    server = make_server(mpm, "leak", LEAK_MPM_CONF[mpm], "MaxConnectionsPerChild 0\n" + cap,
                         daemon=daemon, slow_apart=False)
    server.start()
    try:
        time.sleep(1.0)
        log(f"{mpm}: leak check, warm-up {warmup} requests at {conc} connections")
        warm = run(run_load(server.port, kinds(), warmup, concurrency=conc, seed=seed))
        pids = sorted(child_pids(server.proc.pid))
        daemon_pids = split_children(server.proc.pid)[1]
        python_pids = daemon_pids if daemon else pids
        # The first probe sets up what the probes use (ctypes) before the
        # figures are taken.
        stats_snapshot(server, "probe", python_pids)
        py_start = stats_snapshot(server, "probe", python_pids)
        rss_start = {pid: vm_rss_kb(pid) for pid in pids}
        log(f"{mpm}: leak check, {requests} requests in {chunks} chunks")
        # The figures after each chunk: a leak grows with the request count,
        # a warm-up effect flattens out.
        curve = [{"requests": 0, "rss_kb": rss_start,
                  "gc_objects": {p: r["gc_objects"] for p, r in py_start.items()},
                  "blocks": {p: r["blocks"] for p, r in py_start.items()},
                  "malloc": {p: r["malloc_in_use"] for p, r in py_start.items()}}]
        stats = None
        for i in range(chunks):
            part = run(run_load(server.port, kinds(), requests // chunks, concurrency=conc,
                                seed=seed + 10 + i))
            if stats is None:
                stats = part
            else:
                stats.merge(part)
            py = stats_snapshot(server, "probe", python_pids)
            curve.append({"requests": stats.requests,
                          "rss_kb": {pid: vm_rss_kb(pid) for pid in pids},
                          "gc_objects": {p: r["gc_objects"] for p, r in py.items()},
                          "blocks": {p: r["blocks"] for p, r in py.items()},
                          "malloc": {p: r["malloc_in_use"] for p, r in py.items()}})
        after_pids = sorted(child_pids(server.proc.pid))
        rss_end = curve[-1]["rss_kb"]
        py_end = {p: {"gc_objects": curve[-1]["gc_objects"].get(p), "blocks": curve[-1]["blocks"].get(p)}
                  for p in pids}
        # tracemalloc costs memory and time of its own: it runs in a window
        # of its own, after the RSS and object figures are taken.
        traced = {}
        if trace_requests:
            stats_snapshot(server, "trace-start", python_pids)
            log(f"{mpm}: leak check, {trace_requests} requests under tracemalloc")
            run(run_load(server.port, kinds(), trace_requests, concurrency=conc, seed=seed + 2))
            traced = stats_snapshot(server, "trace-end", python_pids)
        children = []
        for pid in pids:
            s, e = py_start.get(pid, {}), py_end.get(pid, {})
            child = {"pid": pid, "kind": "daemon" if pid in daemon_pids else "child",
                     "rss_kb_start": rss_start[pid], "rss_kb_end": rss_end[pid]}
            if rss_start[pid] and rss_end[pid]:
                child["rss_growth_pct"] = round((rss_end[pid] / rss_start[pid] - 1) * 100, 2)
                mid = curve[len(curve) // 2]["rss_kb"][pid]
                child["rss_growth_second_half_pct"] = round((rss_end[pid] / mid - 1) * 100, 2)
                child["rss_kb_curve"] = [c["rss_kb"][pid] for c in curve]
                child["blocks_curve"] = [c["blocks"].get(pid) for c in curve]
                child["malloc_kb_curve"] = [(c["malloc"].get(pid) or 0) // 1024 for c in curve]
            for key in ("gc_objects", "blocks"):
                if key in s and key in e:
                    child[f"{key}_start"], child[f"{key}_end"] = s[key], e[key]
            for key in ("traced_growth", "traced_bytes", "top_growth"):
                if key in traced.get(pid, {}):
                    child[key] = traced[pid][key]
            children.append(child)
        summary = stats.summary()
        summary.pop("latency", None)
        return {
            "mpm": mpm,
            "daemon": daemon,
            "warmup_requests": warm.requests,
            "requests": stats.requests,
            "trace_requests": trace_requests,
            "unexpected": summary["unexpected"] + warm.unexpected_total(),
            "failed": summary["failed"] + warm.failed_total(),
            "children_same": pids == after_pids,
            "children": children,
            "checkpoints": [c["requests"] for c in curve],
            "crash_lines": crash_lines(server),
        }
    finally:
        server.cleanup()


def brief(r):
    return (f"requests={r['requests']} unexpected={r['unexpected']} failed={r['failed']} "
            f"restart_resets={sum(r['failed_during_restart'].values())} "
            f"keepalive_retries={r['keepalive_retries']} crashes={len(r['crash_lines'])}"
            + (f" rss={r['rss']}" if "rss" in r else "")
            + (f" hung={r['hung_calls']}" if "hung_calls" in r else ""))


def verdict(report):
    """Problems that make the soak fail."""
    problems = []
    for mpm_report in report.get("load", []):
        mpm = mpm_report["mpm"]
        for name, p in mpm_report["phases"].items():
            if p["unexpected"]:
                problems.append(f"{mpm}/{name}: {p['unexpected']} unexpected statuses "
                                f"{p['unexpected_by_kind']}")
            if p["failed"]:
                problems.append(f"{mpm}/{name}: {p['failed']} failed requests {p['failed_by_reason']}")
            if p.get("hung_ok") is False:
                problems.append(f"{mpm}/{name}: hung calls {p['hung_calls']}")
            if p.get("cap_ok") is False:
                problems.append(f"{mpm}/{name}: cap calls {p['cap_calls']}, static "
                                f"{p['statuses'].get('static')}")
            if name != "restart" and p["failed_during_restart"]:
                problems.append(f"{mpm}/{name}: resets {p['failed_during_restart']}")
        if mpm_report["crash_lines"]:
            problems.append(f"{mpm}: crash lines {mpm_report['crash_lines'][:5]}")
        daemon = mpm_report.get("daemon")
        if daemon:
            # Daemon processes are not recycled: the steady phase must see
            # exactly the group's processes, none replaced.
            seen = mpm_report["phases"]["steady"]["daemon_rss"]["children_seen"]
            if seen != daemon_processes(daemon):
                problems.append(f"{mpm}/steady: {seen} daemon processes seen, the groups have "
                                f"{daemon_processes(daemon)} (none running, or some replaced)")
            for name, p in mpm_report["phases"].items():
                ended = p.get("log_tags", {}).get(DAEMON_ENDED, 0)
                if ended and name not in ("hang", "cap"):
                    problems.append(f"{mpm}/{name}: {ended} daemon processes ended "
                                    f"({DAEMON_ENDED})")
        # Under recycling a threaded child lives a few seconds and warms up
        # for most of them: its RSS figures are reported, and the 10% rule
        # is applied by the leak check, whose children live through it all.
    for leak in report.get("leak", []):
        mpm = leak["mpm"]
        if leak["unexpected"] or leak["failed"]:
            problems.append(f"{mpm}/leak: {leak['unexpected']} unexpected, {leak['failed']} failed")
        if not leak["children_same"]:
            problems.append(f"{mpm}/leak: children were replaced")
        if leak["crash_lines"]:
            problems.append(f"{mpm}/leak: crash lines {leak['crash_lines'][:5]}")
        for child in leak["children"]:
            if child.get("rss_growth_pct", 0) >= 10:
                problems.append(f"{mpm}/leak: child {child['pid']} RSS grew {child['rss_growth_pct']}%")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mpms", default="event,worker,prefork")
    parser.add_argument("--requests", type=int, default=200_000, help="steady-phase requests per MPM")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-connections-per-child", type=int, default=2000,
                        help="threaded MPMs; prefork uses a twentieth of it (min 20)")
    parser.add_argument("--phases", default="graceful,restart,reload,raise,hang,cap")
    parser.add_argument("--leak-requests", type=int, default=100_000, help="0 skips the leak check")
    parser.add_argument("--leak-warmup", type=int, default=20_000)
    parser.add_argument("--trace-requests", type=int, default=20_000,
                        help="requests under tracemalloc after the leak check (0: none)")
    parser.add_argument("--max-concurrent-calls", default="default",
                        help="WSGIMaxConcurrentCalls for the threaded MPMs: 'default' (the "
                        "module's default), 'threads' (= ThreadsPerChild) or N")
    parser.add_argument("--leak-mpms", default=None, help="default: the same as --mpms")
    parser.add_argument("--daemon", action="store_true",
                        help="run every script in a WSGIAuthDaemonProcess group "
                        "(process-group=soak) instead of in Apache's children")
    parser.add_argument("--daemon-processes", type=int, default=2,
                        help="with --daemon: processes= of the group (default 2)")
    parser.add_argument("--daemon-threads", type=int, default=15,
                        help="with --daemon: threads= of each process (default 15)")
    parser.add_argument("--json", help="write the full report here")
    args = parser.parse_args(argv)
    if not args.daemon and (args.daemon_processes != 2 or args.daemon_threads != 15):
        parser.error("--daemon-processes and --daemon-threads need --daemon")
    if not 1 <= args.daemon_processes <= 64 or not 1 <= args.daemon_threads <= 1000:
        parser.error("--daemon-processes is 1 to 64 and --daemon-threads 1 to 1000")
    daemon = ({"processes": args.daemon_processes, "threads": args.daemon_threads}
              if args.daemon else None)
    if daemon:
        log(f"daemon mode: every script runs in WSGIAuthDaemonProcess {DAEMON_GROUP} "
            f"processes={daemon['processes']} threads={daemon['threads']}")

    mpms = [m for m in args.mpms.split(",") if m]
    phases = [p for p in args.phases.split(",") if p]
    report = {"load": [], "leak": [], "daemon": daemon}
    started = time.monotonic()
    for mpm in mpms:
        mcpc = args.max_connections_per_child
        if mpm == "prefork":
            mcpc = max(20, mcpc // 20)
        report["load"].append(soak_mpm(mpm, args.requests, args.concurrency, mcpc, phases,
                                       cap_conf(mpm, args.max_concurrent_calls), daemon=daemon))
    if args.leak_requests:
        for mpm in (args.leak_mpms.split(",") if args.leak_mpms else mpms):
            leak = leak_mpm(mpm, args.leak_requests, args.leak_warmup, args.concurrency,
                            args.trace_requests, cap_conf(mpm, args.max_concurrent_calls, leak=True),
                            daemon=daemon)
            report["leak"].append(leak)
            log(f"{mpm}: leak: {json.dumps(leak['children'])}")
    report["seconds"] = round(time.monotonic() - started)
    report["problems"] = verdict(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print_summary(report)
    return 1 if report["problems"] else 0


def print_summary(report):
    print("\n== soak summary")
    if report.get("daemon"):
        d = report["daemon"]
        print(f"daemon mode: every script in WSGIAuthDaemonProcess {DAEMON_GROUP} "
              f"processes={d['processes']} threads={d['threads']}")
    for r in report["load"]:
        st = r["phases"]["steady"]
        rss = st["rss"]
        print(f"{r['mpm']}: steady {st['requests']} requests in {st['seconds']} s "
              f"({st['requests_per_second']}/s), unexpected {st['unexpected']}, failed {st['failed']}, "
              f"keep-alive retries {st['keepalive_retries']}, children seen {rss['children_seen']} "
              f"(MaxConnectionsPerChild {r['max_connections_per_child']}), crash lines "
              f"{len(r['crash_lines'])}, child RSS median {rss['rss_kb_first_median']} -> "
              f"{rss['rss_kb_last_median']} kB (max {rss['rss_kb_max']}), per-child growth after warm-up max "
              f"{rss['rss_growth_pct_max']}% median {rss['rss_growth_pct_median']}% "
              f"({rss['children_measured']} children)")
        if "daemon_rss" in st:
            d = st["daemon_rss"]
            print(f"    daemon processes ({DAEMON_COMM}): {d['children_seen']} seen, RSS median "
                  f"{d['rss_kb_first_median']} -> {d['rss_kb_last_median']} kB (max "
                  f"{d['rss_kb_max']}), growth after warm-up max {d['rss_growth_pct_max']}% "
                  f"median {d['rss_growth_pct_median']}%")
        for name, reason in r.get("skipped", {}).items():
            print(f"    {name}: skipped in daemon mode: {reason}")
        print(f"    statuses: {st['statuses']}")
        print(f"    log tags: {st['log_tags']}")
        for name, p in r["phases"].items():
            if name == "steady":
                continue
            extra = ""
            if "hung_calls" in p:
                extra = " hung: " + ", ".join(f"{h['user']}->{h['status']} in {h['seconds']}s"
                                             for h in p["hung_calls"])
            if "cap_calls" in p:
                extra = (f" sleeping checks: {p['cap_calls']}; static {p['statuses'].get('static')}; "
                         f"refusals by kind {p['unexpected_by_kind'] or 'none'}; "
                         f"statuses {p['statuses']}")
            print(f"    {name}: {p['requests']} requests, unexpected {p['unexpected']}, failed "
                  f"{p['failed']}, resets during restart {sum(p['failed_during_restart'].values())}, "
                  f"keep-alive retries {p['keepalive_retries']}, digest nonce refreshes "
                  f"{p['digest_nonce_refreshes']}, tags {p['log_tags']}{extra}")
            if name == "reload":
                print(f"        reload statuses: {p['statuses'].get('reload')}")
            if name == "raise":
                print(f"        flaky statuses: {p['statuses'].get('flaky')}")
    for leak in report["leak"]:
        print(f"{leak['mpm']}: leak check {leak['requests']} requests after {leak['warmup_requests']} "
              f"warm-up, unexpected {leak['unexpected']}, failed {leak['failed']}, children kept "
              f"{leak['children_same']}")
        for c in leak["children"]:
            print(f"    {'daemon' if c.get('kind') == 'daemon' else 'child'} {c['pid']}: VmRSS {c['rss_kb_start']} -> {c['rss_kb_end']} kB "
                  f"({c.get('rss_growth_pct')}%), gc objects {c.get('gc_objects_start')} -> "
                  f"{c.get('gc_objects_end')}, allocated blocks {c.get('blocks_start')} -> "
                  f"{c.get('blocks_end')}, tracemalloc growth {c.get('traced_growth')} B over "
                  f"{leak['trace_requests']} requests")
            print(f"        VmRSS kB at {leak['checkpoints']} requests: {c.get('rss_kb_curve')}")
            print(f"        allocated blocks: {c.get('blocks_curve')}")
            print(f"        malloc in use kB: {c.get('malloc_kb_curve')}")
            for line in c.get("top_growth", [])[:3]:
                print(f"        {line}")
    print(f"total {report['seconds']} s")
    if report["problems"]:
        print("PROBLEMS:")
        for p in report["problems"]:
            print("  " + p)
    else:
        print("no problems")


if __name__ == "__main__":
    sys.exit(main())
