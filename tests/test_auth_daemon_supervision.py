"""How Apache's parent supervises the auth daemon processes in the less
usual ways httpd runs (docs/auth-daemons.md): started by an account that
is not root (a group of another account stops start-up with one line; a
group of Apache's own account works), in one-process mode (`apache2 -X`:
the daemons start and stop with the single process, nothing is left
behind), and the line that reports a daemon process's end in plain words
(its exit status, or the signal that killed it).

Every test runs a real apache2 and asserts the HTTP status, the error log
and what the script saw from inside the daemon process."""

import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

from harness import APACHE_BIN, Apache, child_pids, wait_for

SCRIPT = """
import ctypes
import os

def check_password(environ, user, password):
    record(user=user, pid=os.getpid(), uid=os.getuid(), gid=os.getgid(),
           process_group=environ.get("mod_wsgi.process_group"))
    if user == "crash":
        ctypes.string_at(0)
    return password == user + "-pw"
"""

RUN_AS = "www-data"


def make_server(name, options, mpm="event", server_conf=""):
    srv = Apache(name=name, mpm=mpm,
                 server_conf=f"WSGIAuthDaemonProcess auth {options}\n" + server_conf)
    srv.script = srv.write_script("auth.py", SCRIPT)
    records = srv.record_dir / "calls.jsonl"
    records.touch()
    os.chmod(records, 0o666)
    srv.site_conf = f"""
<Location /private>
  AuthType Basic
  AuthName "daemon"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{srv.script}" process-group=auth
  Require valid-user
</Location>
"""
    return srv


def proc_status(pid):
    """(comm, ppid, uid, gid) of a process, or None once it is gone."""
    try:
        comm = open(f"/proc/{pid}/comm").read().strip()
        status = open(f"/proc/{pid}/status").read()
    except OSError:
        return None
    fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
    return (comm, int(fields["PPid"].split()[0]), int(fields["Uid"].split()[0]),
            int(fields["Gid"].split()[0]))


def daemons_of(parent):
    """The daemon processes whose parent is `parent`: pid -> (uid, gid)."""
    found = {}
    for pid in child_pids(parent):
        seen = proc_status(pid)
        if seen and seen[0] == "authnz-daemon":
            found[pid] = (seen[2], seen[3])
    return found


def all_daemons():
    """Every authnz-daemon process of the machine."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if open(f"/proc/{entry}/comm").read().strip() == "authnz-daemon":
                    found.append(int(entry))
            except OSError:
                pass
    return found


def tagged(srv, tag):
    return srv.error_lines(f"AUTHNZ_WSGI{tag:04}:")


def wait_listening(srv, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"apache2 exited with {proc.returncode}:\n"
                               + (srv.dir / "logs" / "stderr.log").read_text(errors="replace")
                               + srv.error_log())
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("apache2 did not listen in time:\n" + srv.error_log())


# ---- Apache started by an account that is not root --------------------------

def give_to(srv, account):
    """Make the server's directory usable by `account`, which starts it."""
    pw = pwd.getpwnam(account)
    for sub in ("logs", "run"):
        os.chown(srv.dir / sub, pw.pw_uid, pw.pw_gid)


def as_account(account):
    """Popen's arguments that run a command as `account` and its group only."""
    pw = pwd.getpwnam(account)
    return dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])


def start_as(srv, account, *args):
    """Start apache2 in the foreground as `account` (no root at any point)."""
    srv.write_config()
    stderr_path = srv.dir / "logs" / "stderr.log"
    return subprocess.Popen(
        [APACHE_BIN, "-f", str(srv.conf_path), "-DFOREGROUND", *args],
        stdout=open(stderr_path, "ab"), stderr=subprocess.STDOUT,
        start_new_session=True, **as_account(account))


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_unprivileged_apache_refuses_a_group_of_another_account():
    srv = make_server("daemon-unprivileged-other", "user=nobody group=nogroup processes=2")
    give_to(srv, RUN_AS)
    proc = None
    try:
        proc = start_as(srv, RUN_AS)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        assert proc.returncode not in (None, 0), srv.error_log()
        output = (srv.dir / "logs" / "stderr.log").read_text(errors="replace")
        lines = [l for l in output.splitlines() if "AUTHNZ_WSGI" in l]
        www = pwd.getpwnam(RUN_AS)
        nobody = pwd.getpwnam("nobody")
        assert len(lines) == 1, output
        (line,) = lines
        assert "AUTHNZ_WSGI0134:" in line and "WSGIAuthDaemonProcess auth at" in line
        assert f"runs as uid {www.pw_uid} gid {www.pw_gid}" in line
        assert f"user=nobody (user id {nobody.pw_uid})" in line
        # Nothing started: no daemon, no socket, no port.
        assert not any(proc_status(p) and proc_status(p)[1] == proc.pid
                       for p in all_daemons())
        assert list((srv.dir / "run").glob("authnz-wsgi.*")) == []
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", srv.port)) != 0
        # apache2 -t as that account says the same.
        p = subprocess.run([APACHE_BIN, "-t", "-f", str(srv.conf_path)], capture_output=True,
                           text=True, timeout=60, **as_account(RUN_AS))
        assert p.returncode != 0 and "AUTHNZ_WSGI0134:" in p.stdout + p.stderr
        # As root the same configuration starts.
        srv.start()
        assert srv.get_basic("/private/", "a", "a-pw").status == 200
        assert srv.records()[-1]["uid"] == nobody.pw_uid
    finally:
        if proc:
            stop(proc)
        srv.cleanup()


