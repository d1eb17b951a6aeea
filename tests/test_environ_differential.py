"""The environ a script sees must be the one its request alone decides
(docs/python-contract.md#environ, docs/how-it-runs.md), however the worker thread's earlier requests looked: a
worker thread keeps the environ it built last and updates only what
differs, and remembers the keys of header names it saw. Here one worker
thread (and, over HTTP/2, one mod_http2 worker) serves long randomized
sequences of requests — header names in random case and `-`/`_` spellings,
repeats, hundreds of distinct names, long and empty values, pipelined
HTTP/1.1 and HTTP/2 — and every environ the script recorded is
compared with one computed here, independently, from what was sent."""

import os
import random
import socket
import subprocess

import pytest

from harness import Apache, basic_header

SCRIPT = """
def check_password(environ, user, password):
    record(environ={k: v for k, v in environ.items() if isinstance(v, str)})
    return True
"""

ONE_THREAD = {
    "prefork": "StartServers 1\nServerLimit 1\nMaxRequestWorkers 1\n"
               "MinSpareServers 1\nMaxSpareServers 1\n",
    "worker": "StartServers 1\nServerLimit 1\nThreadLimit 1\nThreadsPerChild 1\n"
              "MaxRequestWorkers 1\nMinSpareThreads 1\nMaxSpareThreads 2\n",
    "event": "StartServers 1\nServerLimit 1\nThreadLimit 1\nThreadsPerChild 1\n"
             "MaxRequestWorkers 1\nMinSpareThreads 1\nMaxSpareThreads 2\n",
}

AUTH = basic_header("envuser", "pw")
# Header names the requests draw from: more than a process remembers keys
# for, with names that differ only in case, names that are dropped (`_`,
# `.`) and names that carry no HTTP_ key (Authorization, content headers).
BASE_NAMES = [f"X-Name-{i}" for i in range(320)] + [
    "User-Agent", "Accept", "Accept-Language", "X-External", "X-Forwarded-For",
    "Cache-Control", "Referer", "X_Underscore", "X.Dot", "X-Remote-User",
]


def spelled(rng, name):
    """`name` in a random case."""
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)


def random_value(rng):
    kind = rng.random()
    if kind < 0.1:
        return ""
    if kind < 0.2:
        return "v" * rng.choice([255, 256, 257, 600])
    if kind < 0.3:
        return "caf\xe9 " + str(rng.randrange(3))
    return f"v{rng.randrange(4)}"


def random_headers(rng, h2=False):
    """A request's headers: (name, value) in order, with repeats."""
    count = rng.choice([0, 1, 2, 5, 20, 60, 85])
    names = BASE_NAMES if not h2 else [n for n in BASE_NAMES if "_" not in n and "." not in n]
    headers = []
    for _ in range(count):
        name = rng.choice(names[:12] if rng.random() < 0.5 else names)
        if rng.random() < 0.15 and headers:
            name = headers[rng.randrange(len(headers))][0]
        value = random_value(rng)
        if h2:
            # ASCII, and never empty: curl cannot send an empty value of a
            # repeated name over HTTP/2.
            value = value.replace("\xe9", "e") or "e"
        headers.append((spelled(rng, name), value))
    if rng.random() < 0.3:
        headers.append((spelled(rng, "Content-Type"), rng.choice(["text/plain", "a/b"])))
    return headers


def expected_environ(method, path, headers, host, client_port):
    """The environ items this request alone decides, computed from what was
    sent: HTTP_ + name upper-cased with - as _, only for names of letters,
    digits and -, never credentials; repeats joined with ", " in order."""
    env = {"REQUEST_METHOD": method, "REQUEST_URI": path,
           "QUERY_STRING": path.partition("?")[2], "HTTP_HOST": host}
    if client_port is not None:
        env["REMOTE_PORT"] = str(client_port)
    for name, value in headers:
        lower = name.lower()
        if lower == "content-type":
            env["CONTENT_TYPE"] = value
            continue
        if not name or not all(c.isascii() and (c.isalnum() or c == "-") for c in name):
            continue
        if lower in ("authorization", "proxy-authorization"):
            continue
        key = "HTTP_" + name.upper().replace("-", "_")
        env[key] = env[key] + ", " + value if key in env else value
    return env


