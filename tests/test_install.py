"""`make install` (scripts/install.sh) on this host: the module goes into
`apxs -q LIBEXECDIR` and Debian's mods-available/authnz_wsgi.{load,conf} are
written (under DESTDIR, so nothing of the host's Apache is touched). The
commented examples of authnz_wsgi.conf, uncommented, pass `apache2 -t`.
The container test (test_container.py) checks `a2enmod` on a real Debian
layout."""

import re
import subprocess
from pathlib import Path

from harness import MODULE_SO, Apache

ROOT = Path(__file__).resolve().parent.parent


def test_install_uses_apxs_libexecdir_and_writes_the_debian_files(tmp_path):
    libexec = subprocess.run(["apxs", "-q", "LIBEXECDIR"], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert libexec.startswith("/"), libexec
    run = subprocess.run(["bash", str(ROOT / "scripts/install.sh"), str(MODULE_SO)],
                         env={"PATH": "/usr/local/bin:/usr/bin:/bin", "DESTDIR": str(tmp_path)},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    installed = tmp_path / libexec.lstrip("/") / "mod_authnz_wsgi.so"
    assert installed.read_bytes() == MODULE_SO.read_bytes()
    assert installed.stat().st_mode & 0o777 == 0o644
    avail = tmp_path / "etc/apache2/mods-available"
    # The .load names the installed path without DESTDIR: what Apache will read.
    assert (avail / "authnz_wsgi.load").read_text() == (
        f"LoadModule authnz_wsgi_module {libexec}/mod_authnz_wsgi.so\n")
    conf = (avail / "authnz_wsgi.conf").read_text()
    assert conf == (ROOT / "install/debian/authnz_wsgi.conf").read_text()
    # Commented throughout: enabling the module changes no behaviour.
    assert all(not line.strip() or line.lstrip().startswith("#") for line in conf.splitlines())


def test_the_commented_examples_of_the_conf_file_are_valid():
    server = Apache(name="install-conf", modules=["auth_digest"])
    try:
        script = server.write_script("users.py", "def check_password(environ, user, password):\n"
                                                 "    return None\n", record=False)
        groups = server.write_script("groups.py", "def groups_for_user(environ, user):\n"
                                                  "    return []\n", record=False)
        conf = (ROOT / "install/debian/authnz_wsgi.conf").read_text()
        # An example line is a comment whose text starts after three spaces.
        examples = [m.group(1) for m in re.finditer(r"^#   (\s*\S.*)$", conf, re.M)]
        assert any(line.startswith("<Location /digest>") for line in examples), examples
        text = "\n".join(examples)
        text = (text.replace("/srv/auth/users.py", str(script))
                    .replace("/srv/auth/groups.py", str(groups))
                    .replace("/srv/venv", str(server.dir)).replace("/srv/app", str(server.dir)))
        server.site_conf = text + "\n"
        code, output = server.configtest()
        assert code == 0, output + text
        assert "Syntax OK" in output
    finally:
        server.cleanup()