@pytest.mark.parametrize("account,options", [
    # Without user=: the account Apache runs as, not the configuration's
    # User (www-data), which httpd ignores when not started as root.
    ("nobody", "processes=2"),
    # Naming the account Apache runs as.
    (RUN_AS, f"user={RUN_AS} group={RUN_AS} processes=2"),
])
def test_unprivileged_apache_serves_a_group_of_its_own_account(account, options):
    pw = pwd.getpwnam(account)
    srv = make_server("daemon-unprivileged-own", options)
    give_to(srv, account)
    proc = None
    try:
        proc = start_as(srv, account)
        wait_listening(srv, proc)
        running = wait_for(lambda: len(daemons_of(proc.pid)) == 2 and daemons_of(proc.pid))
        assert running and set(running.values()) == {(pw.pw_uid, pw.pw_gid)}, running
        resp = srv.get_basic("/private/", "alice", "alice-pw")
        assert resp.status == 200, srv.error_log()
        assert srv.get_basic("/private/", "alice", "wrong").status == 401
        seen = srv.records()
        assert [r["user"] for r in seen] == ["alice", "alice"]
        assert all(r["pid"] in running and r["uid"] == pw.pw_uid
                   and r["process_group"] == "auth" for r in seen), (seen, running)
        # The socket is the account's own, mode 0600.
        (path,) = (srv.dir / "run").glob("authnz-wsgi.*.auth.sock")
        st = os.stat(path)
        assert st.st_uid == pw.pw_uid and stat.S_IMODE(st.st_mode) == 0o600
        started = tagged(srv, 120)
        assert len(started) == 2 and all(f"uid {pw.pw_uid}, gid {pw.pw_gid}" in l
                                         for l in started), started
        assert tagged(srv, 124) == [] and tagged(srv, 121) == [] and tagged(srv, 134) == []
        stop(proc)
        assert wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in running))
        assert not path.exists()
    finally:
        if proc:
            stop(proc)
        srv.cleanup()


# ---- one-process mode (apache2 -X) -----------------------------------------

def gone(pid):
    """Whether `pid` has ended (no process, or a zombie left to reap)."""
    try:
        stat_line = open(f"/proc/{pid}/stat").read()
    except OSError:
        return True
    return stat_line.rsplit(")", 1)[1].split()[0] == "Z"


def cleanup_of(proc):
    """The cleanup process(es) of a one-process httpd: pids."""
    return [p for p in child_pids(proc.pid)
            if (proc_status(p) or ("",))[0] == "authnz-cleanup"]