def compare(sent, records):
    """Every recorded environ against its reference: the HTTP_ and content
    items exactly (none missing, none extra, none stale), the rest by value."""
    by_uri = {r["environ"]["REQUEST_URI"]: r["environ"] for r in records}
    assert len(by_uri) == len(sent), (len(by_uri), len(sent))
    for want in sent:
        got = by_uri[want["REQUEST_URI"]]
        for key, value in want.items():
            if not key.startswith("HTTP_") and key != "CONTENT_TYPE":
                assert got.get(key) == value, (want["REQUEST_URI"], key)
        headers_got = {k: v for k, v in got.items()
                       if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH")}
        headers_want = {k: v for k, v in want.items()
                        if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH")}
        assert headers_got == headers_want, (
            want["REQUEST_URI"],
            sorted(set(headers_want.items()) ^ set(headers_got.items()))[:6],
        )


def read_response(stream):
    """One HTTP/1.1 response from a buffered socket file: the status."""
    status_line = stream.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    length = 0
    while True:
        line = stream.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    stream.read(length)
    return int(status_line.split()[1])


def pipelined_h1(server, requests):
    """Send `requests` (path, headers) on one connection in one write, then
    read every response; returns the references, with the client's port."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    port = sock.getsockname()[1]
    host = f"127.0.0.1:{server.port}"
    wire = b""
    refs = []
    for path, headers in requests:
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}", f"Authorization: {AUTH}"]
        lines += [f"{n}: {v}" for n, v in headers]
        wire += ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        refs.append(expected_environ("GET", path, headers, host, port))
    sock.sendall(wire)
    stream = sock.makefile("rb")
    statuses = [read_response(stream) for _ in requests]
    sock.close()
    assert statuses == [200] * len(requests), statuses
    return refs


def over_h2(server, requests):
    """Send `requests` over HTTP/2 (prior knowledge), one connection each:
    curl sends lowercase names, as every HTTP/2 client must. With
    `H2MaxWorkers 1` one mod_http2 worker thread serves them all."""
    host = f"127.0.0.1:{server.port}"
    refs = []
    for path, headers in requests:
        args = ["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                "-w", "%{http_code} %{http_version}",
                "-H", "User-Agent:", "-H", "Accept:", "-H", f"Authorization: {AUTH}"]
        for name, value in headers:
            # curl sends `Name;` for an empty value (a bare `Name:` removes it).
            args += ["-H", f"{name};" if value == "" else f"{name}: {value}"]
        args.append(server.url(path))
        out = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert (out.returncode, out.stdout) == (0, "200 2"), (out.stdout, out.stderr)
        ref = expected_environ("GET", path, headers, host, None)
        if "CONTENT_TYPE" in ref:
            # mod_http2 states the empty body of a request with a type.
            ref["CONTENT_LENGTH"] = "0"
        refs.append(ref)
    return refs


def one_thread_server(mpm, h2):
    server = Apache(name=f"environ-diff-{mpm}", mpm=mpm,
                    modules=["http2"] if h2 else (),
                    server_conf=ONE_THREAD[mpm] + "LimitRequestFields 120\n"
                    + ("Protocols h2c http/1.1\nH2MinWorkers 1\nH2MaxWorkers 1\n" if h2 else ""))
    script = server.write_script("env.py", SCRIPT)
    server.site_conf = f"""
    <Location /env>
      AuthType Basic
      AuthName env
      AuthBasicProvider wsgi
      WSGIAuthUserScript "{script}"
      Require valid-user
    </Location>
    """
    (server.docroot / "env").mkdir()
    (server.docroot / "env" / "index.html").write_text("ok\n")
    return server


@pytest.mark.parametrize("mpm", ["prefork", "worker", "event"])
def test_randomized_sequences_on_one_thread_match_the_reference(mpm):
    h2 = mpm != "prefork"  # mod_http2 does not run under prefork
    server = one_thread_server(mpm, h2)
    seed = os.environ.get("ENVIRON_DIFF_SEED", "environ")
    rng = random.Random(f"{seed}-{mpm}")
    sent = []
    try:
        server.start()
        n = 0
        for batch in range(160):
            use_h2 = h2 and batch % 4 == 3
            requests = []
            for _ in range(rng.choice([1, 3, 10])):
                requests.append((f"/env/index.html?n={n}", random_headers(rng, use_h2)))
                n += 1
            sent += (over_h2 if use_h2 else pipelined_h1)(server, requests)
        compare(sent, server.records())
        assert not server.error_lines("AUTHNZ_WSGI0041"), server.error_lines("AUTHNZ_WSGI0041")
    finally:
        server.cleanup()


def test_a_header_in_another_case_on_the_next_request_is_not_lost():
    """The reported case: `X-External: 1`, then `x-external: 1` on the same
    thread; an allow_access that denies when the key is present must deny
    both, and no later request fails in environ building."""
    server = Apache(name="environ-case", mpm="prefork", server_conf=ONE_THREAD["prefork"])
    script = server.write_script("deny_external.py", """
def allow_access(environ, host):
    record(external=environ.get("HTTP_X_EXTERNAL"), uri=environ["REQUEST_URI"])
    return "HTTP_X_EXTERNAL" not in environ
""")
    server.site_conf = f"""
    <Location /gate>
      WSGIAccessScript "{script}"
    </Location>
    """
    (server.docroot / "gate").mkdir()
    (server.docroot / "gate" / "index.html").write_text("inside\n")
    try:
        server.start()
        spellings = ["X-External", "x-external", "X-EXTERNAL", "x-External", "X-External"]
        statuses = []
        for i, name in enumerate(spellings):
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(f"GET /gate/index.html?n={i} HTTP/1.1\r\nHost: x\r\n{name}: 1\r\n"
                             f"Connection: close\r\n\r\n".encode())
                statuses.append(read_response(sock.makefile("rb")))
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"GET /gate/index.html?n=last HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")
            statuses.append(read_response(sock.makefile("rb")))
        assert statuses == [403] * len(spellings) + [200]
        seen = server.records()
        assert [r["external"] for r in seen] == ["1"] * len(spellings) + [None]
        assert len(server.error_lines("client denied by allow_access")) == len(spellings)
        assert not server.error_lines("AUTHNZ_WSGI0041")
    finally:
        server.cleanup()
