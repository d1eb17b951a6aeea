"""Throughput of mod_authnz_wsgi against its alternatives, measured with wrk
over loopback (run through scripts/benchmark.sh; not part of the tests).

Five Apache instances with identical MPM and thread settings:
  plain    no authentication, mod_authn_file ({SHA} htpasswd, htdigest), and
           mod_authn_anon admitting anyone: Basic auth whose provider does no
           work, the floor any provider can reach in Apache
  ours     mod_authnz_wsgi: uncached, WSGIAuthCacheTimeout, mod_authn_socache (shmcb,
           with sha1-crypt entries, and with bcrypt entries for the trivial check)
  ours, mod_status  the same module and trivial script, uncached and
           WSGIAuthCacheTimeout, with mod_status loaded: the live figures are
           kept (docs/operations.md), paired with ours to show what they cost;
           its unauthenticated page paired with ours' shows httpd's own share
           (ExtendedStatus, on by default with mod_status)
  mod_wsgi Debian's mod_wsgi with WSGIAuthUserScript and the same scripts
  socache floor  mod_authn_file with a sha1-crypt htpasswd answered from
           mod_authn_socache: the cached path of this module's socache
           entries, without this module
  ours, daemon  the trivial script through process-group= in a
           WSGIAuthDaemonProcess (--daemon-processes, --daemon-threads;
           default 1 x 15), uncached and WSGIAuthCacheTimeout (the cache
           answers in Apache's children, before any daemon call)
  gil: ...  three servers for the GIL-bound check (below)
(mod_wsgi and mod_authnz_wsgi cannot share a process.)

Checks: a trivial check_password / get_realm_hash, Digest with a replayed
precomputed Authorization header (AuthDigestNonceLifetime -1 keeps the
nonce valid; httpd 2.4 does not check nonce counts), and a slow
check_password (PBKDF2-SHA256 with Django 5.2's default iterations).
Every case runs once per round, rounds interleave the cases, and the median
of the rounds is reported; a ratio between two cases is the median of the
ratios within each round. After each run the script waits until Apache is
idle again, so queued slow requests do not leak into the next case, and
records the CPU time Apache's processes spent per request served, which is
steadier than req/s when other work shares the machine.

On a machine with two or more CPUs, every Apache is pinned to CPU 0 and wrk
(one thread) to CPU 1, so the load generator never takes CPU time from the
server it measures and req/s is what one core of Apache serves (--no-pin
lets them share every CPU, which on two cores makes runs vary by +-25%).
A daemon group's processes are children of Apache's parent: they are
pinned with it (CPU 0), and their CPU time counts in the CPU per request.

The gil5ms check is a pure-Python loop that runs until its thread has used
5 ms of CPU time (time.thread_time), holding the GIL all along (the slow check does not: hashlib's PBKDF2
releases the GIL while OpenSSL works, so threads of one process already run
it in parallel). One interpreter serves it at most one core's worth,
whatever its thread count; daemon mode lets the number of interpreters be
chosen apart from Apache's children. What is compared, and how:
  - each gil server is left unpinned, with every CPU, and runs its case
    alone (wrk unpinned too: at a few hundred requests a second it uses
    about 1% of a core); pinned to one CPU, no configuration could use a
    second core, and the comparison would say nothing;
  - "ours, uncached (embedded)" and "ours, daemon processes=2" run in the
    same Apache, one child x 50 threads: embedded, every call runs under
    that child's GIL; in daemon mode under the GILs of two daemon
    processes (threads=15 each);
  - "ours, uncached (embedded, 2 children)" is the run's usual sizing
    (2 children x 25 threads): two Apache children are two interpreters,
    which also use both CPUs; it shows what the daemons cost against that.
  - the side-by-side repetitions of a gil pair run one case after the
    other, each alone with every CPU (at the same moment the two servers
    would split the two CPUs between them), and report the ratio of each
    consecutive A, B.
Under prefork every connection has a child of its own, so every gil server
uses the run's prefork sizing and the pair shows only what the daemons cost.
"""

import argparse
import base64
import ctypes
import hashlib
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import Apache, child_pids, digest_header  # noqa: E402

USER = "bench"
PASSWORD = "bench-password"
REALM = "bench realm"
# Django 5.2's PBKDF2PasswordHasher.iterations (4.2: 600000, 5.0: 720000, 5.1: 870000).
PBKDF2_ITERATIONS = 1_000_000

TRIVIAL_SCRIPT = f"""
import hashlib

def check_password(environ, user, password):
    return user == {USER!r} and password == {PASSWORD!r}

def get_realm_hash(environ, user, realm):
    if user != {USER!r}:
        return None
    return hashlib.md5(f"{{user}}:{{realm}}:{PASSWORD}".encode()).hexdigest()
"""

SLOW_SCRIPT = f"""
import hashlib, hmac

ITERATIONS = {PBKDF2_ITERATIONS}
SALT = b"benchmark-salt16"
STORED = hashlib.pbkdf2_hmac("sha256", {PASSWORD!r}.encode(), SALT, ITERATIONS)

def check_password(environ, user, password):
    if user != {USER!r}:
        return None
    attempt = hashlib.pbkdf2_hmac("sha256", password.encode(), SALT, ITERATIONS)
    return hmac.compare_digest(attempt, STORED)
"""

