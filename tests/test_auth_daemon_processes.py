"""The auth daemon processes themselves (docs/auth-daemons.md): Apache's
parent starts them under their own account and name, restarts one that a
script crashed or stuck, replaces them at a graceful restart without a
failed request, stops them with the server, and their socket admits only
Apache's children (and root) and survives garbage.

Every test asserts the HTTP status, the error log and what the script saw
(`record(...)`, written from inside the daemon process), on a real Apache."""

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from harness import Apache, child_pids, run_user_ids, wait_for

SCRIPT = """
import ctypes
import itertools
import os
import time

SECRET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "secret.txt")

def check_password(environ, user, password):
    record(user=user, pid=os.getpid(), uid=os.getuid(), gid=os.getgid(),
           process_group=environ.get("mod_wsgi.process_group"))
    if user == "spin":
        sum(itertools.repeat(1))
    if user == "crash":
        ctypes.string_at(0)
    if user == "secret":
        with open(SECRET) as f:
            return f.read().strip() == password
    if user == "slow":
        time.sleep(0.2)
    if user == "slower":
        time.sleep(1.5)
    return password == user + "-pw"
"""

CGI = """#!/usr/bin/python3
import os
print("Content-Type: text/plain")
print()
try:
    with open({secret!r}) as f:
        f.read()
    print("READ uid", os.getuid())
except Exception as e:
    print(type(e).__name__, "uid", os.getuid())
"""

SECRET = "s3cret-only-for-the-daemon"


def daemon_conf(options):
    return f"WSGIAuthDaemonProcess auth {options}\n"


def private_location(script):
    """/private, for Basic credentials that `script` checks in the daemon
    group `auth`."""
    return f"""
<Location /private>
  AuthType Basic
  AuthName "daemon"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}" process-group=auth
  Require valid-user
</Location>
"""


def make_server(name, mpm="event", options="user=nobody group=nogroup", extra_modules=(),
                server_conf=""):
    srv = Apache(name=name, mpm=mpm, modules=list(extra_modules),
                 server_conf=daemon_conf(options) + server_conf)
    srv.script = srv.write_script("auth.py", SCRIPT)
    # Daemons of two accounts append to it (a graceful restart changes user=).
    records = srv.record_dir / "calls.jsonl"
    records.touch()
    os.chmod(records, 0o666)
    srv.site_conf = private_location(srv.script)
    return srv


def daemons(srv):
    """The daemon processes of `srv`: pid -> (comm, uid, gid)."""
    found = {}
    for pid in child_pids(srv.proc.pid):
        try:
            comm = open(f"/proc/{pid}/comm").read().strip()
            status = open(f"/proc/{pid}/status").read()
        except OSError:
            continue
        if comm == "authnz-daemon":
            uid = int(next(l for l in status.splitlines() if l.startswith("Uid:")).split()[1])
            gid = int(next(l for l in status.splitlines() if l.startswith("Gid:")).split()[1])
            found[pid] = (comm, uid, gid)
    return found


def apache_children(srv):
    return sorted(set(child_pids(srv.proc.pid)) - set(daemons(srv)))


@contextlib.contextmanager
def meanwhile(step, threads=1):
    """Runs `step(k, n)` over and over (n = 1, 2, ...) in `threads` threads
    (k = 0, 1, ...) while the block runs; they are stopped and joined when
    it ends."""
    stop = threading.Event()

    def run(k):
        n = 0
        while not stop.is_set():
            n += 1
            step(k, n)

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def socket_file(srv):
    (path,) = list((srv.dir / "run").glob("authnz-wsgi.*.auth.sock"))
    return path


