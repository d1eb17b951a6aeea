"""The Python runtime inside real Apache children (docs/how-it-runs.md): one interpreter per
child started in child_init (never in the parent), under the event and prefork
MPMs and across graceful restarts; persistent thread states for
threading.local; script loading, re-loading, load errors and missing
functions; WSGIPythonPath and WSGIPythonHome (a virtualenv)."""

import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import Apache, child_pids

RUNTIME_SCRIPTS = Path(__file__).resolve().parent / "scripts" / "runtime"

# Sleep after editing a script: its mtime is looked at most once a second.
CHECK_INTERVAL = 1.1

PID_RE = re.compile(r"\[pid (\d+):tid (\d+)\]")


def install(server, fixture, name=None):
    """Copy tests/scripts/runtime/<fixture> into the server's scripts."""
    return server.write_script(name or fixture, (RUNTIME_SCRIPTS / fixture).read_text())


def protected(path, script, extra=""):
    return f"""
<Location {path}>
  AuthType Basic
  AuthName "runtime"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  {extra}
  Require valid-user
</Location>
"""


def make_dirs(server, *names):
    for name in names:
        (server.docroot / name).mkdir(exist_ok=True)
        (server.docroot / name / "index.html").write_text(f"{name} index\n")


def log_pid(line):
    return int(PID_RE.search(line).group(1))


def python_starts(server):
    """{pid: [0003 lines logged by that pid]}."""
    starts = {}
    for line in server.error_lines("AUTHNZ_WSGI0003"):
        starts.setdefault(log_pid(line), []).append(line)
    return starts


def parent_pid(server):
    return int((server.dir / "run" / "httpd.pid").read_text().strip())


def wait_until(predicate, timeout=5.0, interval=0.05):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() > deadline:
            return value
        time.sleep(interval)


def access_for(server, uri, count):
    """Access-log entries for `uri`, waiting until there are `count` (the log
    line is written after the response)."""
    def entries():
        return [e for e in server.access_entries() if e["uri"] == uri]

    wait_until(lambda: len(entries()) >= count)
    return entries()


def assert_python_started_once_per_child(server):
    """Every live child logged exactly one 0003 line, naming itself; the
    parent logged none."""
    parent = parent_pid(server)
    # A child may have been forked a moment ago and still be in child_init.
    wait_until(lambda: set(child_pids(parent)) <= set(python_starts(server)))
    starts = python_starts(server)
    assert parent not in starts, starts[parent]
    assert all(len(lines) == 1 for lines in starts.values()), starts
    children = child_pids(parent)
    assert children, "no children found"
    assert set(children) <= set(starts), (children, starts)
    # Notice in the first child of a start or restart (any LogLevel shows
    # it), info in the others.
    levels = [re.search(r"\[authnz_wsgi:(\w+)\]", line).group(1) for (line,) in starts.values()]
    assert set(levels) <= {"notice", "info"} and "notice" in levels, starts
    for pid, (line,) in starts.items():
        assert re.search(rf"AUTHNZ_WSGI0003: Python 3\.\d+\.\d+ started in child {pid} "
                         r"\(sys\.prefix /usr, library \S*libpython3\.\d+\.so[.\d]*\)", line), line
    return starts


# ---- event and prefork ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def mpm_server():
    """One server per MPM, started on first use and kept for the module."""
    servers = {}

    def get(mpm):
        if mpm not in servers:
            conf = "StartServers 3\n"
            if mpm == "prefork":
                conf += "MinSpareServers 3\nMaxSpareServers 8\n"
            srv = Apache(mpm=mpm, name=f"runtime-{mpm}", server_conf=conf)
            auth = install(srv, "auth.py")
            state = install(srv, "child_state.py")
            srv.site_conf = protected("/private", auth) + protected("/slow", state)
            make_dirs(srv, "slow")
            servers[mpm] = srv.start()
        return servers[mpm]

    yield get
    for srv in servers.values():
        srv.cleanup()


@pytest.mark.parametrize("mpm", ["event", "prefork", "worker"])
def test_mpm_authenticates_and_starts_python_per_child(mpm_server, mpm):
    srv = mpm_server(mpm)
    calls_before = len(srv.records("calls"))
    ok = srv.get_basic("/private/index.html", "alice", "alice-pw")
    assert ok.status == 200 and ok.body == b"private index\n"
    bad = srv.get_basic("/private/index.html", "alice", "wrong")
    assert bad.status == 401
    assert bad.headers.get("WWW-Authenticate") == 'Basic realm="runtime"'
    entries = access_for(srv, "/private/index.html", calls_before + 2)
    # Each line is written after its response, so the two may swap.
    assert sorted((e["status"], e["user"]) for e in entries[-2:]) == [(200, "alice"), (401, "alice")]
    calls = srv.records("calls")[calls_before:]
    assert [(c["user"], c["password"]) for c in calls] == [("alice", "alice-pw"), ("alice", "wrong")]

    starts = assert_python_started_once_per_child(srv)
    # The requests were answered by children that had started Python.
    assert {c["pid"] for c in calls} <= set(starts)
    assert parent_pid(srv) not in {c["pid"] for c in calls}
    assert srv.error_lines("AUTHNZ_WSGI0004") == []