# A loop in Python bytecode: it holds the GIL all along (the interpreter
# hands it over only between bytecodes, to another thread of the same
# process), until its thread has used SECONDS of CPU time. Measured in the
# thread's own CPU time, the work is the same whatever the interpreter's
# speed (Apache's children and the daemons load the shared libpython, which
# runs a fixed loop slower than the static /usr/bin/python3) and however
# many threads wait for the GIL meanwhile.
GIL_SCRIPT = """
import time

SECONDS = {seconds}

def spin(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for i in range(500):
            x += i * i
    return x

def check_password(environ, user, password):
    spin(SECONDS)
    return user == {user!r} and password == {password!r}
"""
GIL_SECONDS = 0.005


# The same for every server of a run, kept alive: under event and worker
# two children of 25 threads; under prefork (one request per child) as many
# children as wrk opens connections, all started at once.
THREADED = """
StartServers 2
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
MinSpareThreads 50
MaxSpareThreads 50
"""
PREFORK = """
StartServers {n}
ServerLimit {n}
MaxRequestWorkers {n}
MinSpareServers {n}
MaxSpareServers {n}
"""
COMMON = """
KeepAlive On
MaxKeepAliveRequests 0
LogLevel warn
"""
MPMS = ("event", "worker", "prefork")
# The gil servers' sizing under event and worker (see the docstring).
ONE_CHILD = """
StartServers 1
ServerLimit 1
ThreadsPerChild 50
MaxRequestWorkers 50
MinSpareThreads 50
MaxSpareThreads 50
"""
# The gil pair's daemon group: two processes (threads: the module's default).
GIL_DAEMON_PROCESSES = 2
GIL_DAEMON_THREADS = 15
# Servers whose cases run unpinned, each alone with every CPU.
UNPINNED = ("gil, one child", "gil, two children")


def prefork_children(connections):
    return max(connections, 2)


def mpm_config(mpm, connections):
    """The MPM's settings, then what every server shares."""
    sizing = PREFORK.format(n=prefork_children(connections)) if mpm == "prefork" else THREADED
    return sizing + COMMON


def gil_mpm_config(mpm, connections):
    """The gil servers' MPM settings: one child x 50 threads (threaded
    MPMs), or the run's prefork sizing."""
    return (ONE_CHILD + COMMON) if mpm != "prefork" else mpm_config(mpm, connections)


def mpm_description(mpm, connections):
    if mpm == "prefork":
        return f"MPM prefork ({prefork_children(connections)} children)"
    return f"MPM {mpm} (2 children x 25 threads)"


def location(path, auth_type, provider_line, extra=""):
    return f"""
    <Location {path}>
      AuthType {auth_type}
      AuthName "{REALM}"
      {provider_line}
      AuthDigestNonceLifetime -1
      {extra}
      Require valid-user
    </Location>
    """