def tagged(srv, tag):
    return srv.error_lines(f"AUTHNZ_WSGI{tag:04}:")


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_the_daemon_runs_as_its_account_and_only_it_reads_the_secret(mpm):
    nobody = pwd.getpwnam("nobody")
    srv = make_server(f"daemon-account-{mpm}", mpm,
                      extra_modules=["cgid"] if mpm == "event" else ["cgi"])
    secret = srv.dir / "secret.txt"
    secret.write_text(SECRET + "\n")
    os.chown(secret, nobody.pw_uid, nobody.pw_gid)
    os.chmod(secret, 0o400)
    cgi_dir = srv.dir / "cgi-bin"
    cgi_dir.mkdir()
    (cgi_dir / "read.py").write_text(CGI.format(secret=str(secret)))
    os.chmod(cgi_dir / "read.py", 0o755)
    srv.site_conf += f'ScriptAlias /cgi-bin/ "{cgi_dir}/"\n'
    with srv:
        running = wait_for(lambda: daemons(srv))
        assert len(running) == 1, running
        ((pid, (comm, uid, gid)),) = running.items()
        assert (comm, uid) == ("authnz-daemon", nobody.pw_uid)
        # A child of Apache's parent, not of a child.
        assert int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) == srv.proc.pid

        resp = srv.get_basic("/private/", "secret", SECRET)
        assert resp.status == 200, srv.error_log()
        assert srv.get_basic("/private/", "secret", "wrong").status == 401
        seen = srv.records()
        assert [(r["user"], r["pid"], r["uid"]) for r in seen] == \
            [("secret", pid, nobody.pw_uid)] * 2
        assert seen[0]["process_group"] == "auth"
        # The script's load line is written by the child, with the request's
        # context, as an embedded one would be.
        (loaded,) = tagged(srv, 24)
        assert "[client 127.0.0.1:" in loaded and str(srv.script) in loaded
        assert len(tagged(srv, 120)) == 1

        # A CGI of the same server runs as Apache's user: denied.
        cgi = srv.request("/cgi-bin/read.py")
        assert cgi.status == 200, srv.error_log()
        assert cgi.body.decode().split()[:3] == ["PermissionError", "uid",
                                                 str(run_user_ids()[0])], cgi.body


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_more_apache_threads_than_serving_threads(mpm):
    """Idle connections pin no serving thread: 12 client threads through
    Apache workers that each keep a connection, against 2 processes of 2
    serving threads, every answer right."""
    with make_server(f"daemon-many-{mpm}", mpm, options="user=nobody processes=2 threads=2",
                     server_conf="StartServers 3\n") as srv:
        pids = wait_for(lambda: len(daemons(srv)) == 2 and daemons(srv))
        results = []

        def client(k):
            for n in range(40):
                user = f"c{k}n{n}"
                right = n % 3 != 0
                status = srv.get_basic("/private/", user, user + "-pw" if right else "no").status
                results.append((user, right, status))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 480
        wrong = [(u, r, s) for u, r, s in results if s != (200 if r else 401)]
        assert wrong == [], wrong[:5]
        seen = srv.records()
        assert sorted(r["user"] for r in seen) == sorted(u for u, _, _ in results)
        assert {r["pid"] for r in seen} <= set(pids)
        assert tagged(srv, 116) + tagged(srv, 117) + tagged(srv, 118) + tagged(srv, 119) == []
        assert daemons(srv).keys() == pids.keys()


def test_python_path_of_the_group_is_the_daemons_sys_path():
    srv = Apache(name="daemon-pypath")
    lib = srv.dir / "daemon-lib"
    lib.mkdir()
    (lib / "daemon_only_helper.py").write_text("ANSWER = 'from-the-group-path'\n")
    os.chmod(lib / "daemon_only_helper.py", 0o644)
    script = srv.write_script("paths.py", """
        import sys
        def check_password(environ, user, password):
            import daemon_only_helper
            record(answer=daemon_only_helper.ANSWER, in_path=sys.path.count(LIB))
            return True
        """.replace("LIB", repr(str(lib))))
    srv.server_conf = f"WSGIAuthDaemonProcess auth user=nobody python-path={lib}\n"
    srv.site_conf = private_location(script) + f"""
<Location /embedded>
  AuthType Basic
  AuthName "embedded"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  Require valid-user
</Location>
"""
    (srv.docroot / "embedded").mkdir()
    (srv.docroot / "embedded" / "index.html").write_text("embedded\n")
    with srv:
        assert srv.get_basic("/private/", "a", "a-pw").status == 200
        assert srv.records() == [{"answer": "from-the-group-path", "in_path": 1}]
        # Apache's children do not have the group's path.
        assert srv.get_basic("/embedded/", "a", "a-pw").status == 500
        assert srv.error_lines("ModuleNotFoundError: No module named 'daemon_only_helper'")