def kill_group(proc):
    """After a test: whatever is left of the process group of `proc` (so
    that a failing test leaves no process behind)."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(timeout=10)


def start_one_process(srv, define, account=None):
    srv.write_config()
    stderr_path = srv.dir / "logs" / "stderr.log"
    proc = subprocess.Popen([APACHE_BIN, define, "-f", str(srv.conf_path)],
                            stdout=open(stderr_path, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True, **(as_account(account) if account else {}))
    wait_listening(srv, proc)
    return proc


@pytest.mark.parametrize("mpm,define,how", [
    ("event", "-X", "SIGTERM"),
    ("event", "-X", "Ctrl-C"),
    ("prefork", "-DONE_PROCESS", "SIGTERM"),
])
def test_one_process_mode_starts_the_daemons_and_leaves_nothing_behind(mpm, define, how):
    nobody = pwd.getpwnam("nobody")
    srv = make_server(f"daemon-one-process-{mpm}", "user=nobody group=nogroup processes=2",
                      mpm=mpm)
    proc = None
    try:
        proc = start_one_process(srv, define)
        running = wait_for(lambda: len(daemons_of(proc.pid)) == 2 and daemons_of(proc.pid))
        assert running and {uid for uid, _ in running.values()} == {nobody.pw_uid}, running
        cleanup = wait_for(lambda: cleanup_of(proc))
        assert len(cleanup) == 1, child_pids(proc.pid)
        (notice,) = wait_for(lambda: tagged(srv, 135))
        assert f"cleanup process (pid {cleanup[0]}, authnz-cleanup)" in notice
        # The one process serves as Apache's User; the calls run in the daemons.
        assert srv.get_basic("/private/", "alice", "alice-pw").status == 200, srv.error_log()
        assert srv.get_basic("/private/", "alice", "nope").status == 401
        seen = srv.records()
        assert [r["user"] for r in seen] == ["alice", "alice"]
        assert all(r["pid"] in running and r["uid"] == nobody.pw_uid for r in seen), seen
        (path,) = (srv.dir / "run").glob("authnz-wsgi.*.auth.sock")

        if how == "Ctrl-C":
            # A terminal's Ctrl-C reaches the whole process group.
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        everything = list(running) + cleanup
        assert wait_for(lambda: all(gone(p) for p in everything), timeout=10), \
            [(p, proc_status(p)) for p in everything]
        assert not path.exists()
        assert list((srv.dir / "run").glob("authnz-wsgi.*")) == []
        stopped = wait_for(lambda: tagged(srv, 128))
        assert len(stopped) == 1 and "daemon group auth: 2 process(es) stopped for the stop" \
            in stopped[0] and "killed" not in stopped[0], srv.error_log()
        assert tagged(srv, 121) == [] and tagged(srv, 124) == []
    finally:
        kill_group(proc)
        srv.cleanup()


def test_one_process_mode_started_by_an_account_that_is_not_root():
    www = pwd.getpwnam(RUN_AS)
    srv = make_server("daemon-one-process-unprivileged", "processes=1")
    give_to(srv, RUN_AS)
    proc = None
    try:
        proc = start_one_process(srv, "-X", account=RUN_AS)
        running = wait_for(lambda: daemons_of(proc.pid))
        cleanup = wait_for(lambda: cleanup_of(proc))
        assert list(running.values()) == [(www.pw_uid, www.pw_gid)] and len(cleanup) == 1
        assert srv.get_basic("/private/", "carol", "carol-pw").status == 200, srv.error_log()
        assert [(r["user"], r["uid"]) for r in srv.records()] == [("carol", www.pw_uid)]
        assert srv.records()[0]["pid"] in running
        (path,) = (srv.dir / "run").glob("authnz-wsgi.*.auth.sock")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert wait_for(lambda: all(gone(p) for p in list(running) + cleanup), timeout=10)
        assert wait_for(lambda: not path.exists(), timeout=5)
        assert len(wait_for(lambda: tagged(srv, 128))) == 1
    finally:
        kill_group(proc)
        srv.cleanup()


def test_one_process_mode_cleans_up_after_a_killed_httpd():
    """Even a `kill -9` of the one process leaves nothing: the cleanup
    process sees its parent gone."""
    srv = make_server("daemon-one-process-kill", "user=nobody processes=1")
    proc = None
    try:
        proc = start_one_process(srv, "-X")
        running = wait_for(lambda: daemons_of(proc.pid))
        cleanup = wait_for(lambda: cleanup_of(proc))
        assert len(running) == 1 and len(cleanup) == 1
        assert srv.get_basic("/private/", "bob", "bob-pw").status == 200
        (path,) = (srv.dir / "run").glob("authnz-wsgi.*.auth.sock")
        proc.kill()
        proc.wait(timeout=10)
        everything = list(running) + cleanup
        assert wait_for(lambda: all(gone(p) for p in everything), timeout=10)
        assert wait_for(lambda: not path.exists(), timeout=5)
        assert len(wait_for(lambda: tagged(srv, 128))) == 1
    finally:
        kill_group(proc)
        srv.cleanup()


def test_one_process_mode_reports_a_daemon_that_ends_and_does_not_replace_it():
    srv = make_server("daemon-one-process-ended", "user=nobody processes=2")
    proc = None
    try:
        proc = start_one_process(srv, "-X")
        running = wait_for(lambda: len(daemons_of(proc.pid)) == 2 and daemons_of(proc.pid))
        assert running and len(running) == 2
        victim, survivor = sorted(running)
        os.kill(victim, signal.SIGKILL)
        # Reaped by the one process (no zombie), reported from the raw wait status.
        assert wait_for(lambda: not os.path.exists(f"/proc/{victim}"), timeout=5)
        lines = wait_for(lambda: tagged(srv, 121))
        assert len(lines) == 1 and re.search(
            rf"process pid {victim} ended after [\d.]+ s: it was killed by signal 9 \(SIGKILL\); "
            r"not replaced: httpd runs as one process \(-X\)", lines[0]), srv.error_log()
        time.sleep(0.5)
        assert set(daemons_of(proc.pid)) == {survivor}
        # The other process answers.
        for n in range(3):
            assert srv.get_basic("/private/", f"u{n}", f"u{n}-pw").status == 200, srv.error_log()
        assert {r["pid"] for r in srv.records()} == {survivor}
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert wait_for(lambda: gone(survivor), timeout=10)
        assert wait_for(lambda: list((srv.dir / "run").glob("authnz-wsgi.*")) == [], timeout=5)
        assert tagged(srv, 136) == []
    finally:
        kill_group(proc)
        srv.cleanup()


# ---- how a daemon process ended, in plain words ------------------------------

def ended_line(srv, pid):
    lines = wait_for(lambda: [l for l in tagged(srv, 121) if f"process pid {pid} ended" in l])
    assert len(lines) == 1, srv.error_log()
    return lines[0]


def test_the_end_of_a_daemon_process_is_reported_in_plain_words():
    srv = make_server("daemon-ended", "user=nobody processes=1")
    try:
        srv.start()
        (first,) = wait_for(lambda: daemons_of(srv.proc.pid))
        assert srv.get_basic("/private/", "a", "a-pw").status == 200

        # kill -9: the signal, by number and name.
        os.kill(first, signal.SIGKILL)
        line = ended_line(srv, first)
        assert re.search(rf"daemon group auth: process pid {first} ended after [\d.]+ s: it was "
                         r"killed by signal 9 \(SIGKILL\); starting another in 0\.1 s$", line), line
        (second,) = wait_for(lambda: [p for p in daemons_of(srv.proc.pid) if p != first])
        assert srv.get_basic("/private/", "b", "b-pw").status == 200

        # A script that crashes its process: the segmentation fault.
        assert srv.get_basic("/private/", "crash", "crash-pw").status == 500
        line = ended_line(srv, second)
        assert "it was killed by signal 11 (SIGSEGV); starting another in" in line, line
        (third,) = wait_for(lambda: [p for p in daemons_of(srv.proc.pid) if p != second])
        assert srv.get_basic("/private/", "c", "c-pw").status == 200

        # SIGTERM sent to the process: it finishes and exits with status 0.
        os.kill(third, signal.SIGTERM)
        line = ended_line(srv, third)
        assert "it exited with status 0; starting another in" in line, line
        (fourth,) = wait_for(lambda: [p for p in daemons_of(srv.proc.pid) if p != third])
        assert srv.get_basic("/private/", "d", "d-pw").status == 200

        seen = srv.records()
        assert [(r["user"], r["pid"]) for r in seen] == [
            ("a", first), ("b", second), ("crash", second), ("c", third), ("d", fourth)]
        # No line speaks of a raw number any more.
        assert all("httpd reports" not in l for l in tagged(srv, 121))
    finally:
        srv.cleanup()


def test_a_daemon_that_cannot_start_is_reported_as_exited_with_status_78():
    not_python = tempfile.mkdtemp(prefix="authnz-not-python-")
    os.chmod(not_python, 0o755)
    srv = make_server("daemon-ended-setup", f"user=nobody python-home={not_python}")
    try:
        srv.start()
        lines = wait_for(lambda: len(tagged(srv, 121)) >= 2 and tagged(srv, 121))
        assert lines and all(re.search(r"ended after [\d.]+ s: it exited with status 78; "
                                       r"starting another in", l) for l in lines), lines
        assert tagged(srv, 124) and "Python could not be started" in tagged(srv, 124)[0]
        assert srv.get_basic("/private/", "a", "a-pw").status == 500
        assert srv.records() == []
    finally:
        srv.cleanup()
        os.rmdir(not_python)