def make_servers(mpm, connections, daemon_processes=1, daemon_threads=15, wanted=None):
    """The servers of the run: all of them, or only those named in
    `wanted`."""
    conf = mpm_config(mpm, connections)
    plain = Apache(name="bench-plain", mpm=mpm, load_authnz_wsgi=False,
                   modules=["authn_file", "authn_anon"], server_conf=conf)
    htpasswd = plain.dir / "htpasswd"
    sha = base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode()
    htpasswd.write_text(f"{USER}:{{SHA}}{sha}\n")
    htdigest = plain.dir / "htdigest"
    ha1 = hashlib.md5(f"{USER}:{REALM}:{PASSWORD}".encode()).hexdigest()
    htdigest.write_text(f"{USER}:{REALM}:{ha1}\n")
    plain.site_conf = (
        location("/file", "Basic", f'AuthBasicProvider file\n AuthUserFile "{htpasswd}"')
        + location("/file-digest", "Digest", f'AuthDigestProvider file\n AuthUserFile "{htdigest}"')
        + location("/anon", "Basic", "AuthBasicProvider anon",
                   'Anonymous "*"\n Anonymous_NoUserID Off\n Anonymous_MustGiveEmail Off\n'
                   ' Anonymous_VerifyEmail Off\n Anonymous_LogEmail Off')
    )

    ours = Apache(name="bench-ours", mpm=mpm, modules=["authn_socache", "socache_shmcb"],
                  server_conf=conf + "WSGIScriptTimeout 60\nAuthnCacheSOCache shmcb\n")
    trivial = ours.write_script("trivial.py", TRIVIAL_SCRIPT, record=False)
    slow = ours.write_script("slow.py", SLOW_SCRIPT, record=False)
    # Longer than a whole run: an entry expiring mid-run would make every
    # connection of the slow case miss at once (each miss is a PBKDF2 call).
    mem = "WSGIAuthCacheTimeout 86400"
    sc = "AuthnCacheProvideFor wsgi\n AuthnCacheTimeout 86400"
    ours.site_conf = "".join([
        location("/basic", "Basic", "AuthBasicProvider wsgi", f'WSGIAuthUserScript "{trivial}"'),
        location("/basic-mem", "Basic", "AuthBasicProvider wsgi",
                 f'WSGIAuthUserScript "{trivial}"\n {mem}'),
        location("/basic-sc", "Basic", "AuthBasicProvider socache wsgi",
                 f'WSGIAuthUserScript "{trivial}"\n {sc}'),
        location("/basic-sc-bcrypt", "Basic", "AuthBasicProvider socache wsgi",
                 f'WSGIAuthUserScript "{trivial}"\n {sc}\n WSGISocacheHash bcrypt'),
        location("/digest", "Digest", "AuthDigestProvider wsgi", f'WSGIAuthUserScript "{trivial}"'),
        location("/digest-sc", "Digest", "AuthDigestProvider socache wsgi",
                 f'WSGIAuthUserScript "{trivial}"\n {sc}'),
        location("/slow", "Basic", "AuthBasicProvider wsgi", f'WSGIAuthUserScript "{slow}"'),
        location("/slow-mem", "Basic", "AuthBasicProvider wsgi",
                 f'WSGIAuthUserScript "{slow}"\n {mem}'),
        location("/slow-sc", "Basic", "AuthBasicProvider socache wsgi",
                 f'WSGIAuthUserScript "{slow}"\n {sc}'),
    ])

    # The same module and scripts with mod_status loaded: the live figures
    # are kept (shared-memory counters on every call and cache lookup).
    status = Apache(name="bench-ours-status", mpm=mpm, modules=["status"],
                    server_conf=conf + "WSGIScriptTimeout 60\n")
    s_trivial = status.write_script("trivial.py", TRIVIAL_SCRIPT, record=False)
    status.site_conf = "".join([
        "<Location /server-status>\n  SetHandler server-status\n</Location>\n",
        location("/basic", "Basic", "AuthBasicProvider wsgi", f'WSGIAuthUserScript "{s_trivial}"'),
        location("/basic-mem", "Basic", "AuthBasicProvider wsgi",
                 f'WSGIAuthUserScript "{s_trivial}"\n {mem}'),
    ])

    wsgi = Apache(name="bench-mod-wsgi", mpm=mpm, load_authnz_wsgi=False, modules=["wsgi"],
                  server_conf=conf)
    w_trivial = wsgi.write_script("trivial.py", TRIVIAL_SCRIPT, record=False)
    w_slow = wsgi.write_script("slow.py", SLOW_SCRIPT, record=False)
    wsgi.site_conf = "".join([
        location("/basic", "Basic", "AuthBasicProvider wsgi", f'WSGIAuthUserScript "{w_trivial}"'),
        location("/digest", "Digest", "AuthDigestProvider wsgi",
                 f'WSGIAuthUserScript "{w_trivial}"'),
        location("/slow", "Basic", "AuthBasicProvider wsgi", f'WSGIAuthUserScript "{w_slow}"'),
    ])
    # mod_authn_file stores the hash it read in the socache: with a
    # sha1-crypt line, the cached path is the one this module's socache
    # entries take (mod_authn_socache and apr_password_validate), in a
    # server without this module or Python. A server of its own, so that
    # it can be paired with no auth.
    floor = Apache(name="bench-socache-floor", mpm=mpm, load_authnz_wsgi=False,
                   modules=["authn_file", "authn_socache", "socache_shmcb"],
                   server_conf=conf + "AuthnCacheSOCache shmcb\n")
    htpasswd_sha1crypt = floor.dir / "htpasswd-sha1crypt"
    htpasswd_sha1crypt.write_text(f"{USER}:{sha1_crypt(PASSWORD)}\n")
    floor.site_conf = location(
        "/file-sc", "Basic", "AuthBasicProvider socache file",
        f'AuthUserFile "{htpasswd_sha1crypt}"\n AuthnCacheProvideFor file\n'
        ' AuthnCacheTimeout 86400')

    # Daemon mode: the trivial script in a WSGIAuthDaemonProcess group, in
    # a server with no embedded location, so that its children's RSS is
    # that of daemon mode.
    daemon = Apache(name="bench-ours-daemon", mpm=mpm,
                    server_conf=conf + "WSGIScriptTimeout 60\n"
                    f"WSGIAuthDaemonProcess bench processes={daemon_processes} "
                    f"threads={daemon_threads}\n")
    d_trivial = daemon.write_script("trivial.py", TRIVIAL_SCRIPT, record=False)
    daemon.site_conf = "".join([
        location("/basic-daemon", "Basic", "AuthBasicProvider wsgi",
                 f'WSGIAuthUserScript "{d_trivial}" process-group=bench'),
        location("/basic-daemon-mem", "Basic", "AuthBasicProvider wsgi",
                 f'WSGIAuthUserScript "{d_trivial}" process-group=bench\n {mem}'),
    ])

    # The GIL-bound check: embedded and in two daemon processes in one
    # Apache of one child, and embedded in the run's usual two children.
    gil_body = GIL_SCRIPT.format(seconds=GIL_SECONDS, user=USER, password=PASSWORD)
    gil_conf = gil_mpm_config(mpm, connections)
    gil_one = Apache(name="bench-gil-one-child", mpm=mpm,
                     server_conf=gil_conf + "WSGIScriptTimeout 60\n"
                     f"WSGIAuthDaemonProcess gil processes={GIL_DAEMON_PROCESSES} "
                     f"threads={GIL_DAEMON_THREADS}\n")
    g_script = gil_one.write_script("gil.py", gil_body, record=False)
    gil_one.site_conf = "".join([
        location("/gil", "Basic", "AuthBasicProvider wsgi", f'WSGIAuthUserScript "{g_script}"'),
        location("/gil-daemon", "Basic", "AuthBasicProvider wsgi",
                 f'WSGIAuthUserScript "{g_script}" process-group=gil'),
    ])
    gil_two = Apache(name="bench-gil-two-children", mpm=mpm,
                     server_conf=conf + "WSGIScriptTimeout 60\n")
    g2_script = gil_two.write_script("gil.py", gil_body, record=False)
    gil_two.site_conf = location("/gil", "Basic", "AuthBasicProvider wsgi",
                                 f'WSGIAuthUserScript "{g2_script}"')

    servers = {"plain": plain, "ours": ours, "ours, mod_status": status, "mod_wsgi": wsgi,
               "socache floor": floor, "ours, daemon": daemon, "gil, one child": gil_one,
               "gil, two children": gil_two}
    for name in list(servers):
        if wanted is not None and name not in wanted:
            servers.pop(name).cleanup()
    for server in servers.values():
        for d in ("open", "anon", "file", "file-sc", "file-digest", "basic", "basic-mem",
                  "basic-sc", "basic-sc-bcrypt", "digest", "digest-sc",
                  "slow", "slow-mem", "slow-sc", "basic-daemon", "basic-daemon-mem", "gil",
                  "gil-daemon"):
            (server.docroot / d).mkdir(exist_ok=True)
            (server.docroot / d / "index.html").write_text("ok\n")
    return servers