def test_connections_of_recycled_children_are_closed_in_the_daemon():
    """Children recycled all the time (MaxConnectionsPerChild 2): each one's
    connection to the daemon ends with it, and the daemon lets it go."""
    with make_server("daemon-recycle", "prefork", options="user=nobody threads=2",
                     server_conf="StartServers 2\nMinSpareServers 1\nMaxSpareServers 2\n"
                                 "MaxConnectionsPerChild 2\n") as srv:
        (pid,) = wait_for(lambda: daemons(srv))
        statuses = [srv.get_basic("/private/", f"r{n}", f"r{n}-pw").status for n in range(40)]
        assert statuses == [200] * 40
        assert len(srv.records()) == 40
        # 0, 1, 2, the listener, the poller's wake pair, and one connection
        # per live child at most.
        children = len(apache_children(srv))
        open_fds = wait_for(lambda: len(os.listdir(f"/proc/{pid}/fd")) <= 6 + children
                            and len(os.listdir(f"/proc/{pid}/fd")), timeout=5)
        assert open_fds, os.listdir(f"/proc/{pid}/fd")
        assert list(daemons(srv)) == [pid]


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_an_overrunning_call_is_answered_500_and_its_process_replaced(mpm):
    with make_server(f"daemon-overrun-{mpm}", mpm,
                     options="user=nobody group=nogroup processes=2 threads=4 call-timeout=2",
                     server_conf="StartServers 2\n") as srv:
        before = wait_for(lambda: len(daemons(srv)) == 2 and daemons(srv))
        assert len(before) == 2
        statuses = []

        def others(_, n):
            user = f"u{n % 7}"
            statuses.append(("daemon", srv.get_basic("/private/", user, user + "-pw").status))
            statuses.append(("static", srv.request("/index.html").status))

        with meanwhile(others):
            time.sleep(0.3)
            started = time.time()
            resp = srv.get_basic("/private/", "spin", "spin-pw")
            elapsed = time.time() - started
            time.sleep(0.5)
        problems = [l for l in srv.error_log().splitlines() if "AUTHNZ_WSGI01" in l]
        assert resp.status == 500 and elapsed < 3.0, (resp.status, elapsed, problems)
        assert len(statuses) > 20 and {s for _, s in statuses} == {200}, \
            ([s for s in statuses if s[1] != 200], problems)
        # The watchdog's line names the call; the child's line the failure.
        (overran,) = tagged(srv, 125)
        assert "check_password of" in overran and "daemon group auth" in overran
        failed = tagged(srv, 117) + tagged(srv, 118)
        assert len(failed) == 1 and "[client 127.0.0.1:" in failed[0], srv.error_log()
        (spin,) = [r for r in srv.records() if r["user"] == "spin"]
        assert spin["pid"] in before
        after = wait_for(lambda: len(daemons(srv)) == 2 and spin["pid"] not in daemons(srv)
                         and daemons(srv))
        assert after and spin["pid"] not in after and len(set(after) & set(before)) == 1
        (ended,) = tagged(srv, 121)
        assert f"pid {spin['pid']} ended" in ended
        assert srv.get_basic("/private/", "next", "next-pw").status == 200


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_a_crashing_script_costs_one_500_never_an_apache_child(mpm):
    with make_server(f"daemon-crash-{mpm}", mpm, server_conf="StartServers 2\n") as srv:
        (first,) = wait_for(lambda: daemons(srv))
        assert srv.get_basic("/private/", "warm", "warm-pw").status == 200
        children = apache_children(srv)
        resp = srv.get_basic("/private/", "crash", "crash-pw")
        assert resp.status == 500
        (lost,) = tagged(srv, 118)
        assert "check_password of" in lost and "[client 127.0.0.1:" in lost
        replaced = wait_for(lambda: daemons(srv) and first not in daemons(srv) and daemons(srv))
        assert replaced and first not in replaced
        assert srv.get_basic("/private/", "next", "next-pw").status == 200
        # Every Apache child of before still runs (the MPM may add more).
        assert set(children) <= set(apache_children(srv))
        (ended,) = tagged(srv, 121)
        assert f"pid {first} ended" in ended
        # httpd's own "exit signal" line names the daemon only.
        signals = srv.error_lines("exit signal")
        assert all(f"pid {first} " in l for l in signals), signals
        assert [r["user"] for r in srv.records()] == ["warm", "crash", "next"]


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_graceful_restart_under_load_fails_nothing_and_applies_new_options(mpm):
    daemon_user = pwd.getpwnam("daemon")
    with make_server(f"daemon-graceful-{mpm}", mpm,
                     options="user=nobody group=nogroup processes=1") as srv:
        (old,) = wait_for(lambda: daemons(srv))
        statuses = []

        def load(_, n):
            statuses.append(srv.get_basic("/private/", f"u{n % 5}", f"u{n % 5}-pw").status)

        with meanwhile(load):
            time.sleep(0.5)
            srv.server_conf = daemon_conf("user=daemon group=daemon processes=2")
            srv.write_config()
            srv.graceful()
            new = wait_for(lambda: len(daemons(srv)) == 2 and old not in daemons(srv)
                           and daemons(srv))
            time.sleep(1.0)
        assert new and old not in new
        assert {uid for _, uid, _ in new.values()} == {daemon_user.pw_uid}
        assert len(statuses) > 20 and set(statuses) == {200}, statuses
        uids = {r["uid"] for r in srv.records()}
        assert uids == {pwd.getpwnam("nobody").pw_uid, daemon_user.pw_uid}
        (stopped,) = tagged(srv, 128)
        assert "graceful restart" in stopped and "killed" not in stopped
        assert srv.error_lines("long lost child") == []


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_repeated_graceful_restarts_under_concurrent_load_fail_nothing(mpm):
    with make_server(f"daemon-restarts-{mpm}", mpm,
                     options="user=nobody processes=2 threads=4") as srv:
        statuses = []

        def load(k, n):
            user = f"k{k}n{n % 9}"
            statuses.append(srv.get_basic("/private/", user, user + "-pw").status)

        with meanwhile(load, threads=4):
            for _ in range(4):
                time.sleep(0.4)
                srv.graceful()
            time.sleep(0.5)
        assert len(statuses) > 200 and set(statuses) == {200}, \
            [s for s in statuses if s != 200][:5]
        assert len(tagged(srv, 128)) == 4
        assert len(daemons(srv)) == 2
        assert srv.error_lines("long lost child") == [] and tagged(srv, 121) == []
        assert tagged(srv, 116) + tagged(srv, 117) + tagged(srv, 118) == []


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_a_call_under_way_at_a_graceful_restart_is_finished_by_the_old_process(mpm):
    with make_server(f"daemon-drain-{mpm}", mpm, options="user=nobody call-timeout=5") as srv:
        (old,) = wait_for(lambda: daemons(srv))
        result = {}

        def slow():
            result["status"] = srv.get_basic("/private/", "slower", "slower-pw").status

        thread = threading.Thread(target=slow)
        thread.start()
        assert wait_for(lambda: srv.records())
        srv.graceful(timeout=20)
        thread.join()
        assert result["status"] == 200
        (stopped,) = tagged(srv, 128)
        took = float(re.search(r"graceful restart in ([\d.]+) s", stopped).group(1))
        assert 0.8 <= took < 3 and "killed" not in stopped, stopped
        (new,) = wait_for(lambda: daemons(srv))
        assert new != old and not os.path.exists(f"/proc/{old}")
        assert srv.get_basic("/private/", "next", "next-pw").status == 200
        assert [(r["user"], r["pid"]) for r in srv.records()] == [("slower", old), ("next", new)]