def test_prefork_children_do_not_share_python_state(mpm_server):
    srv = mpm_server("prefork")
    parent = parent_pid(srv)
    statuses = []
    with ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(8):
            statuses += [r.status for r in pool.map(
                lambda _: srv.get_basic("/slow/", "bob", "bob-pw"), range(6))]
            if len({c["pid"] for c in srv.records("slow")}) >= 2:
                break
    assert statuses and set(statuses) == {200}, statuses
    slow = srv.records("slow")
    served_by = {c["pid"] for c in slow}
    assert len(served_by) >= 2, f"all requests went to one child: {slow}"
    # The script was imported in the process that ran it (not inherited).
    assert all(c["import_pid"] == c["pid"] for c in slow), slow

    imports = srv.records("imports")
    by_pid = {}
    for rec in imports:
        by_pid.setdefault(rec["pid"], []).append(rec)
    assert all(len(recs) == 1 for recs in by_pid.values()), imports  # once per child
    assert served_by <= set(by_pid)
    assert parent not in by_pid
    randoms = [by_pid[pid][0]["random"] for pid in served_by]
    hashes = [by_pid[pid][0]["hash"] for pid in served_by]
    assert len(set(randoms)) == len(randoms), f"children share the PRNG state: {imports}"
    # The str-hash secret is drawn when the interpreter starts: equal values
    # would mean one interpreter initialised before the fork.
    assert len(set(hashes)) == len(hashes), f"children share one interpreter start: {imports}"

    starts = assert_python_started_once_per_child(srv)
    assert served_by <= set(starts)
    for pid in served_by:
        if Path(f"/proc/{pid}").exists():
            assert pid in child_pids(parent)


@pytest.mark.parametrize("mpm", ["event", "prefork", "worker"])
def test_graceful_restart_starts_python_in_new_children(mpm_server, mpm):
    srv = mpm_server(mpm)
    assert srv.get_basic("/private/", "carol", "carol-pw").status == 200
    old_pids = set(python_starts(srv))
    log_before = len(srv.error_log().splitlines())
    srv.graceful()

    def new_starts():
        lines = srv.error_log().splitlines()[log_before:]
        return {log_pid(l) for l in lines if "AUTHNZ_WSGI0003" in l}

    assert wait_until(new_starts), srv.error_log()
    # Keep authenticating until a request reaches a child of the new generation.
    statuses, served = [], None
    for _ in range(40):
        n = len(srv.records("calls"))
        statuses.append(srv.get_basic("/private/", "carol", "carol-pw").status)
        pid = srv.records("calls")[n]["pid"]
        if pid in new_starts():
            served = pid
            break
        time.sleep(0.1)
    assert set(statuses) == {200}, statuses
    assert served is not None, srv.error_log()
    assert srv.get_basic("/private/", "carol", "nope").status == 401
    assert not (new_starts() & old_pids)
    # The new child loaded the script itself.
    loads = [l for l in srv.error_lines("AUTHNZ_WSGI0024") if log_pid(l) == served]
    assert len(loads) == 1 and "loaded script" in loads[0] and "auth.py" in loads[0]
    assert_python_started_once_per_child(srv)
    assert srv.error_lines("AUTHNZ_WSGI0004") == []


def test_max_connections_per_child_recycling_loses_no_request():
    """Children that exit after 2 connections are replaced by children that
    start Python again; no request fails in between (docs/how-it-runs.md#mpms-http2-and-restarts)."""
    srv = Apache(mpm="prefork", name="recycle", server_conf=(
        "StartServers 2\nMinSpareServers 2\nMaxSpareServers 4\nMaxConnectionsPerChild 2\n"))
    try:
        srv.site_conf = protected("/private", install(srv, "auth.py"))
        srv.start()
        statuses = [srv.get_basic("/private/index.html", "hank", "hank-pw").status
                    for _ in range(5)]
        assert statuses == [200] * 5
        assert srv.get_basic("/private/index.html", "hank", "nope").status == 401
        calls = srv.records("calls")
        assert len(calls) == 6
        served_by = {c["pid"] for c in calls}
        # 2 connections per child, 2 children at start: replacements served too.
        assert len(served_by) >= 3, calls
        starts = python_starts(srv)
        assert served_by <= set(starts)
        assert all(len(lines) == 1 for lines in starts.values()), starts
        assert parent_pid(srv) not in starts
        assert sorted(e["status"] for e in access_for(srv, "/private/index.html", 6)) == [200] * 5 + [401]
        assert srv.error_lines("AUTHNZ_WSGI0004") == []
    finally:
        srv.cleanup()


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_python_leaves_signals_to_apache(mpm):
    """Python's signal handlers are off: SIGINT is not turned into
    KeyboardInterrupt, Apache's own handlers stay, and SIGTERM stops the
    server and its children at once."""
    srv = Apache(mpm=mpm, name=f"signals-{mpm}", server_conf="StartServers 1\n")
    try:
        srv.site_conf = protected("/private", install(srv, "signals.py"))
        srv.start()
        assert srv.get_basic("/private/index.html", "ivan", "ivan-pw").status == 200
        assert srv.get_basic("/private/index.html", "ivan", "nope").status == 401
        (seen,) = srv.records("signals")
        assert seen["SIGINT"] != "python-default_int_handler", seen
        for sig in ("SIGTERM", "SIGHUP", "SIGUSR1"):
            assert seen[sig] == "not-from-python", seen  # httpd's C handler
        assert seen["pid"] in python_starts(srv)
        children = child_pids(parent_pid(srv))
        assert seen["pid"] in children
        started = time.monotonic()
        srv.stop()
        assert time.monotonic() - started < 5
        assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
        assert srv.error_lines("SIGKILL") == [] and srv.error_lines("did not exit") == []
    finally:
        srv.cleanup()


