"""WSGIPythonHome names a virtualenv made with another Python minor version
(docs/directives.md): its packages could never be imported
by the module's interpreter, so the directive is refused where it is read,
by `apache2 -t` and at start-up, with both versions named. A virtualenv of
the module's own version is accepted (test_runtime.py runs one)."""

import re
import subprocess
from pathlib import Path

import pytest

from harness import Apache

# A Python of another minor version than Debian's, to make the virtualenv.
OTHER_PYTHONS = sorted(Path("/root/.pyenv/versions").glob("3.*/bin/python3"))


def module_python():
    out = subprocess.run(["/usr/bin/python3", "-c",
                          "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def other_python():
    mine = module_python()
    for python in OTHER_PYTHONS:
        out = subprocess.run([str(python), "-c",
                              "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip() != mine:
            return python, out.stdout.strip()
    pytest.skip("no Python of another minor version to make a virtualenv with")


@pytest.fixture
def other_venv_server():
    python, version = other_python()
    srv = Apache(name="othervenv", server_conf="ServerLimit 1\nStartServers 1\n")
    venv = srv.dir / "venv"
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=120)
    subprocess.run(["chmod", "-R", "a+rX", str(srv.dir)], check=True)
    srv.server_conf += f'WSGIPythonHome "{venv}"\n'
    srv.venv, srv.venv_version = venv, version
    yield srv
    srv.cleanup()


def expected_message(srv):
    return (f"WSGIPythonHome '{srv.venv}' is a virtualenv of Python {srv.venv_version} "
            f"(its pyvenv.cfg says so), but mod_authnz_wsgi runs Python {module_python()}")


def test_virtualenv_of_another_version_fails_apache2_t(other_venv_server):
    srv = other_venv_server
    code, output = srv.configtest()
    assert code != 0, output
    lines = srv.conf_path.read_text().splitlines()
    line = next(i for i, l in enumerate(lines, 1) if l.startswith("WSGIPythonHome"))
    assert f"Syntax error on line {line} of {srv.conf_path}:" in output, output
    assert expected_message(srv) in output, output
    assert f"python{module_python()} -m venv" in output, output


def test_virtualenv_of_another_version_is_refused_at_start(other_venv_server):
    srv = other_venv_server
    with pytest.raises(RuntimeError) as failed:
        srv.start()
    assert expected_message(srv) in str(failed.value), failed.value
    # Refused before any child started Python in it.
    assert "AUTHNZ_WSGI0003" not in srv.error_log()