def test_a_restart_that_removes_the_group_removes_its_processes_and_socket():
    with make_server("daemon-removed", options="user=nobody processes=2") as srv:
        old = wait_for(lambda: len(daemons(srv)) == 2 and daemons(srv))
        path = socket_file(srv)
        assert srv.get_basic("/private/", "a", "a-pw").status == 200
        # The script now runs embedded: no daemon group any more.
        srv.server_conf = ""
        srv.site_conf = srv.site_conf.replace(" process-group=auth", "")
        srv.write_config()
        srv.graceful()
        assert wait_for(lambda: not daemons(srv))
        assert not any(os.path.exists(f"/proc/{p}") for p in old)
        assert not path.exists()
        assert srv.get_basic("/private/", "b", "b-pw").status == 200
        seen = srv.records()
        assert [(r["user"], r["process_group"]) for r in seen] == [("a", "auth"), ("b", "")]
        assert seen[0]["uid"] == pwd.getpwnam("nobody").pw_uid
        assert seen[1]["uid"] == run_user_ids()[0]


def test_hard_restart_replaces_the_processes():
    with make_server("daemon-hard", options="user=nobody processes=2") as srv:
        old = wait_for(lambda: len(daemons(srv)) == 2 and daemons(srv))
        assert srv.get_basic("/private/", "a", "a-pw").status == 200
        before = srv.error_log().count("resuming normal operations")
        srv.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: srv.error_log().count("resuming normal operations") > before)
        new = wait_for(lambda: len(daemons(srv)) == 2 and not set(daemons(srv)) & set(old)
                       and daemons(srv))
        assert new and not set(new) & set(old)
        assert not any(os.path.exists(f"/proc/{p}") for p in old)
        assert srv.get_basic("/private/", "b", "b-pw").status == 200
        (stopped,) = tagged(srv, 128)
        assert "for the stop" in stopped
        assert tagged(srv, 121) == [] and srv.error_lines("long lost child") == []
        assert [r["user"] for r in srv.records()] == ["a", "b"]