# ---- thread states -------------------------------------------------------------------------

FEW_WORKER_THREADS = {
    # Two worker threads in one child: a single-threaded event child can stall
    # on its own lingering-close bookkeeping, which is not what this tests.
    "event": "ServerLimit 1\nStartServers 1\nThreadLimit 2\nThreadsPerChild 2\n"
             "MaxRequestWorkers 2\nMinSpareThreads 1\nMaxSpareThreads 2\n",
    # A prefork child serves requests on the thread that started Python.
    "prefork": "ServerLimit 1\nStartServers 1\nMinSpareServers 1\nMaxSpareServers 1\n"
               "MaxRequestWorkers 1\n",
}


def counts_by_thread(calls):
    by_thread = {}
    for c in calls:
        by_thread.setdefault(c["tid"], []).append(c["count"])
    return by_thread


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_threading_local_survives_between_requests_on_one_worker_thread(mpm):
    srv = Apache(mpm=mpm, name=f"threadlocal-{mpm}", server_conf=FEW_WORKER_THREADS[mpm])
    try:
        script = install(srv, "thread_local.py")
        srv.site_conf = protected("/private", script)
        srv.start()
        statuses = [srv.get_basic("/private/", "dave", "dave-pw").status for _ in range(8)]
        assert statuses == [200] * 8
        calls = srv.records("calls")
        assert len(calls) == 8 and len({c["pid"] for c in calls}) == 1, calls
        # Each worker thread keeps its own threading.local between requests:
        # its counter runs 1, 2, 3, ... however requests were spread.
        by_thread = counts_by_thread(calls)
        assert all(seq == list(range(1, len(seq) + 1)) for seq in by_thread.values()), by_thread
        assert max(len(seq) for seq in by_thread.values()) >= 4, by_thread
        if mpm == "prefork":
            assert list(by_thread.values()) == [list(range(1, 9))]
        assert srv.get_basic("/private/", "dave", "wrong").status == 401
        last = srv.records("calls")[-1]
        assert last["count"] == len(by_thread.get(last["tid"], [])) + 1
        (start,) = srv.error_lines("AUTHNZ_WSGI0003")
        assert log_pid(start) == calls[0]["pid"]
        assert len(srv.error_lines("AUTHNZ_WSGI0024")) == 1
    finally:
        srv.cleanup()


# ---- loading and re-loading scripts ---------------------------------------------------------

VERSIONED = """
import os
VERSION = {version}
record("loads", script=os.path.basename(__file__), version=VERSION, pid=os.getpid(),
       name=__name__)

def check_password(environ, user, password):
    record("versions", script=os.path.basename(__file__), version=VERSION, password=password)
    return password == "{password}"
"""

BROKEN = """
def check_password(environ, user, password)
    return True
"""

RAISING = """
def helper():
    raise LookupError("no database configured")

helper()

def check_password(environ, user, password):
    return True
"""

NOT_CALLABLE = """
import os
record("loads", script=os.path.basename(__file__), pid=os.getpid())
check_password = "not a function"
"""

NO_CHECK_PASSWORD = """
import os
record("loads", script=os.path.basename(__file__), pid=os.getpid())

def get_realm_hash(environ, user, realm):
    return None
"""


def rewrite(server, path, body, mtime=None):
    """Replace a script, making sure its mtime really changes (to `mtime`
    when given, e.g. an older one, as `cp -p` from a backup does)."""
    old = path.stat().st_mtime
    server.write_script(path.name, body)
    new = mtime if mtime is not None else max(old + 2, time.time())
    assert new != old
    os.utime(path, (new, new))