def sha1_crypt(password):
    """A sha1-crypt hash with one round and a random salt, as this module
    stores in the socache, made by libxcrypt's crypt()."""
    libcrypt = ctypes.CDLL("libcrypt.so.1")
    libcrypt.crypt.restype = ctypes.c_char_p
    libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    salt = "".join(secrets.choice(alphabet) for _ in range(16))
    hashed = libcrypt.crypt(password.encode(), f"$sha1$1${salt}$".encode())
    if not hashed or not hashed.startswith(b"$sha1$"):
        sys.exit("libcrypt cannot make sha1-crypt hashes")
    return hashed.decode()


def basic_header():
    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


# (check, configuration, server, path, header kind, keep-alive). Every page
# is one directory below the document root, so each case pays the same
# directory walk and only authentication differs.
CASES = [
    ("trivial", "no auth", "plain", "/open/index.html", None, True),
    ("trivial", "no auth, server with ours", "ours", "/open/index.html", None, True),
    ("trivial", "mod_authn_anon (no work)", "plain", "/anon/index.html", "basic", True),
    ("trivial", "mod_authn_file {SHA}", "plain", "/file/index.html", "basic", True),
    ("trivial", "mod_authn_file via socache (sha1-crypt)", "socache floor", "/file-sc/index.html",
     "basic", True),
    ("trivial", "mod_wsgi", "mod_wsgi", "/basic/index.html", "basic", True),
    ("trivial", "ours, uncached", "ours", "/basic/index.html", "basic", True),
    ("trivial", "ours, WSGIAuthCacheTimeout", "ours", "/basic-mem/index.html", "basic", True),
    ("trivial", "ours, socache (shmcb)", "ours", "/basic-sc/index.html", "basic", True),
    ("trivial", "ours, uncached, mod_status loaded", "ours, mod_status", "/basic/index.html",
     "basic", True),
    ("trivial", "no auth, mod_status loaded", "ours, mod_status", "/open/index.html", None,
     True),
    ("trivial", "ours, WSGIAuthCacheTimeout, mod_status loaded", "ours, mod_status",
     "/basic-mem/index.html", "basic", True),
    ("trivial", "ours, socache, WSGISocacheHash bcrypt", "ours", "/basic-sc-bcrypt/index.html",
     "basic", True),
    ("trivial", "ours, daemon, uncached", "ours, daemon", "/basic-daemon/index.html", "basic",
     True),
    ("trivial", "ours, daemon, WSGIAuthCacheTimeout", "ours, daemon",
     "/basic-daemon-mem/index.html", "basic", True),
    ("digest", "mod_authn_file (htdigest)", "plain", "/file-digest/index.html", "digest", True),
    ("digest", "mod_wsgi", "mod_wsgi", "/digest/index.html", "digest", True),
    ("digest", "ours, uncached", "ours", "/digest/index.html", "digest", True),
    ("digest", "ours, socache (shmcb)", "ours", "/digest-sc/index.html", "digest", True),
    ("slow", "mod_wsgi", "mod_wsgi", "/slow/index.html", "basic", True),
    ("slow", "ours, uncached", "ours", "/slow/index.html", "basic", True),
    ("slow", "ours, WSGIAuthCacheTimeout", "ours", "/slow-mem/index.html", "basic", True),
    ("slow", "ours, socache (shmcb)", "ours", "/slow-sc/index.html", "basic", True),
    ("gil5ms", "ours, uncached (embedded)", "gil, one child", "/gil/index.html", "basic", True),
    ("gil5ms", "ours, daemon processes=2", "gil, one child", "/gil-daemon/index.html", "basic",
     True),
    ("gil5ms", "ours, uncached (embedded, 2 children)", "gil, two children", "/gil/index.html",
     "basic", True),
    ("no keep-alive", "no auth", "plain", "/open/index.html", None, False),
    ("no keep-alive", "mod_wsgi", "mod_wsgi", "/basic/index.html", "basic", False),
    ("no keep-alive", "ours, uncached", "ours", "/basic/index.html", "basic", False),
    ("no keep-alive", "ours, WSGIAuthCacheTimeout", "ours", "/basic-mem/index.html", "basic",
     False),
    ("no keep-alive", "ours, socache (shmcb)", "ours", "/basic-sc/index.html", "basic", False),
]