def test_a_group_that_cannot_start_python_is_retried_with_back_off():
    """A python-home= that is a directory but no Python: each process ends
    at start with one line and is started again after a growing back-off;
    a request waits no longer than its time limit and the grace."""
    not_python = tempfile.mkdtemp(prefix="authnz-not-python-")
    os.chmod(not_python, 0o755)
    srv = make_server("daemon-backoff",
                      options=f"user=nobody python-home={not_python} call-timeout=1")
    try:
        srv.start()
        started = time.time()
        resp = srv.get_basic("/private/", "a", "a-pw")
        assert resp.status == 500 and time.time() - started < 2.5
        (unreachable,) = tagged(srv, 116)
        assert "no daemon process took the connection" in unreachable
        assert "[client 127.0.0.1:" in unreachable
        assert wait_for(lambda: len(tagged(srv, 121)) >= 4, timeout=10), srv.error_log()
        ended = tagged(srv, 121)
        waits = [float(re.search(r"starting another in ([\d.]+) s", l).group(1)) for l in ended]
        assert waits[:4] == [0.1, 0.2, 0.4, 0.8], ended
        setup = tagged(srv, 124)
        assert setup and "Python could not be started" in setup[0]
        assert srv.records() == []
        # A process waiting out its back-off ends at once at a stop.
        waiting = daemons(srv)
        started = time.time()
        srv.stop()
        assert time.time() - started < 2.5
        assert not any(os.path.exists(f"/proc/{p}") for p in waiting)
        (stopped,) = tagged(srv, 128)
        assert "killed" not in stopped
    finally:
        srv.cleanup()
        shutil.rmtree(not_python, ignore_errors=True)


def test_the_daemons_end_with_a_parent_killed_outright():
    srv = make_server("daemon-orphan", options="user=nobody processes=2")
    try:
        srv.start()
        pids = wait_for(lambda: len(daemons(srv)) == 2 and daemons(srv))
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=10)
        gone = wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids), timeout=10)
        assert gone, pids
    finally:
        try:
            os.killpg(srv.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, AttributeError, PermissionError):
            pass
        srv.cleanup()