@pytest.fixture(scope="module")
def loader():
    srv = Apache(name="reload", server_conf="ServerLimit 1\nStartServers 1\n")
    srv.paths = {
        "reload": srv.write_script("reload.py", VERSIONED.format(version=1, password="one")),
        "noreload": srv.write_script("noreload.py", VERSIONED.format(version=1, password="one")),
        "syntax": srv.write_script("syntax.py", BROKEN),
        "deleted": srv.write_script("deleted.py", VERSIONED.format(version=1, password="one")),
        "nofunc": srv.write_script("nofunc.py", NO_CHECK_PASSWORD),
        "notcallable": srv.write_script("notcallable.py", NOT_CALLABLE),
        "raising": srv.write_script("raising.py", RAISING),
    }
    srv.site_conf = "".join(
        protected(f"/{name}", path, "WSGIScriptReloading Off" if name == "noreload" else "")
        for name, path in srv.paths.items())
    make_dirs(srv, *srv.paths)
    srv.start()
    yield srv
    srv.cleanup()


def get(server, name, password):
    return server.get_basic(f"/{name}/", "erin", password).status


def script_lines(server, needle, path):
    return [l for l in server.error_lines(needle) if f"'{path}'" in l]


def versions(server, script):
    return [(v["version"], v["password"]) for v in server.records("versions")
            if v["script"] == script]


def test_edited_script_is_reloaded_unless_reloading_is_off(loader):
    srv, reload_py, noreload_py = loader, loader.paths["reload"], loader.paths["noreload"]
    assert [get(srv, "reload", "one"), get(srv, "reload", "two")] == [200, 401]
    assert [get(srv, "noreload", "one"), get(srv, "noreload", "two")] == [200, 401]
    assert len(script_lines(srv, "AUTHNZ_WSGI0024: loaded script", reload_py)) == 1
    assert len(script_lines(srv, "AUTHNZ_WSGI0024: loaded script", noreload_py)) == 1
    first_mtime = reload_py.stat().st_mtime

    rewrite(srv, reload_py, VERSIONED.format(version=2, password="two"))
    rewrite(srv, noreload_py, VERSIONED.format(version=2, password="two"))
    time.sleep(CHECK_INTERVAL)

    # WSGIScriptReloading On (the default): the new version answers.
    assert [get(srv, "reload", "two"), get(srv, "reload", "one")] == [200, 401]
    assert versions(srv, "reload.py") == [(1, "one"), (1, "two"), (2, "two"), (2, "one")]
    reloaded = script_lines(srv, "re-loaded script", reload_py)
    assert len(reloaded) == 1 and "AUTHNZ_WSGI0024" in reloaded[0]
    assert "[authnz_wsgi:info]" in reloaded[0]
    loads = [l for l in srv.records("loads") if l["script"] == "reload.py"]
    assert [l["version"] for l in loads] == [1, 2]
    # One module per (application group, path), under the same name.
    assert re.fullmatch(r"_authnz_wsgi_[0-9a-f]{32}", loads[0]["name"]), loads
    assert loads[1]["name"] == loads[0]["name"]

    # WSGIScriptReloading Off: the loaded version stays.
    assert [get(srv, "noreload", "one"), get(srv, "noreload", "two")] == [200, 401]
    assert versions(srv, "noreload.py") == [(1, "one"), (1, "two"), (1, "one"), (1, "two")]
    assert script_lines(srv, "re-loaded script", noreload_py) == []
    assert [l["version"] for l in srv.records("loads") if l["script"] == "noreload.py"] == [1]

    # Any change of mtime counts, also back to an older one (a restored backup).
    rewrite(srv, reload_py, VERSIONED.format(version=1, password="one"), mtime=first_mtime)
    time.sleep(CHECK_INTERVAL)
    assert [get(srv, "reload", "one"), get(srv, "reload", "two")] == [200, 401]
    assert versions(srv, "reload.py")[-2:] == [(1, "one"), (1, "two")]
    assert len(script_lines(srv, "re-loaded script", reload_py)) == 2


