"""An asyncio HTTP/1.1 load generator for the soak: N keep-alive connections
to 127.0.0.1, each sending a weighted mix of request kinds, every kind with
the status it must get.

Failure accounting (the soak's definitions):
- unexpected: a response whose status is not allowed for its kind at the
  time it arrives (the orchestrator changes what is allowed during a phase);
- failed: a request that got no response on a *fresh* connection
  (connection refused or reset, EOF before a status line, timeout);
- keepalive_retry: a request sent on a reused keep-alive connection that
  the server had closed (EOF or reset before any byte of the response).
  HTTP clients retry such an idempotent GET on a new connection, and so
  does this one; the retry's own outcome is what counts. Graceful restarts
  and MaxConnectionsPerChild close idle keep-alive connections, so these are
  expected and reported separately;
- reset_during_restart: failures while a hard restart (SIGHUP) is in
  progress, when the parent kills children with connections open.
"""

import asyncio
import base64
import collections
import hashlib
import os
import random
import re
import time

RESPONSE_TIMEOUT = 30.0


class Kind:
    """One kind of request: how to build it and which status it gets."""

    def __init__(self, name, path, expect, weight, headers=(), digest=None):
        self.name = name
        self.path = path
        self.expect = expect
        self.weight = weight
        self.headers = list(headers)
        self.digest = digest  # (user, password, realm) for Digest kinds

    def request(self, digest_state=None):
        lines = [f"GET {self.path} HTTP/1.1", "Host: 127.0.0.1", *self.headers]
        if self.digest and digest_state and digest_state.nonce:
            lines.append("Authorization: " + digest_state.authorization(self.path, *self.digest))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Authorization: Basic {token}"


class DigestState:
    """The nonce of one connection's Digest login (RFC 2617, qop=auth)."""

    def __init__(self):
        self.nonce = None
        self.nc = 0
        self.opaque = None

    def update(self, header):
        match = re.search(r'nonce="([^"]+)"', header)
        if match:
            self.nonce = match.group(1)
            self.nc = 0
        match = re.search(r'opaque="([^"]*)"', header)
        self.opaque = match.group(1) if match else None

    def authorization(self, uri, user, password, realm):
        self.nc += 1
        nc = f"{self.nc:08x}"
        cnonce = os.urandom(8).hex()
        ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"GET:{uri}".encode()).hexdigest()
        response = hashlib.md5(f"{ha1}:{self.nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        value = (
            f'Digest username="{user}", realm="{realm}", nonce="{self.nonce}", uri="{uri}", '
            f'algorithm=MD5, response="{response}", qop=auth, nc={nc}, cnonce="{cnonce}"'
        )
        if self.opaque is not None:
            value += f', opaque="{self.opaque}"'
        return value