@pytest.mark.parametrize("mpm", ["event", "prefork"])
@pytest.mark.parametrize("how", ["stop", "graceful-stop"])
def test_stop_leaves_no_daemon_and_no_socket(mpm, how):
    with make_server(f"daemon-stop-{mpm}", mpm, options="user=nobody processes=2") as srv:
        pids = wait_for(lambda: len(daemons(srv)) == 2 and daemons(srv))
        path = socket_file(srv)
        assert srv.get_basic("/private/", "a", "a-pw").status == 200
        if how == "stop":
            srv.stop()
        else:
            srv.proc.send_signal(signal.SIGWINCH)
            srv.proc.wait(timeout=30)
        gone = wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids), timeout=5)
        assert gone, pids
        assert not path.exists()
        assert list((srv.dir / "run").glob("authnz-wsgi.*")) == []
        (stopped,) = tagged(srv, 128)
        # The MPM may have reaped some already while it stopped its children.
        assert re.search(r"daemon group auth: [0-2] process\(es\) stopped for the stop", stopped)
        assert srv.error_lines("long lost child") == [] and tagged(srv, 121) == []


def frame_header(version=1, kind=1, length=0):
    return struct.pack(">BBI", version, kind, length)


def connect_greeted(path):
    """A root connection to the daemon socket, past the daemon's greeting
    (the protocol version byte it writes on each connection it takes)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(path))
    s.settimeout(5)
    assert s.recv(1) == b"\x01"
    return s


def closed_by_peer(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_the_socket_admits_only_apache_and_survives_garbage():
    with make_server("daemon-socket", options="user=nobody processes=1 threads=4") as srv:
        (pid,) = wait_for(lambda: daemons(srv))
        path = socket_file(srv)
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == run_user_ids()[0]

        # Another account cannot connect.
        probe = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c",
             "import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
             f"try:\n  s.connect({str(path)!r})\nexcept PermissionError:\n  print('denied')\n"],
            capture_output=True, text=True, timeout=10)
        assert probe.stdout.strip() == "denied", probe
        # Even with the file opened to everyone, the daemon checks who
        # connected (SO_PEERCRED) and closes another account's connection
        # before it greets it.
        os.chmod(path, 0o666)
        probe = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3",
             "-c", "import socket\ns=socket.socket(socket.AF_UNIX)\n"
             f"s.connect({str(path)!r})\ns.settimeout(5)\nprint(repr(s.recv(1)))\n"],
            capture_output=True, text=True, timeout=10)
        assert probe.stdout.strip() == "b''", probe
        os.chmod(path, 0o600)
        (peer,) = wait_for(lambda: tagged(srv, 126))
        assert f"a process of uid {pwd.getpwnam('nobody').pw_uid} is not Apache's User" in peer

        # Root can: each malformed frame closes only its own connection.
        for garbage in [frame_header(length=0xFFFFFFFF), frame_header(version=9),
                        b"GET / HTTP/1.0\r\n\r\n", frame_header(kind=2, length=4) + b"abcd"]:
            s = connect_greeted(path)
            s.sendall(garbage)
            assert closed_by_peer(s, 5), garbage
            s.close()
        # Half a frame, then silence: the daemon keeps serving meanwhile.
        stalled = connect_greeted(path)
        stalled.sendall(frame_header(length=100) + b"x" * 10)
        started = time.time()
        assert srv.get_basic("/private/", "during", "during-pw").status == 200
        assert time.time() - started < 2
        assert closed_by_peer(stalled, 15)
        stalled.close()
        refused = tagged(srv, 126)[1:]
        assert len(refused) == 5, srv.error_log()
        for text in ["frame of 4294967295 bytes", "protocol version 9", "protocol version 71",
                     "kind Reply", "stopped half-way for 10 s"]:
            assert sum(text in line for line in refused) == 1, (text, refused)
        assert srv.get_basic("/private/", "after", "after-pw").status == 200
        assert list(daemons(srv)) == [pid]
        assert [r["user"] for r in srv.records()] == ["during", "after"]