def test_syntax_error_is_logged_once_per_failed_load_and_fixing_recovers(loader):
    srv, path = loader, loader.paths["syntax"]
    summary = f"cannot load script '{path}'"
    bad_line = path.read_text().splitlines().index("def check_password(environ, user, password)") + 1
    # Concurrent first requests, well within the one-second retry interval:
    # one load attempt, one failure, one summary line.
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = list(pool.map(lambda _: get(srv, "syntax", "one"), range(3)))
    statuses.append(get(srv, "syntax", "one"))
    assert time.monotonic() - started < 1.0, "requests too slow for the retry-interval check"
    assert statuses == [500] * 4
    logged = [e["status"] for e in access_for(srv, "/syntax/", 4)]
    assert logged == [500] * 4
    (line,) = srv.error_lines(summary)
    assert "[authnz_wsgi:error]" in line and "AUTHNZ_WSGI0020" in line
    assert f"SyntaxError: expected ':' (syntax.py, line {bad_line})" in line, line
    # The traceback / detail lines carry the same tag and name the file.
    tagged = srv.error_lines("AUTHNZ_WSGI0020")
    assert len(tagged) >= 1 and all(log_pid(l) == log_pid(line) for l in tagged)
    assert any(str(path) in l for l in tagged)
    # Every other failing request gets one short error line naming the
    # script and the reason, without the traceback.
    short = script_lines(srv, "AUTHNZ_WSGI0022", path)
    assert len(short) == 3, srv.error_log()
    for l in short:
        assert "[authnz_wsgi:error]" in l
        assert f"script '{path}' cannot be used: SyntaxError: expected ':'" in l, l

    # A second later the next request tries again and fails the same way:
    # a short line, not the traceback again.
    time.sleep(CHECK_INTERVAL)
    assert get(srv, "syntax", "one") == 500
    assert len(srv.error_lines(summary)) == 1
    again = script_lines(srv, "AUTHNZ_WSGI0022", path)
    assert len(again) == 4 and "it still fails to load: SyntaxError" in again[-1], again

    rewrite(srv, path, VERSIONED.format(version=3, password="fixed"))
    time.sleep(CHECK_INTERVAL)
    assert [get(srv, "syntax", "fixed"), get(srv, "syntax", "one")] == [200, 401]
    assert versions(srv, "syntax.py") == [(3, "fixed"), (3, "one")]
    assert len(srv.error_lines(summary)) == 1
    assert len(script_lines(srv, "AUTHNZ_WSGI0022", path)) == 4
    assert len(script_lines(srv, "AUTHNZ_WSGI0024: loaded script", path)) == 1


def test_exception_at_import_is_logged_with_its_traceback(loader):
    srv, path = loader, loader.paths["raising"]
    assert [get(srv, "raising", "one"), get(srv, "raising", "one")] == [500, 500]
    lines = srv.error_lines("AUTHNZ_WSGI0020")
    summary = [l for l in lines if f"cannot load script '{path}'" in l]
    assert len(summary) == 1, srv.error_log()
    assert "LookupError: no database configured" in summary[0]
    # The traceback follows, with the same tag, in the same request's context.
    i = lines.index(summary[0])
    traceback = [l for l in lines[i + 1:] if log_pid(l) == log_pid(summary[0])]
    text = "\n".join(traceback)
    source = path.read_text().splitlines()
    call_line = source.index("helper()") + 1
    raise_line = next(n for n, l in enumerate(source, 1) if "raise LookupError" in l)
    assert f'File "{path}", line {call_line}, in <module>' in text, text
    assert f'File "{path}", line {raise_line}, in helper' in text, text
    assert all("[authnz_wsgi:error]" in l for l in traceback)
    # The second request: one short line, no second traceback.
    (short,) = script_lines(srv, "AUTHNZ_WSGI0022", path)
    assert "cannot be used: LookupError: no database configured" in short, short
    assert "[authnz_wsgi:error]" in short


def test_deleted_script_fails_and_restoring_recovers(loader):
    srv, path = loader, loader.paths["deleted"]
    assert get(srv, "deleted", "one") == 200
    body = path.read_text()
    path.unlink()
    time.sleep(CHECK_INTERVAL)
    assert [get(srv, "deleted", "one"), get(srv, "deleted", "one")] == [500, 500]
    missing = script_lines(srv, "AUTHNZ_WSGI0023", path)
    assert len(missing) == 1, srv.error_log()
    assert "cannot access script" in missing[0] and "No such file" in missing[0]
    assert "[authnz_wsgi:error]" in missing[0]
    (short,) = script_lines(srv, "AUTHNZ_WSGI0022", path)
    assert "[authnz_wsgi:error]" in short
    assert "cannot be used: cannot access it: No such file or directory" in short, short
    assert versions(srv, "deleted.py") == [(1, "one")]

    path.write_text(body)
    os.chmod(path, 0o644)
    time.sleep(CHECK_INTERVAL)
    assert [get(srv, "deleted", "one"), get(srv, "deleted", "two")] == [200, 401]
    assert versions(srv, "deleted.py") == [(1, "one"), (1, "one"), (1, "two")]
    assert len(script_lines(srv, "AUTHNZ_WSGI0024: loaded script", path)) == 2
    assert len(script_lines(srv, "AUTHNZ_WSGI0023", path)) == 1


def test_script_contents_are_not_judged_by_apache2_t(loader):
    """Syntax errors, import errors and missing functions are found when a
    script is first used (each request then says so, see below): apache2 -t
    passes with them."""
    code, output = loader.configtest()
    assert code == 0 and "Syntax OK" in output, output
    assert "AUTHNZ_WSGI" not in output