# Side-by-side pairs (--pairs-reps): (label, case A, case B) by configuration
# name within the trivial / digest checks; both run at the same moment.
# The next three separate what the module's cached path costs from what
# loading it costs: a Basic provider that does no work (mod_authn_anon, in
# the server without the module) against the cached paths, and no auth in
# each server. The last two measure the floor of any socache-cached Basic
# login: Apache's own mod_authn_file answered from mod_authn_socache with
# the same kind of entry, in the server without this module.
PAIRS = [
    ("trivial", "no auth", "ours, uncached"),
    ("trivial", "mod_wsgi", "ours, uncached"),
    ("trivial", "no auth", "ours, WSGIAuthCacheTimeout"),
    ("trivial", "no auth", "ours, socache (shmcb)"),
    ("digest", "no auth", "ours, socache (shmcb)"),
    ("trivial", "mod_authn_anon (no work)", "ours, WSGIAuthCacheTimeout"),
    ("trivial", "mod_authn_anon (no work)", "ours, socache (shmcb)"),
    ("trivial", "no auth", "no auth, server with ours"),
    ("trivial", "no auth", "mod_authn_file via socache (sha1-crypt)"),
    ("trivial", "mod_authn_file via socache (sha1-crypt)", "ours, socache (shmcb)"),
    # What keeping the live figures costs (docs/operations.md): the same
    # configuration without and with mod_status loaded.
    ("trivial", "ours, uncached", "ours, uncached, mod_status loaded"),
    ("trivial", "ours, WSGIAuthCacheTimeout", "ours, WSGIAuthCacheTimeout, mod_status loaded"),
    # httpd's own share of that: ExtendedStatus, which mod_status switches on
    # by default, costs an unauthenticated request the same (docs/operations.md).
    ("trivial", "no auth, server with ours", "no auth, mod_status loaded"),
    # Daemon mode (docs/performance.md): against no auth, and what a call
    # to a daemon costs against the same call embedded.
    ("trivial", "no auth", "ours, daemon, uncached"),
    ("trivial", "no auth", "ours, daemon, WSGIAuthCacheTimeout"),
    ("trivial", "ours, uncached", "ours, daemon, uncached"),
    ("trivial", "ours, WSGIAuthCacheTimeout", "ours, daemon, WSGIAuthCacheTimeout"),
    # A GIL-bound check (each case alone with every CPU, one after the
    # other: see the docstring).
    ("gil5ms", "ours, uncached (embedded)", "ours, daemon processes=2"),
    ("gil5ms", "ours, uncached (embedded, 2 children)", "ours, daemon processes=2"),
]

# Checks whose pairs run one case after the other, each alone and unpinned.
ALONE = ("gil5ms",)

# What the daemon cases should reach (B/A req/s of the pair, median).
TARGETS = [
    ("trivial", "no auth", "ours, daemon, uncached", 0.80),
    ("trivial", "no auth", "ours, daemon, WSGIAuthCacheTimeout", 0.95),
    ("gil5ms", "ours, uncached (embedded)", "ours, daemon processes=2", 1.8),
]


def with_partners(selected, cases):
    """The selected cases and the cases their pairs compare them with (so
    that `--only daemon` still runs its pairs), in CASES order."""
    names = {(c[0], c[1]) for c in selected}
    for check, name_a, name_b in PAIRS:
        if (check, name_b) in names:
            names.add((check, name_a) if (check, name_a) in {(c[0], c[1]) for c in cases}
                      else ("trivial", name_a))
    return [c for c in cases if (c[0], c[1]) in names]


def side_by_side(servers, headers, cases, reps, seconds, wrk_cpu, connections):
    """Run case A and case B at the same moment, each with its own wrk (both
    on the wrk CPU), while both servers share CPU 0: whatever else the
    machine does slows both alike, so their ratio is steadier than that of
    runs taken one after the other. Reports B/A in req/s and A/B in Apache
    CPU time per request. Pairs of an ALONE check run A, then B, each
    alone, unpinned, with every CPU (see the docstring)."""
    by_name = {(c[0], c[1]): c for c in cases}
    rows = []
    for check, name_a, name_b in PAIRS:
        a = by_name.get((check, name_a)) or by_name.get(("trivial", name_a))
        b = by_name.get((check, name_b))
        if a is None or b is None:
            continue
        alone = check in ALONE
        rates, costs = [], []
        for _ in range(reps):
            if alone:
                rate, cost = [], []
                for case in (a, b):
                    r, c = one_after_the_other(servers, headers, case, seconds, connections)
                    rate.append(r)
                    cost.append(c)
            else:
                rate, cost = at_the_same_moment(servers, headers, (a, b), seconds, wrk_cpu,
                                                connections)
            rates.append(rate[1] / rate[0] if rate[0] else 0.0)
            # Two cases on one server (no auth and mod_authn_anon) cannot
            # be told apart by CPU time when they run at once; every pair
            # that does uses two servers (an ALONE pair runs one at a time).
            costs.append(cost[0] / cost[1] if cost[1] else 0.0)
            how = "one after the other" if alone else "side by side"
            print(f"{how}  {check:<8} {a[1]} {rate[0]:.0f} req/s {cost[0]:.0f} us | "
                  f"{b[1]} {rate[1]:.0f} req/s {cost[1]:.0f} us", file=sys.stderr, flush=True)
        rows.append((check, a[1], b[1], rates, costs))
    return rows


