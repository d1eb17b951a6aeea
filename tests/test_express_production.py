"""authnz-wsgi-express for real traffic: HTTPS (a self-signed certificate
made here, spoken to with curl and with Python's ssl), --https-only's
redirect, the warning for Basic over plain HTTP, the caches (in each
process, and shared through a real memcached and redis-server), the limits
on Python calls, the number of processes and threads, the access log
format and mod_status. Each option is checked in the configuration
setup-server writes (which passes `apache2 -t`) and through requests to a
server start-server runs, with what the auth script saw.

Needs `cargo build --release --workspace` (the launcher and the module in
target/release/)."""

import hashlib
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from harness import RECORD_SNIPPET, basic_header, clear_records, free_port, records, wait_for
from test_cache_shared import Store, socache_key
from test_express import (Express, express, get, get_digest, make_work, need_binaries,
                          setup_conf)

USERS = {"alice": "alice-pw", "bob": "bob-pw", "slow": "slow-pw"}

# Records every call with what the request looked like to Python. "slow"
# spins in Python code for a while (the timeout can interrupt that) or,
# with SLOW_SLEEP in the environ's path, sleeps in C (holding its slot).
AUTH_SCRIPT = RECORD_SNIPPET + f"""
import hashlib, time

USERS = {USERS!r}

def get_realm_hash(environ, user, realm):
    record(user=user, https=environ.get("HTTPS"), port=environ.get("SERVER_PORT"))
    if user not in USERS:
        return None
    return hashlib.md5(f"{{user}}:{{realm}}:{{USERS[user]}}".encode()).hexdigest()

def check_password(environ, user, password):
    record(user=user, https=environ.get("HTTPS"), port=environ.get("SERVER_PORT"))
    if user == "slow":
        if "sleep" in environ.get("REQUEST_URI", ""):
            time.sleep(3)
        else:
            end = time.time() + 5
            while time.time() < end:
                pass
    if user not in USERS:
        return None
    return USERS[user] == password
"""


# ---- fixtures ----------------------------------------------------------------

@pytest.fixture(scope="module")
def work():
    """Scripts in scripts/ (recording into record/), a static page, and a
    self-signed certificate for 127.0.0.1 made with openssl."""
    need_binaries()
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed (scripts/install-deps.sh installs it)")
    path = make_work("authnz-wsgi-express-prod-",
                     {"scripts": 0o755, "record": 0o777, "docs": 0o755, "tls": 0o755},
                     {"scripts/auth.py": AUTH_SCRIPT, "docs/index.html": "static page\n"})
    tls = path / "tls"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", tls / "key.pem", "-out", tls / "cert.pem"],
                   check=True, capture_output=True, timeout=60)
    # A second certificate to send as the chain (a stand-in for an
    # intermediate CA: mod_ssl sends the file's certificates as they are).
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=Test Intermediate", "-keyout", tls / "chain-key.pem",
                    "-out", tls / "chain.pem"], check=True, capture_output=True, timeout=60)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def auth_script(work):
    return work / "scripts" / "auth.py"


def cert_args(work, https_port):
    return ["--https-port", https_port, "--ssl-certificate-file", work / "tls" / "cert.pem",
            "--ssl-certificate-key-file", work / "tls" / "key.pem"]


def tls_context(work):
    """A client context that trusts only the test's certificate."""
    return ssl.create_default_context(cafile=str(work / "tls" / "cert.pem"))


def https_get(work, url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30, context=tls_context(work)) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode(errors="replace")


def curl(*args):
    """curl's status code and body; curl itself must succeed."""
    p = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *map(str, args)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    body, _, status = p.stdout.rpartition("\n")
    return int(status), body


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get_no_redirect(url, headers=None):
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


# ---- every new option: the configuration passes apache2 -t -------------------

def auth(w, *more):
    return ["--auth-user-script", auth_script(w), *more]