def test_missing_check_password_is_reported_once_then_briefly_per_request(loader):
    srv, path = loader, loader.paths["nofunc"]
    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = list(pool.map(lambda _: get(srv, "nofunc", "one"), range(3)))
    statuses += [get(srv, "nofunc", "one") for _ in range(3)]
    assert statuses == [500] * 6
    assert [e["status"] for e in access_for(srv, "/nofunc/", 6)] == [500] * 6
    missing = script_lines(srv, "AUTHNZ_WSGI0021", path)
    # One error line per failing request, each naming the script and the
    # function; the first says the script was loaded.
    assert len(missing) == 6, srv.error_log()
    assert all("[authnz_wsgi:error]" in l for l in missing)
    assert len([l for l in missing if "loaded, but check_password is not defined" in l]) == 1
    assert len([l for l in missing
                if f"script '{path}' cannot answer: check_password is not defined in it" in l]) == 5
    assert len([l for l in srv.records("loads") if l["script"] == "nofunc.py"]) == 1


def test_check_password_that_is_not_callable_is_reported_on_every_request(loader):
    srv, path = loader, loader.paths["notcallable"]
    assert [get(srv, "notcallable", "one") for _ in range(3)] == [500] * 3
    missing = script_lines(srv, "AUTHNZ_WSGI0021", path)
    assert len(missing) == 3, srv.error_log()
    assert "loaded, but check_password is not callable" in missing[0], missing
    assert all("cannot answer: check_password is not callable in it" in l for l in missing[1:])
    assert len([l for l in srv.records("loads") if l["script"] == "notcallable.py"]) == 1


# ---- WSGIPythonPath and WSGIPythonHome -------------------------------------------------------

@pytest.fixture(scope="module")
def pyenv_server():
    srv = Apache(name="pyenv", server_conf="ServerLimit 1\nStartServers 1\n")
    venv = srv.dir / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=120)
    site_packages = next(venv.glob("lib/python3*/site-packages"))
    (site_packages / "dup_mod.py").write_text('WHERE = "venv site-packages"\n')
    first, second, pth_dir = srv.dir / "pylib1", srv.dir / "pylib2", srv.dir / "pylib-pth"
    for d in (first, second, pth_dir):
        d.mkdir()
    (first / "path_mod.py").write_text('WHERE = "pylib1"\n')
    (first / "dup_mod.py").write_text('WHERE = "WSGIPythonPath"\n')
    (first / "extra.pth").write_text(f"{pth_dir}\n")
    (pth_dir / "pth_mod.py").write_text('WHERE = "pth"\n')
    subprocess.run(["chmod", "-R", "a+rX", str(srv.dir)], check=True)
    # The second entry is relative: ServerRoot-relative, like script paths.
    srv.server_conf += f'WSGIPythonHome "{venv}"\nWSGIPythonPath "{first}:{second.name}"\n'
    srv.site_conf = protected("/private", install(srv, "python_env.py"))
    srv.venv, srv.pylib, srv.pth_dir, srv.site_packages = venv, (first, second), pth_dir, site_packages
    srv.start()
    yield srv
    srv.cleanup()


def test_python_path_is_importable_and_in_front(pyenv_server):
    srv = pyenv_server
    first, second = (str(p) for p in srv.pylib)
    assert srv.get_basic("/private/", "frank", "frank-pw").status == 200
    assert srv.get_basic("/private/", "frank", "nope").status == 401
    assert [(c["user"], c["where"]) for c in srv.records("calls")] == [
        ("frank", "pylib1"), ("frank", "pylib1")]
    (env,) = srv.records("env")
    assert env["path_mod"] == f"{first}/path_mod.py"
    assert env["pth_mod"] == f"{srv.pth_dir}/pth_mod.py"  # .pth files work (site.addsitedir)
    assert env["dup"] == "WSGIPythonPath"  # in front of site-packages
    path = env["path"]
    assert path[0] == first, path
    assert path.index(first) < path.index(second) < path.index(str(srv.site_packages))
    stdlib = [p for p in path if re.fullmatch(r"/usr/lib/python3\.\d+", p)]
    assert stdlib and path.index(second) < path.index(stdlib[0]), path
    assert srv.error_lines("AUTHNZ_WSGI0020") == []


def test_python_home_venv_is_sys_prefix(pyenv_server):
    srv = pyenv_server
    assert srv.get_basic("/private/", "gina", "gina-pw").status == 200
    (env,) = srv.records("env")
    assert env["prefix"] == str(srv.venv)
    assert env["base_prefix"] == "/usr"
    assert str(srv.site_packages) in env["path"]
    assert all(c["prefix"] == str(srv.venv) for c in srv.records("calls"))
    (start,) = srv.error_lines("AUTHNZ_WSGI0003")
    assert f"sys.prefix {srv.venv}," in start, start
    assert log_pid(start) == env["pid"]
    assert srv.error_lines("AUTHNZ_WSGI0004") == []


