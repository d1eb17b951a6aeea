"""Fixtures shared by test files: the HTTP backend in tests/backends/."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness import free_port

BACKENDS = Path(__file__).resolve().parent / "backends"


@pytest.fixture(scope="session")
def identity_backend():
    """tests/backends/identity_server.py on a free 127.0.0.1 port: answers
    with the status and identity headers its query string asks for.
    Yields the base URL for ProxyPass."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(BACKENDS / "identity_server.py"), str(port)],
        cwd=BACKENDS, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)