# id -> (arguments, lines the configuration must contain)
CONFIG_CASES = {
    "https": (lambda w: cert_args(w, 8443),
              ["Listen 127.0.0.1:8443 https", "<VirtualHost *:8443>", "SSLEngine on",
               "LoadModule ssl_module"]),
    "https-chain": (lambda w: [*cert_args(w, 8443), "--ssl-certificate-chain-file",
                               w / "tls" / "cert.pem"], ["SSLCertificateChainFile"]),
    "https-only": (lambda w: [*cert_args(w, 8443), "--https-only", *auth(w)],
                   ["RewriteEngine On", "[R=301,L]", "LoadModule rewrite_module"]),
    "https-only-status": (lambda w: [*cert_args(w, 8443), "--https-only", "--server-status"],
                          ["<Location /server-status>"]),
    "https-only-proxy": (lambda w: [*cert_args(w, 8443), "--https-only", "--proxy-to",
                                    "http://127.0.0.1:9/", "--server-status"],
                         ["ProxyPassInherit Off", "ProxyPass /server-status !"]),
    "auth-cache-timeout": (lambda w: auth(w, "--auth-cache-timeout", "60"),
                           ["    WSGIAuthCacheTimeout 60\n"]),
    "shared-memcache": (lambda w: auth(w, "--shared-cache", "memcache:127.0.0.1:11211"),
                        ["AuthnCacheSOCache memcache:127.0.0.1:11211\n",
                         "AuthBasicProvider socache wsgi\n", "AuthnCacheProvideFor wsgi\n",
                         'AuthnCacheContext "Restricted"\n', "AuthnCacheTimeout 300\n",
                         "LoadModule socache_memcache_module"]),
    "shared-redis-digest": (lambda w: auth(w, "--shared-cache", "redis:127.0.0.1:6379",
                                           "--auth-type", "Digest", "--auth-cache-timeout", "9"),
                            ["AuthnCacheSOCache redis:127.0.0.1:6379\n",
                             "AuthDigestProvider socache wsgi\n", "AuthnCacheTimeout 9\n",
                             "LoadModule socache_redis_module"]),
    "script-timeout": (lambda w: auth(w, "--script-timeout", "0"), ["WSGIScriptTimeout 0\n"]),
    "max-concurrent-calls": (lambda w: auth(w, "--max-concurrent-calls", "2"),
                             ["WSGIMaxConcurrentCalls 2\n"]),
    "processes-threads": (lambda w: ["--processes", "2", "--threads", "3"],
                          ["StartServers 2\nServerLimit 2\nThreadLimit 3\nThreadsPerChild 3\n"
                           "MaxRequestWorkers 6\n"]),
    "processes-worker": (lambda w: ["--mpm", "worker", "--processes", "3"],
                         ["ThreadsPerChild 25\nMaxRequestWorkers 75\n"]),
    "processes-prefork": (lambda w: ["--mpm", "prefork", "--processes", "4"],
                          ["StartServers 4\nServerLimit 4\nMaxRequestWorkers 4\n"]),
    "access-log-common": (lambda w: ["--access-log-format", "common"],
                          ['CustomLog "', '" common\n']),
    "access-log-custom": (lambda w: ["--access-log-format", '%u "%r" %>s\\t%{X-Test}i'],
                          ['LogFormat "%u \\"%r\\" %>s\\\\t%{X-Test}i" custom\n']),
    "server-status": (lambda w: ["--server-status"],
                      ["<Location /server-status>\n    SetHandler server-status\n"
                       "    Require local\n</Location>\n", "LoadModule status_module"]),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_new_options_are_written_and_pass_configtest(work, case):
    make_args, expected = CONFIG_CASES[case]
    conf, stdout, _ = setup_conf(work, *make_args(work))
    for line in expected:
        assert line in conf, (line, conf)
    if "--https-port" in make_args(work):
        assert "HTTPS URL         : https://127.0.0.1:8443/\n" in stdout
    if case == "https-only-status":
        assert ("Server Status     : https://127.0.0.1:8443/server-status (this machine only)"
                in stdout), stdout


BAD_OPTIONS = {
    "https-only-without-port": (lambda w: ["--https-only"], "--https-only needs --https-port"),
    "certificate-without-port": (lambda w: ["--ssl-certificate-file", w / "tls" / "cert.pem"],
                                 "--ssl-certificate-file needs --https-port"),
    "port-without-certificate": (lambda w: ["--https-port", "8443"],
                                 "--https-port needs --ssl-certificate-file"),
    "certificate-without-key": (lambda w: ["--https-port", "8443", "--ssl-certificate-file",
                                           w / "tls" / "cert.pem"],
                                "--ssl-certificate-file needs --ssl-certificate-key-file"),
    "missing-certificate": (lambda w: cert_args(w, 8443)[:3] + [w / "tls" / "nope.pem"] +
                            cert_args(w, 8443)[4:],
                            "--ssl-certificate-file: '"),
    "key-is-a-directory": (lambda w: cert_args(w, 8443)[:5] + [w / "tls"],
                           "is not a regular file"),
    "same-ports": (lambda w: ["--port", "8443", *cert_args(w, 8443)],
                   "give two different ports"),
    "prefork-threads": (lambda w: ["--mpm", "prefork", "--threads", "4"],
                        "prefork runs one thread per process"),
    "processes-zero": (lambda w: ["--processes", "0"], "--processes: '0' is not a whole number"),
    "cache-without-auth": (lambda w: ["--auth-cache-timeout", "60"],
                           "--auth-cache-timeout needs --auth-user-script"),
    "cache-timeout-too-long": (lambda w: auth(w, "--auth-cache-timeout", "86401"),
                               "from 1 to 86400"),
    "shared-cache-store": (lambda w: auth(w, "--shared-cache", "shm:127.0.0.1:1"),
                           "is not memcache:HOST:PORT or redis:HOST:PORT"),
    "shared-cache-no-port": (lambda w: auth(w, "--shared-cache", "redis:127.0.0.1"),
                             "is not memcache:HOST:PORT or redis:HOST:PORT"),
    "script-timeout-without-script": (lambda w: ["--script-timeout", "5"],
                                      "--script-timeout needs a script"),
    "max-calls-zero": (lambda w: auth(w, "--max-concurrent-calls", "0"),
                       "--max-concurrent-calls: '0'"),
    "access-log-format": (lambda w: ["--access-log-format", "fancy"],
                          "is neither a nickname (common, combined, referer, agent)"),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_new_options_fail_with_a_message(work, case):
    make_args, message = BAD_OPTIONS[case]
    root = work / f"never-{case}"
    p = express("start-server", "--server-root", root, *make_args(work), timeout=30)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "authnz-wsgi-express: error: " in p.stderr
    assert message in p.stderr, p.stderr
    assert not root.exists()


def test_help_lists_the_new_options():
    need_binaries()
    p = express("--help")
    assert p.returncode == 0
    for option in ["--https-port", "--ssl-certificate-file", "--ssl-certificate-key-file",
                   "--ssl-certificate-chain-file", "--https-only", "--auth-cache-timeout",
                   "--shared-cache", "--script-timeout", "--max-concurrent-calls",
                   "--processes", "--threads", "--access-log-format", "--server-status"]:
        assert f"  {option} " in p.stdout, option


# ---- HTTPS ------------------------------------------------------------------------

def test_basic_over_https_with_curl_and_python_ssl(work):
    https_port = free_port()
    clear_records(work)
    with Express(work, *cert_args(work, https_port), "--document-root", work / "docs",
                 *auth(work)) as srv:
        base = f"https://127.0.0.1:{https_port}"
        cacert = work / "tls" / "cert.pem"
        assert curl("--cacert", cacert, "-u", "alice:alice-pw", base + "/") == (200, "static page\n")
        status, _ = curl("--cacert", cacert, "-u", "alice:wrong", base + "/")
        assert status == 401
        # Without the certificate curl refuses the server: it is really TLS.
        p = subprocess.run(["curl", "-sS", "-o", "/dev/null", base + "/"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 60, p.stderr
        status, headers, body = https_get(work, base + "/py",
                                          {"Authorization": basic_header("bob", "bob-pw")})
        assert status == 404 and "Not Found" in body
        status, headers, _ = https_get(work, base + "/")
        assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="Restricted"'
        # Python's ssl saw a TLS connection with the certificate it trusts.
        with socket.create_connection(("127.0.0.1", https_port), timeout=10) as raw:
            with tls_context(work).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
                subject = dict(x[0] for x in tls.getpeercert()["subject"])
                assert subject["commonName"] == "127.0.0.1"
        seen = [(r["user"], r["https"], r["port"]) for r in records(work)]
        assert seen == [("alice", "on", str(https_port)), ("alice", "on", str(https_port)),
                        ("bob", "on", str(https_port))]
        # The plain port still serves, and Python sees no HTTPS there.
        status, _, body = get(srv.url + "/", {"Authorization": basic_header("alice", "alice-pw")})
        assert (status, body) == (200, "static page\n")
        assert records(work)[-1] == {"user": "alice", "https": None, "port": str(srv.port)}
        log = srv.access_log(wait_for='"GET / HTTP/1.1" 200', timeout=5)
        assert re.search(r'^127\.0\.0\.1 - alice \[.*\] "GET / HTTP/1\.1" 200 ', log, re.M), log
        assert re.search(r'^127\.0\.0\.1 - bob \[.*\] "GET /py HTTP/1\.1" 404 ', log, re.M), log
        # Loopback only: no warning about plain HTTP.
        assert "warning" not in srv.output_path.read_text()


def test_the_chain_file_is_sent_after_the_certificate(work):
    https_port = free_port()
    with Express(work, *cert_args(work, https_port), "--ssl-certificate-chain-file",
                 work / "tls" / "chain.pem", *auth(work)) as srv:
        p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{https_port}",
                            "-showcerts", "-CAfile", str(work / "tls" / "cert.pem")],
                           input="", capture_output=True, text=True, timeout=60)
        sent = re.findall(r"^ *\d+ s:(.*)$", p.stdout, re.M)
        assert [s.replace(" ", "") for s in sent] == ["CN=127.0.0.1", "CN=TestIntermediate"], \
            p.stdout
        assert p.stdout.count("-----BEGIN CERTIFICATE-----") == 2
        # Clients that trust the certificate still log in.
        status, _, _ = https_get(work, f"https://127.0.0.1:{https_port}/",
                                 {"Authorization": basic_header("alice", "alice-pw")})
        assert status == 200
        assert 'SSLCertificateChainFile "' in srv.conf.read_text()


def test_https_only_redirects_every_plain_request(work):
    https_port = free_port()
    clear_records(work)
    with Express(work, *cert_args(work, https_port), "--https-only", "--document-root",
                 work / "docs", *auth(work), "--server-status") as srv:
        status, headers = get_no_redirect(srv.url + "/a/b%20c?x=1&y=2",
                                          {"Authorization": basic_header("alice", "alice-pw")})
        assert status == 301
        assert headers["Location"] == f"https://127.0.0.1:{https_port}/a/b%20c?x=1&y=2"
        # The host the client asked for is kept; nothing is served in plain.
        status, headers = get_no_redirect(srv.url + "/server-status", {"Host": "example.test"})
        assert (status, headers["Location"]) == \
            (301, f"https://example.test:{https_port}/server-status")
        status, headers = get_no_redirect(srv.url + "/")
        assert status == 301 and "WWW-Authenticate" not in headers
        # No password was checked over plain HTTP.
        assert records(work) == []
        # curl follows the redirect onto TLS and logs in there (trusted: it
        # sends the password to the other port).
        status, body = curl("--location-trusted", "--cacert", work / "tls" / "cert.pem", "-u", "alice:alice-pw",
                            srv.url + "/")
        assert (status, body) == (200, "static page\n")
        assert [(r["user"], r["https"]) for r in records(work)] == [("alice", "on")]
        log = srv.access_log(wait_for='"GET / HTTP/1.1" 200')
        assert '"GET /a/b%20c?x=1&y=2 HTTP/1.1" 301' in log
        assert re.search(r'^127\.0\.0\.1 - alice \[.*\] "GET / HTTP/1\.1" 200 ', log, re.M), log


def test_basic_over_plain_http_beyond_loopback_warns_at_start(work):
    with Express(work, "--host", "0.0.0.0", *auth(work)) as srv:
        status, _, _ = get(srv.url + "/", {"Authorization": basic_header("alice", "alice-pw")})
        assert status == 200
        out = srv.output_path.read_text()
        assert ("authnz-wsgi-express: warning: Basic authentication over plain HTTP on "
                f"0.0.0.0:{srv.port}") in out, out
        assert "--https-only" in out
    # Where plain HTTP only redirects, or Digest is used, or the address
    # is loopback, there is nothing to warn about.
    for args in [[*cert_args(work, 8443), "--https-only", "--host", "0.0.0.0", *auth(work)],
                 ["--host", "0.0.0.0", *auth(work, "--auth-type", "Digest")],
                 ["--host", "127.0.0.1", *auth(work)]]:
        _, _, stderr = setup_conf(work, *args)
        assert "warning" not in stderr, (args, stderr)


# ---- caches --------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["memcached", "redis"])
def test_shared_cache_answers_a_second_server_without_python(work, kind):
    store = Store(kind)
    store.start()
    try:
        clear_records(work)
        args = [*auth(work), "--shared-cache", store.socache, "--document-root", work / "docs"]
        conf, _, _ = setup_conf(work, *args)
        assert f"AuthnCacheSOCache {store.socache}\n" in conf
        with Express(work, *args) as first, Express(work, *args) as second:
            creds = {"Authorization": basic_header("alice", "alice-pw")}
            assert get(first.url + "/", creds)[:3:2] == (200, "static page\n")
            assert [r["user"] for r in records(work)] == ["alice"]
            # The other server, and the first again: answered from the store.
            for srv in (second, first, second):
                assert get(srv.url + "/", creds)[:3:2] == (200, "static page\n")
            assert [r["user"] for r in records(work)] == ["alice"]
            # A wrong password for a cached user is refused by the cache.
            assert get(second.url + "/", {"Authorization": basic_header("alice", "x")})[0] == 401
            # Another user is checked by Python once, then shared too.
            bob = {"Authorization": basic_header("bob", "bob-pw")}
            assert get(second.url + "/", bob)[0] == 200
            assert get(first.url + "/", bob)[0] == 200
            assert [r["user"] for r in records(work)] == ["alice", "bob"]
            for srv in (first, second):
                log = srv.access_log(wait_for=" bob [")
                assert re.search(r'^127\.0\.0\.1 - alice \[.*\] "GET / HTTP/1\.1" 200 ', log,
                                 re.M), log
            # What the store holds for alice is a salted hash, not the password,
            # under the realm as context (mod_authn_socache's key: context:user).
            value = store.get(socache_key("Restricted", "alice"))
            assert value is not None and b"alice-pw" not in value and b"$sha1$" in value
    finally:
        store.cleanup()


def test_shared_cache_with_digest(work):
    store = Store("memcached")
    store.start()
    try:
        clear_records(work)
        args = [*auth(work, "--auth-type", "Digest", "--auth-realm", "digest shared"),
                "--shared-cache", store.socache, "--document-root", work / "docs"]
        conf, _, _ = setup_conf(work, *args)
        assert "    AuthDigestProvider socache wsgi\n" in conf
        with Express(work, *args) as first, Express(work, *args) as second:
            assert get_digest(first.url + "/", "bob", "bob-pw", "digest shared") == \
                (200, "static page\n")
            assert [r["user"] for r in records(work)] == ["bob"]
            assert get_digest(second.url + "/", "bob", "bob-pw", "digest shared") == \
                (200, "static page\n")
            assert get_digest(second.url + "/", "bob", "wrong", "digest shared")[0] == 401
            assert [r["user"] for r in records(work)] == ["bob"]
            # The store holds the realm hash (what Digest needs).
            realm_hash = hashlib.md5(b"bob:digest shared:bob-pw").hexdigest().encode()
            assert store.get(socache_key("digest shared", "bob", "digest shared")) == realm_hash
    finally:
        store.cleanup()


def test_auth_cache_timeout_remembers_a_login_in_the_process(work):
    clear_records(work)
    args = [*auth(work, "--auth-cache-timeout", "60"), "--processes", "1",
            "--document-root", work / "docs"]
    conf, _, _ = setup_conf(work, *args)
    assert "    WSGIAuthCacheTimeout 60\n" in conf
    with Express(work, *args) as srv:
        creds = {"Authorization": basic_header("alice", "alice-pw")}
        for _ in range(3):
            assert get(srv.url + "/", creds)[:3:2] == (200, "static page\n")
        assert [r["user"] for r in records(work)] == ["alice"]
        # A wrong password is never remembered: Python is asked each time.
        for _ in range(2):
            assert get(srv.url + "/", {"Authorization": basic_header("alice", "x")})[0] == 401
        assert [r["user"] for r in records(work)] == ["alice", "alice", "alice"]


# ---- limits on Python calls -------------------------------------------------------

def test_script_timeout_answers_500_and_logs_it(work):
    clear_records(work)
    args = [*auth(work, "--script-timeout", "1"), "--document-root", work / "docs"]
    conf, _, _ = setup_conf(work, *args)
    assert "WSGIScriptTimeout 1\n" in conf
    with Express(work, *args) as srv:
        started = time.time()
        status, _, _ = get(srv.url + "/", {"Authorization": basic_header("slow", "slow-pw")})
        took = time.time() - started
        assert status == 500
        assert took < 4, took  # the script would spin for 5 s
        assert [r["user"] for r in records(work)] == ["slow"]
        line = wait_for(lambda: [l for l in (srv.root / "error_log").read_text().splitlines()
                                 if "AUTHNZ_WSGI0045" in l])
        assert line and str(auth_script(work)) in line[0], line
        # The worker is free again.
        status, _, _ = get(srv.url + "/", {"Authorization": basic_header("alice", "alice-pw")})
        assert status == 200


def test_max_concurrent_calls_refuses_a_call_beyond_the_cap(work):
    clear_records(work)
    args = [*auth(work, "--max-concurrent-calls", "1"), "--processes", "1", "--threads", "4",
            "--document-root", work / "docs"]
    conf, _, _ = setup_conf(work, *args)
    assert "WSGIMaxConcurrentCalls 1\n" in conf
    with Express(work, *args) as srv:
        slow_result = {}

        def slow_request():
            slow_result["status"] = get(srv.url + "/sleep",
                                        {"Authorization": basic_header("slow", "slow-pw")})[0]

        slow = threading.Thread(target=slow_request)
        slow.start()
        assert wait_for(lambda: [r for r in records(work) if r["user"] == "slow"], 5)
        status, _, _ = get(srv.url + "/", {"Authorization": basic_header("alice", "alice-pw")})
        slow.join(timeout=30)
        assert status == 500
        # The slow call finished normally (it sleeps 3 s; then /sleep is 404).
        assert slow_result["status"] == 404
        # alice never reached Python: the slot was taken.
        assert [r["user"] for r in records(work)] == ["slow"]
        line = wait_for(lambda: [l for l in (srv.root / "error_log").read_text().splitlines()
                                 if "AUTHNZ_WSGI0044" in l])
        assert line, (srv.root / "error_log").read_text()
        status, _, _ = get(srv.url + "/", {"Authorization": basic_header("alice", "alice-pw")})
        assert status == 200


# ---- processes, threads, status, access log ------------------------------------

def status_auto(srv):
    status, _, body = get(srv.url + "/server-status?auto")
    assert status == 200, body
    return dict(line.split(": ", 1) for line in body.splitlines() if ": " in line)


@pytest.mark.parametrize("mpm,processes,threads", [("event", 2, 3), ("worker", 3, 2),
                                                   ("prefork", 3, 1)])
def test_processes_and_threads_seen_by_server_status(work, mpm, processes, threads):
    args = ["--mpm", mpm, "--processes", processes, "--server-status", *auth(work)]
    if mpm != "prefork":
        args += ["--threads", threads]
    conf, _, _ = setup_conf(work, *args)
    assert f"MaxRequestWorkers {processes * threads}\n" in conf
    with Express(work, *args) as srv:
        # All workers of all processes, once every child has started.
        info = wait_for(lambda: (lambda i: i if int(i["BusyWorkers"]) + int(i["IdleWorkers"])
                                 == processes * threads else None)(status_auto(srv)))
        assert info, status_auto(srv)
        assert info["ServerMPM"] == mpm
        assert len(info["Scoreboard"]) == processes * threads
        if mpm == "event":
            assert info["Processes"] == str(processes)
        # The status page needs no login (local only); everything else does.
        assert get(srv.url + "/")[0] == 401
        assert get(srv.url + "/server-status")[0] == 200


def test_server_status_shows_the_auth_scripts_figures(work):
    """The launcher's status page carries the module's live figures
    (docs/operations.md): one granted and one denied login are counted."""
    before = len(records(work))
    with Express(work, "--server-status", *auth(work)) as srv:
        assert get(srv.url + "/", {"Authorization": basic_header("alice", "alice-pw")})[0] == 200
        assert get(srv.url + "/", {"Authorization": basic_header("alice", "wrong")})[0] == 401
        info = status_auto(srv)
    assert len(records(work)) - before == 2
    assert info["AuthnzWsgiScript1Path"] == str(auth_script(work)), info
    assert info["AuthnzWsgiScript1CheckPasswordCalls"] == "2", info
    assert info["AuthnzWsgiScript1CheckPasswordGranted"] == "1", info
    assert info["AuthnzWsgiScript1CheckPasswordDenied"] == "1", info


def test_server_status_is_not_proxied_and_not_protected(work):
    args = ["--server-status", "--proxy-to", "http://127.0.0.1:9/", *auth(work)]
    with Express(work, *args) as srv:
        assert "ServerMPM" in status_auto(srv)
        # Anything else goes through the login to the (absent) backend.
        assert get(srv.url + "/app")[0] == 401
        status, _, _ = get(srv.url + "/app", {"Authorization": basic_header("alice", "alice-pw")})
        assert status == 503


def test_access_log_format_shapes_the_log_line(work):
    fmt = '%u|%>s|"%r"|%{X-Test}i'
    conf, _, _ = setup_conf(work, "--access-log-format", fmt, *auth(work))
    assert 'LogFormat "%u|%>s|\\"%r\\"|%{X-Test}i" custom\n' in conf
    with Express(work, "--access-log-format", fmt, *auth(work)) as srv:
        headers = {"Authorization": basic_header("alice", "alice-pw"), "X-Test": "hello"}
        assert get(srv.url + "/p?q=1", headers)[0] == 404
        log = srv.access_log(wait_for="hello")
        assert 'alice|404|"GET /p?q=1 HTTP/1.1"|hello' in log.splitlines(), log
    with Express(work, "--access-log-format", "common", *auth(work)) as srv:
        assert get(srv.url + "/", {"Authorization": basic_header("bob", "bob-pw")})[0] == 200
        log = srv.access_log(wait_for=" bob [")
        line = next(l for l in log.splitlines() if " bob [" in l)
        # common: ends with the size, no referer or user agent.
        assert re.fullmatch(r'127\.0\.0\.1 - bob \[[^\]]+\] "GET / HTTP/1\.1" 200 \d+', line), line