def test_python_home_without_python_fails_cleanly():
    """A WSGIPythonHome that holds no Python: the child logs 0004 once and
    stays up; requests that need a script get 500, other content is served."""
    srv = Apache(name="badhome", server_conf="ServerLimit 1\nStartServers 1\n")
    try:
        home = srv.dir / "not-a-python-home"
        home.mkdir()
        srv.server_conf += f'WSGIPythonHome "{home}"\n'
        srv.site_conf = protected("/private", install(srv, "auth.py"))
        # apache2 -t does not judge it (the parent never starts Python);
        # each child says so as it starts.
        code, output = srv.configtest()
        assert code == 0 and "Syntax OK" in output, output
        srv.start()
        assert srv.get_basic("/private/index.html", "jane", "jane-pw").status == 500
        assert srv.get_basic("/private/index.html", "jane", "jane-pw").status == 500
        public = srv.request("/index.html")
        assert public.status == 200 and public.body == b"hello from the protected site\n"
        assert srv.records("calls") == []
        (failed,) = srv.error_lines("AUTHNZ_WSGI0004")
        assert "[authnz_wsgi:error]" in failed and "Python is not available in child" in failed
        # One line that says what is wrong with the directory, not CPython's
        # dump of its path configuration.
        assert f"WSGIPythonHome '{home}' is not a Python 3." in failed, failed
        assert "lib/python3." in failed and "pyvenv.cfg" in failed, failed
        assert "Python path configuration" not in srv.error_log()
        assert "Fatal Python error" not in srv.error_log()
        # Each refused request says why, naming the script.
        refused = srv.error_lines("AUTHNZ_WSGI0043")
        assert len(refused) == 2, srv.error_log()
        script = srv.scripts / "auth.py"
        for line in refused:
            assert "[authnz_wsgi:error]" in line
            assert f"'{script}' cannot be called" in line, line
            assert f"WSGIPythonHome '{home}' is not a Python 3." in line, line
        assert log_pid(failed) != parent_pid(srv)
        assert srv.error_lines("AUTHNZ_WSGI0003") == []
        assert sorted(e["status"] for e in srv.wait_access(3)) == [200, 500, 500]
        # The same child answered: it did not crash.
        assert set(child_pids(parent_pid(srv))) == {log_pid(failed)}
    finally:
        srv.cleanup()


ISOLATION_SCRIPT = """
import os, sys

def check_password(environ, user, password):
    record(
        isolated=sys.flags.isolated,
        ignore_environment=sys.flags.ignore_environment,
        no_user_site=sys.flags.no_user_site,
        path=sys.path,
        canaries=sorted(os.listdir(os.environ.get("CANARY_DIR", "/nonexistent")))
        if os.path.isdir(os.environ.get("CANARY_DIR", "/nonexistent")) else [],
    )
    return True
"""

CANARY = "import os; open(os.path.join({dir!r}, {name!r}), 'w').close()\n"


@pytest.mark.parametrize("vector", ["pythonpath", "user-site", "pythonhome"])
def test_the_interpreter_reads_nothing_from_its_environment(vector):
    """A sitecustomize.py on an inherited PYTHONPATH, a .pth file in the
    user site directory of the children's user (found through HOME), or an
    inherited PYTHONHOME never take effect: the interpreter starts
    isolated, and only WSGIPythonPath adds to sys.path."""
    server = Apache(name="isolated", server_conf="StartServers 1\nServerLimit 1\n")
    try:
        canaries = server.dir / "canaries"
        canaries.mkdir()
        os.chmod(canaries, 0o777)
        on_path = server.dir / "on-pythonpath"
        on_path.mkdir()
        (on_path / "sitecustomize.py").write_text(CANARY.format(dir=str(canaries),
                                                                name="sitecustomize"))
        home = server.dir / "home"
        user_site = home / ".local" / "lib" / f"python3.{sys_minor()}" / "site-packages"
        user_site.mkdir(parents=True)
        (user_site / "evil.pth").write_text(CANARY.format(dir=str(canaries), name="user-site"))
        wanted = server.dir / "wanted"
        wanted.mkdir()
        for d in (on_path, home, home / ".local", home / ".local" / "lib", user_site.parent,
                  user_site, wanted):
            os.chmod(d, 0o755)
        server.environment = {
            "pythonpath": {"PYTHONPATH": str(on_path)},
            "user-site": {"HOME": str(home)},
            "pythonhome": {"PYTHONHOME": "/nonexistent-python-home"},
        }[vector]
        server.environment["CANARY_DIR"] = str(canaries)
        server.server_conf += f'WSGIPythonPath "{wanted}"\n'
        script = server.write_script("isolation.py", ISOLATION_SCRIPT)
        server.site_conf = protected("/iso", script)
        make_dirs(server, "iso")
        server.start()
        assert server.get_basic("/iso/index.html", "u", "p").status == 200
        (seen,) = server.records()
        assert (seen["isolated"], seen["ignore_environment"], seen["no_user_site"]) == (1, 1, 1)
        assert seen["canaries"] == [] and list(canaries.iterdir()) == []
        assert str(on_path) not in seen["path"]
        assert not [p for p in seen["path"] if p.startswith(str(home))]
        assert seen["path"][0] == str(wanted)
        assert server.error_lines("AUTHNZ_WSGI0003")
    finally:
        server.cleanup()