def wrk_command(server, headers, case, seconds, connections, cpu):
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    cmd = pin + ["wrk", "-t1", f"-c{connections}", "-d", f"{seconds}s", "--timeout", "60s"]
    if headers[(case[2], case[3])]:
        cmd += ["-H", f"Authorization: {headers[(case[2], case[3])]}"]
    return cmd + [server.url(case[3])]


def at_the_same_moment(servers, headers, pair, seconds, wrk_cpu, connections):
    """Both cases at once; (req/s, CPU µs per request) of each."""
    sides = []
    for case in pair:
        server = servers[case[2]]
        sides.append((server, case, cpu_ticks(server), access_lines(server)))
    procs = [subprocess.Popen(wrk_command(server, headers, case, seconds, connections, wrk_cpu),
                              stdout=subprocess.PIPE, text=True)
             for server, case, _, _ in sides]
    outs = [p.communicate(timeout=seconds + 120)[0] for p in procs]
    wait_idle(servers.values())
    rate = [float(re.search(r"Requests/sec:\s*([\d.]+)", o).group(1)) for o in outs]
    cost = []
    for server, _, ticks, logged in sides:
        served = max(access_lines(server) - logged, 1)
        cost.append((cpu_ticks(server) - ticks) / TICKS_PER_SECOND / served * 1e6)
    return rate, cost


def one_after_the_other(servers, headers, case, seconds, connections):
    """One case alone, wrk unpinned; (req/s, CPU µs per request)."""
    server = servers[case[2]]
    ticks, logged = cpu_ticks(server), access_lines(server)
    out = subprocess.run(wrk_command(server, headers, case, seconds, connections, None),
                         capture_output=True, text=True, timeout=seconds + 120).stdout
    wait_idle(servers.values())
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    served = max(access_lines(server) - logged, 1)
    return rate, (cpu_ticks(server) - ticks) / TICKS_PER_SECOND / served * 1e6


# A PBKDF2 check takes a third of a second of CPU: with 16 connections on
# one core, each request would wait about five seconds and a run would count
# only a handful. Uncached slow cases use fewer connections instead.
UNCACHED_SLOW = ("mod_wsgi", "ours, uncached")
SLOW_CONNECTIONS = 4


def process_tree(server):
    """The parent and the children of a running server."""
    return [server.proc.pid] + child_pids(server.proc.pid)


def cpu_ticks(server):
    total = 0
    for pid in process_tree(server):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def wait_idle(servers, timeout=120):
    """Wait until no server burns CPU (queued requests have finished)."""
    deadline = time.time() + timeout
    before = sum(cpu_ticks(s) for s in servers)
    while time.time() < deadline:
        time.sleep(0.3)
        now = sum(cpu_ticks(s) for s in servers)
        if now - before <= 2:
            return
        before = now


def access_lines(server):
    try:
        with open(server.access_log_path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


DAEMON_COMM = "authnz-daemon"


def child_rss_kb(server):
    """VmRSS (kB) of the server's children: (Apache children, daemon
    processes). A daemon process is a child of Apache's parent too; it
    names itself authnz-daemon (/proc/PID/comm)."""
    children, daemons = [], []
    for pid in process_tree(server)[1:]:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    (daemons if comm == DAEMON_COMM else children).append(int(line.split()[1]))
        except OSError:
            pass
    return children, daemons


def pin_server(server, cpu):
    """Bind every thread of a running server to `cpu`; children forked
    later inherit the parent's binding."""
    for pid in process_tree(server):
        subprocess.run(["taskset", "-a", "-c", "-p", str(cpu), str(pid)],
                       capture_output=True, check=False)


def run_wrk(url, header, keepalive, seconds, connections, threads, cpu=None):
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    cmd = pin + ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
           "--timeout", "60s", "--latency"]
    if header:
        cmd += ["-H", f"Authorization: {header}"]
    if not keepalive:
        cmd += ["-H", "Connection: close"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 120).stdout
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return rate, int(bad.group(1)) if bad else 0, errors.group(0) if errors else ""


def gil_sizing(mpm):
    if mpm == "prefork":
        return ("under prefork every gil server has the run's children, one per connection, "
                "so embedded mode, too, runs on every CPU")
    return ("embedded and daemon processes=2 in one Apache of one child x 50 threads; "
            "embedded, 2 children: 2 x 25 threads. With one Apache child per CPU, embedded "
            "mode uses every CPU too: daemon mode chooses the number of interpreters apart "
            "from Apache's children")