class Stats:
    def __init__(self):
        self.by_kind = collections.defaultdict(collections.Counter)  # kind -> status -> n
        self.unexpected = collections.defaultdict(collections.Counter)
        self.failed = collections.Counter()  # reason -> n
        self.failed_during_restart = collections.Counter()
        self.keepalive_retries = 0
        self.digest_refreshes = 0
        self.connections = 0
        self.requests = 0
        self.latencies = collections.defaultdict(list)
        self.examples = []

    def merge(self, other):
        for k, c in other.by_kind.items():
            self.by_kind[k].update(c)
        for k, c in other.unexpected.items():
            self.unexpected[k].update(c)
        self.failed.update(other.failed)
        self.failed_during_restart.update(other.failed_during_restart)
        self.keepalive_retries += other.keepalive_retries
        self.digest_refreshes += other.digest_refreshes
        self.connections += other.connections
        self.requests += other.requests
        for k, v in other.latencies.items():
            self.latencies[k].extend(v)
        self.examples.extend(other.examples[: 20 - len(self.examples)])

    def unexpected_total(self):
        return sum(sum(c.values()) for c in self.unexpected.values())

    def failed_total(self):
        return sum(self.failed.values())

    def summary(self):
        lat = {}
        for k, v in self.latencies.items():
            v = sorted(v)
            if v:
                lat[k] = {"p50_ms": round(v[len(v) // 2] * 1000, 2),
                          "p99_ms": round(v[int(len(v) * 0.99)] * 1000, 2),
                          "max_ms": round(v[-1] * 1000, 2)}
        return {
            "requests": self.requests,
            "connections": self.connections,
            "statuses": {k: dict(sorted(c.items())) for k, c in sorted(self.by_kind.items())},
            "unexpected": self.unexpected_total(),
            "unexpected_by_kind": {k: dict(c) for k, c in self.unexpected.items() if c},
            "failed": self.failed_total(),
            "failed_by_reason": dict(self.failed),
            "failed_during_restart": dict(self.failed_during_restart),
            "keepalive_retries": self.keepalive_retries,
            "digest_nonce_refreshes": self.digest_refreshes,
            "latency": lat,
            "examples": self.examples[:10],
        }


class Control:
    """Shared state the orchestrator changes while the load runs."""

    def __init__(self, kinds):
        self.kinds = {k.name: k for k in kinds}
        self.allowed = {k.name: {k.expect} for k in kinds}
        self.weights = {k.name: k.weight for k in kinds}
        self.restarting = False
        self.stop = False
        self.sent = 0

    def allow(self, name, statuses):
        self.allowed[name] = set(statuses)


class ConnectionClosed(Exception):
    pass


async def read_response(reader):
    """Status, headers (lower-case names) and body length of one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/1\.([01]) (\d{3})", lines[0])
    if not match:
        raise ValueError(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    keep = match.group(1) == "1" and headers.get("connection", "").lower() != "close"
    return int(match.group(2)), headers, keep


class Worker:
    def __init__(self, port, control, stats, rng, max_per_conn):
        self.port = port
        self.control = control
        self.stats = stats
        self.rng = rng
        self.max_per_conn = max_per_conn
        self.reader = self.writer = None
        self.used = 0
        self.budget = 0
        self.digest = DigestState()

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (OSError, asyncio.TimeoutError):
                pass
        self.reader = self.writer = None

    async def connect(self):
        await self.close()
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.stats.connections += 1
        self.used = 0
        # Clients close connections themselves too: a random number of
        # requests per connection keeps MaxConnectionsPerChild turning.
        self.budget = self.rng.randint(1, self.max_per_conn)

    async def exchange(self, data):
        """Send one request; returns (status, headers). Raises
        ConnectionClosed when a reused connection was closed under us."""
        reused = self.writer is not None and self.used > 0
        if self.writer is None:
            await self.connect()
        try:
            self.writer.write(data)
            await self.writer.drain()
            status, headers, keep = await asyncio.wait_for(read_response(self.reader), RESPONSE_TIMEOUT)
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as e:
            await self.close()
            partial = isinstance(e, asyncio.IncompleteReadError) and e.partial
            if reused and not partial:
                raise ConnectionClosed() from e
            raise
        self.used += 1
        if not keep or self.used >= self.budget:
            await self.close()
        return status, headers

    async def one(self, kind):
        """One request of `kind`, with the keep-alive retry and, for Digest,
        the challenge and nonce refresh a real client does."""
        data = kind.request(self.digest)
        for attempt in (1, 2):
            try:
                status, headers = await self.exchange(data)
                return status, headers
            except ConnectionClosed:
                self.stats.keepalive_retries += 1
                if attempt == 2:
                    raise ConnectionResetError("reused connection closed twice")

    async def run_one(self):
        control = self.control
        names = list(control.weights)
        name = self.rng.choices(names, weights=[control.weights[n] for n in names])[0]
        kind = control.kinds[name]
        start = time.monotonic()
        restarting = control.restarting
        try:
            if kind.digest and self.digest.nonce is None:
                status, headers = await self.one(Kind("digest-challenge", kind.path, 401, 0))
                self.record("digest-challenge", status, {401}, start)
                self.digest.update(headers.get("www-authenticate", ""))
                start = time.monotonic()
            status, headers = await self.one(kind)
            if kind.digest and status == 401 and kind.expect != 401:
                # A stale or foreign nonce (the server restarted): take the
                # new one from the challenge and try once more.
                self.stats.digest_refreshes += 1
                self.digest.update(headers.get("www-authenticate", ""))
                status, headers = await self.one(kind)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
            await self.close()
            reason = type(e).__name__
            if restarting or control.restarting:
                self.stats.failed_during_restart[reason] += 1
            else:
                self.stats.failed[reason] += 1
                if len(self.stats.examples) < 20:
                    self.stats.examples.append(f"{name}: {reason}: {e}")
            return
        self.record(name, status, control.allowed[name], start)

    def record(self, name, status, allowed, start):
        self.stats.requests += 1
        self.stats.by_kind[name][status] += 1
        if len(self.stats.latencies[name]) < 20000:
            self.stats.latencies[name].append(time.monotonic() - start)
        if status not in allowed:
            self.stats.unexpected[name][status] += 1
            if len(self.stats.examples) < 20:
                self.stats.examples.append(f"{name}: status {status}, allowed {sorted(allowed)}")


async def run_load(port, kinds_or_control, total, concurrency=64, max_per_conn=20, seed=1,
                   duration=None):
    """Send `total` requests (or run until `duration` seconds or
    control.stop) over `concurrency` connections. Returns Stats."""
    control = kinds_or_control if isinstance(kinds_or_control, Control) else Control(kinds_or_control)
    stats = Stats()
    deadline = time.monotonic() + duration if duration else None
    budget = {"left": total}

    async def loop(i):
        worker = Worker(port, control, stats, random.Random(seed * 1000 + i), max_per_conn)
        try:
            while not control.stop and budget["left"] > 0:
                if deadline and time.monotonic() > deadline:
                    break
                budget["left"] -= 1
                await worker.run_one()
        finally:
            await worker.close()

    await asyncio.gather(*(loop(i) for i in range(concurrency)))
    return stats