def sys_minor():
    out = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(sys.version_info[1])"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


RETIRED_SCRIPT = """
import threading, time, weakref

LOCAL = threading.local()

class Token:
    pass

def check_password(environ, user, password):
    thread = threading.get_ident()
    if not hasattr(LOCAL, "token"):
        LOCAL.token = Token()
        # Recorded when the thread's threading.local data is released.
        weakref.finalize(LOCAL.token, record, "freed", thread=thread)
    record("calls", thread=thread, user=user)
    if user == "slow":
        time.sleep(1.5)
    if user == "loop":
        while True:
            pass
    return True
"""


def h2_burst(server, user, count=4):
    """`count` concurrent HTTP/2 logins, one connection each; their statuses."""
    procs = [subprocess.Popen(["curl", "-sS", "--http2-prior-knowledge", "--max-time", "20",
                               "-o", "/dev/null", "-w", "%{http_code}", "-u", f"{user}:pw",
                               server.url("/h2/index.html")],
                              stdout=subprocess.PIPE, text=True) for _ in range(count)]
    return [p.communicate(timeout=30)[0] for p in procs]


def test_states_of_retired_threads_are_released_and_timeouts_still_fire():
    """mod_http2 retires idle workers (H2MaxWorkerIdleSeconds): the ended
    threads' thread states are released (their threading.local data is
    freed), and WSGIScriptTimeout still interrupts calls afterwards, on
    whichever workers run them (new workers get the ended threads' ids
    when mod_http2 starts any)."""
    server = Apache(name="h2-retired", mpm="event", modules=["http2"],
                    server_conf="StartServers 1\nServerLimit 1\nProtocols h2c http/1.1\n"
                                "H2MinWorkers 1\nH2MaxWorkers 4\nH2MaxWorkerIdleSeconds 1\n")
    script = server.write_script("retired.py", RETIRED_SCRIPT)
    server.site_conf = protected("/h2", script, "WSGIScriptTimeout 2")
    make_dirs(server, "h2")
    try:
        server.start()
        assert h2_burst(server, "slow") == ["200"] * 4
        first = {r["thread"] for r in server.records("calls")}
        assert len(first) >= 2, first
        # Idle workers above H2MinWorkers retire after a second; their
        # states are released.
        def freed():
            return {r["thread"] for r in server.records("freed")}
        assert wait_until(lambda: len(freed()) >= len(first) - 1, timeout=10), (freed(), first)
        assert freed() <= first
        started = time.monotonic()
        assert h2_burst(server, "loop") == ["500"] * 4
        # Each interrupted after its two seconds, whichever workers ran them.
        assert time.monotonic() - started < 14
        loops = [r["thread"] for r in server.records("calls") if r["user"] == "loop"]
        assert len(loops) == 4
        assert len(server.error_lines("exceeded WSGIScriptTimeout (2s) and was interrupted")) == 4
    finally:
        server.cleanup()


IMPORT_MACHINERY_SCRIPT = """
import sys

LOADED_AT_IMPORT = sorted(m for m in ("importlib", "importlib.util", "importlib.machinery")
                          if m in sys.modules)

def check_password(environ, user, password):
    record(loaded=LOADED_AT_IMPORT,
           bootstrap_is_the_interpreters=(
               getattr(sys.modules.get("importlib"), "_bootstrap", None)
               is sys.modules["_frozen_importlib"]))
    return user == "u"
"""


def test_import_machinery_is_imported_before_the_first_request():
    """importlib and its submodules are imported as Python starts, on the
    child's one thread: CPython lets a worker thread import importlib.util
    while another runs importlib's __init__, which binds a never set-up
    copy of importlib._bootstrap and breaks every import_module after it
    (NameError: name 'sys' is not defined). Django's first imports on two
    threads at once did that beside mod_wsgi."""
    server = Apache(name="machinery", server_conf="StartServers 1\nServerLimit 1\n")
    try:
        script = server.write_script("machinery.py", IMPORT_MACHINERY_SCRIPT)
        server.site_conf = protected("/m", script)
        make_dirs(server, "m")
        server.start()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(
                lambda i: server.get_basic("/m/index.html", "u" if i % 2 else "x", "p").status,
                range(16)))
        assert sorted(statuses) == [200] * 8 + [401] * 8
        seen = server.records()
        assert len(seen) == 16
        assert all(s["loaded"] == ["importlib", "importlib.machinery", "importlib.util"]
                   for s in seen), seen
        assert all(s["bootstrap_is_the_interpreters"] for s in seen)
        assert server.error_lines("AUTHNZ_WSGI0020") == []
    finally:
        server.cleanup()