def print_rss(servers):
    """VmRSS of each server's Apache children and daemon processes."""
    print("\nRSS after the runs (VmRSS, MiB): Apache children and daemon processes "
          f"({DAEMON_COMM}) of each server; embedded mode: ours (and the gil servers' "
          "embedded cases), daemon mode: ours, daemon (no embedded location)\n")
    print("| server | Apache children | RSS per child | daemon processes | RSS per daemon |")
    print("| --- | ---: | --- | ---: | --- |")
    for name, server in servers.items():
        children, daemons = child_rss_kb(server)
        print(f"| {name} | {len(children)} | "
              f"{', '.join(f'{kb / 1024:.1f}' for kb in children) or '-'} | {len(daemons)} | "
              f"{', '.join(f'{kb / 1024:.1f}' for kb in daemons) or '-'} |")


def print_targets(pairs, cases):
    """The daemon cases' targets against the pairs' medians."""
    selected = {(c[0], c[1]) for c in cases}
    rows = []
    for check, name_a, name_b, floor in TARGETS:
        if (check, name_b) not in selected:
            continue
        found = [r for r in pairs if r[:3] == (check, name_a, name_b)]
        if not found:
            rows.append(f"- {check}: {name_b} / {name_a} >= {floor}: not measured (no pair run)")
            continue
        median = statistics.median(found[0][3])
        verdict = "met" if median >= floor else "NOT met"
        rows.append(f"- {check}: {name_b} / {name_a} >= {floor}: {median:.3f} ({verdict}; "
                    f"pairs {min(found[0][3]):.2f}-{max(found[0][3]):.2f})")
    if rows:
        print("\nDaemon targets (median B/A req/s of the pairs):\n")
        print("\n".join(rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=6, help="length of one wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None,
                        help="wrk threads (default 1 when pinned, else 2)")
    parser.add_argument("--no-pin", action="store_true",
                        help="let Apache and wrk share every CPU instead of pinning Apache to "
                        "CPU 0 and wrk to CPU 1")
    parser.add_argument("--mpm", default="event", choices=MPMS)
    parser.add_argument("--only", help="run only the cases whose check or configuration "
                                       "contains this text")
    parser.add_argument("--pairs-reps", type=int, default=6,
                        help="repetitions of each side-by-side pair (0: none)")
    parser.add_argument("--daemon-processes", type=int, default=1,
                        help="processes= of the daemon group of the trivial daemon cases "
                        "(default 1)")
    parser.add_argument("--daemon-threads", type=int, default=15,
                        help="threads= of that daemon group (default 15)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    for name in ("rounds", "seconds", "connections"):
        if getattr(args, name) < 1:
            sys.exit(f"--{name} must be at least 1")
    if args.pairs_reps < 0:
        sys.exit("--pairs-reps must be 0 or more")
    if not 1 <= args.daemon_processes <= 64:
        sys.exit("--daemon-processes must be from 1 to 64")
    if not 1 <= args.daemon_threads <= 1000:
        sys.exit("--daemon-threads must be from 1 to 1000")

    pinned = not args.no_pin and (os.cpu_count() or 1) >= 2
    if args.threads is None:
        args.threads = min(1 if pinned else 2, args.connections)
    if not 1 <= args.threads <= args.connections:
        sys.exit("--threads must be between 1 and --connections (each wrk thread needs a "
                 "connection)")
    wrk_cpu = 1 if pinned else None
    cases = [c for c in CASES if not args.only or args.only in c[0] or args.only in c[1]]
    if not cases:
        sys.exit(f"--only {args.only!r} matches no check or configuration")
    if args.only:
        cases = with_partners(cases, CASES)
    servers = make_servers(args.mpm, args.connections, args.daemon_processes,
                           args.daemon_threads, wanted={c[2] for c in cases})
    try:
        for name, server in servers.items():
            server.start()
            if pinned and name not in UNPINNED:
                # Children forked later inherit the parent's binding; those
                # already forked are bound on the second pass.
                pin_server(server, 0)
                time.sleep(1.0)
                pin_server(server, 0)
        headers = {}
        for check, config, name, path, kind, _ in cases:
            server = servers[name]
            if kind == "basic":
                headers[(name, path)] = basic_header()
            elif kind == "digest":
                headers[(name, path)] = digest_header(server, path, USER, PASSWORD, REALM)
            else:
                headers[(name, path)] = None
            probe = None
            deadline = time.time() + 20
            while probe is None or (probe.status != 200 and time.time() < deadline):
                if probe is not None:
                    time.sleep(0.2)  # daemon processes may still be starting
                probe = server.request(path, headers={"Authorization": headers[(name, path)]}
                                       if headers[(name, path)] else {})
            if probe.status != 200:
                sys.exit(f"{config} ({check}) answers {probe.status}:\n{server.error_log()}")
            if name == "ours, mod_status":
                figures = server.request("/server-status?auto").body.decode()
                if "AuthnzWsgiScript1CheckPasswordCalls: " not in figures:
                    sys.exit(f"{config}: /server-status?auto has no live figures:\n{figures}")
        wait_idle(servers.values())

        results = {i: [] for i in range(len(cases))}
        cpu = {i: [] for i in range(len(cases))}
        problems = []
        started = time.time()
        for rnd in range(args.rounds):
            order = list(range(len(cases)))
            shift = (rnd * len(cases)) // max(args.rounds, 1)
            order = order[shift:] + order[:shift]
            for i in order:
                check, config, name, path, kind, keepalive = cases[i]
                server = servers[name]
                ticks, logged = cpu_ticks(server), access_lines(server)
                connections = args.connections
                if check == "slow" and config in UNCACHED_SLOW:
                    connections = min(connections, SLOW_CONNECTIONS)
                rate, bad, errors = run_wrk(server.url(path), headers[(name, path)], keepalive,
                                            args.seconds, connections, args.threads,
                                            None if name in UNPINNED else wrk_cpu)
                wait_idle(servers.values())
                # Apache's own CPU per request, queued requests included:
                # steadier than req/s when other work shares the machine.
                served = max(access_lines(server) - logged, 1)
                cpu_us = (cpu_ticks(server) - ticks) / TICKS_PER_SECOND / served * 1e6
                results[i].append(rate)
                cpu[i].append(cpu_us)
                if bad:
                    problems.append(f"{check} / {config}: {bad} non-2xx responses {errors}")
                print(f"round {rnd + 1}/{args.rounds}  {check:<13} {config:<28} "
                      f"{rate:10.1f} req/s {cpu_us:9.1f} us CPU/req", file=sys.stderr, flush=True)
        elapsed = time.time() - started

        def median(i):
            return statistics.median(results[i])

        def ratios(i, j):
            """Case i against case j, round by round: both ran in the same
            round, so slow drifts of the machine cancel out."""
            return [a / b for a, b in zip(results[i], results[j]) if b]

        baseline = {c[0]: i for i, c in enumerate(cases) if c[1] == "no auth"}
        no_auth = baseline.get("trivial")
        wsgi = {c[0]: i for i, c in enumerate(cases) if c[1] == "mod_wsgi"}

        print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.seconds}s, {args.rounds} "
              f"interleaved rounds, {mpm_description(args.mpm, args.connections)}, "
              f"{os.cpu_count()} CPUs, "
              + ("Apache pinned to CPU 0 and wrk to CPU 1 (gil5ms: unpinned, every CPU), "
                 if pinned else "")
              + f"{elapsed:.0f}s of runs; median req/s (min-max); ratios are medians of the "
              "rounds' own ratios (min-max)\n")
        print("| check | configuration | req/s | range | vs no auth | range | vs mod_wsgi "
              "| CPU µs/req |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for i, (check, config, *_rest) in enumerate(cases):
            rate = median(i)
            # A gil5ms row has no no-auth row to compare with (see the pairs).
            base = None if check in ALONE else baseline.get(check, no_auth)
            vs_base = ratios(i, base) if base is not None else []
            vs_wsgi = ratios(i, wsgi[check]) if check in wsgi else []
            base_text = f"{statistics.median(vs_base):.3f}" if vs_base else "-"
            base_range = f"{min(vs_base):.2f}-{max(vs_base):.2f}" if vs_base else "-"
            wsgi_text = f"{statistics.median(vs_wsgi):.2f}x" if vs_wsgi else "-"
            rng = f"{min(results[i]):.0f}-{max(results[i]):.0f}"
            cpu_us = statistics.median(cpu[i])
            print(f"| {check} | {config} | {rate:.1f} | {rng} | {base_text} | {base_range} "
                  f"| {wsgi_text} | {cpu_us:.0f} |")
        print(f"\nUncached slow cases use {SLOW_CONNECTIONS} connections. "
              "vs no auth: against the no-auth row of the same connection mode. CPU µs/req: "
              "user+system time of the server's processes per request served (median), "
              "daemon processes included.")
        if any(c[0] == "gil5ms" for c in cases):
            print(f"gil5ms: a Python loop that holds the GIL until its thread has used "
                  f"{GIL_SECONDS * 1000:.0f} ms of CPU, then the trivial "
                  "check; each case alone, unpinned, with every CPU; "
                  f"{gil_sizing(args.mpm)}.")
        print_rss(servers)
        pairs = []
        if args.pairs_reps:
            # Pairs at the same moment need Apache and wrk on CPUs of their
            # own; ALONE pairs run one case at a time on every CPU.
            runnable = cases if pinned else [c for c in cases if c[0] in ALONE]
            pairs = side_by_side(servers, headers, runnable, args.pairs_reps, args.seconds,
                                 wrk_cpu, args.connections)
        if args.pairs_reps and not pinned:
            print("\nSide by side: not run (it needs Apache and wrk pinned to CPUs of their "
                  "own: two or more CPUs, without --no-pin)"
                  + ("; the gil5ms pairs, one case after the other, are below" if pairs else ""))
        if pairs:
            print(f"\nSide by side: both cases at once, each with its own wrk -t1 "
                  f"-c{args.connections} "
                  f"-d{args.seconds}s, both servers sharing CPU 0; gil5ms: A then B, each alone "
                  f"and unpinned with every CPU; median of {args.pairs_reps} runs (min-max)\n")
            print("| check | A | B | B/A req/s | range | A/B CPU µs per request | range |")
            print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
            for check, name_a, name_b, rates, costs in pairs:
                print(f"| {check} | {name_a} | {name_b} | {statistics.median(rates):.3f} | "
                      f"{min(rates):.2f}-{max(rates):.2f} | {statistics.median(costs):.3f} | "
                      f"{min(costs):.2f}-{max(costs):.2f} |")
        print_targets(pairs, cases)
        if problems:
            print("\nProblems:\n" + "\n".join(problems))
    finally:
        for server in servers.values():
            server.cleanup()


if __name__ == "__main__":
    main()
