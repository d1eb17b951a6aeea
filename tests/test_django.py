"""Django's own mod_wsgi handlers (django.contrib.auth.handlers.modwsgi)
behind mod_authnz_wsgi: a virtualenv with Django from PyPI given to Apache
with WSGIPythonHome, a project with a sqlite database, and Basic
authentication plus `Require wsgi-group` against Django's users and groups."""

import fcntl
import os
import shutil
import sqlite3
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

from harness import Apache, run_user_ids

DJANGO_VERSION = os.environ.get("AUTHNZ_WSGI_DJANGO_VERSION", "5.2.19")
# Kept between runs, so in a directory nobody else can write to: in /var/tmp
# anyone could plant the venv (whose Python the tests run as root) or a link
# at the lock's name.
VENV_PARENT = Path(os.environ.get("AUTHNZ_WSGI_VENV_DIR", "/var/cache/authnz-wsgi-tests"))
SYSTEM_PYTHON = "/usr/bin/python3"  # the Python Apache's children embed


def cached_venv(name, requirement):
    """A virtualenv made from /usr/bin/python3 with `requirement` installed
    from PyPI, kept between runs under VENV_PARENT (keyed on `name`);
    world-readable for the child user."""
    venv = VENV_PARENT / name
    done = venv / ".authnz-wsgi-complete"
    VENV_PARENT.mkdir(mode=0o755, parents=True, exist_ok=True)
    info = VENV_PARENT.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise RuntimeError(f"{VENV_PARENT} must be a directory of ours that nobody else can "
                           "write to (set AUTHNZ_WSGI_VENV_DIR)")
    with open(VENV_PARENT / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True,
                       capture_output=True, timeout=300)
        pip = subprocess.run(
            [str(venv / "bin/python"), "-m", "pip", "install", "--disable-pip-version-check",
             "-q", requirement],
            capture_output=True, text=True, timeout=900,
        )
        if pip.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise RuntimeError(f"pip install {requirement} failed:\n{pip.stderr}")
        subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
        done.write_text(requirement + "\n")
    return venv


def django_venv():
    """A virtualenv with Django (see `cached_venv`)."""
    return cached_venv(f"authnz-wsgi-django-venv-{DJANGO_VERSION}", f"django=={DJANGO_VERSION}")


SETTINGS = """\
SECRET_KEY = "authnz-wsgi-test-only"
DEBUG = False
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
# MD5 keeps the test fast; PBKDF2 is listed so that a legacy hash is
# recognised and upgraded (a database write) on the first good login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

POPULATE = """\
import django
django.setup()
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.core.management import call_command

call_command("migrate", verbosity=0, interactive=False)
staff = Group.objects.create(name="staff")
editors = Group.objects.create(name="Editors")

def user(name, password, *groups, active=True):
    u = User.objects.create_user(name, password=password, is_active=active)
    u.groups.set(groups)
    return u

user("alice", "alice-pw", staff, editors)
user("bob", "bob-pw")
user("carol", "carol-pw", staff, active=False)
user("jos\\u00e9", "jos\\u00e9-pw", staff)
legacy = user("legacy", "legacy-pw", staff)
legacy.password = make_password("legacy-pw", hasher="pbkdf2_sha256")
legacy.save()
"""


def make_django_project(base, venv, package="mysite"):
    """A Django project under `base`: base/project/<package>/settings.py and a
    migrated sqlite database in base/db/ that the child user may write.
    Returns (project_dir, db_path)."""
    project = base / "project"
    (project / package).mkdir(parents=True)
    db_dir = base / "db"
    db_dir.mkdir()
    db = db_dir / "db.sqlite3"
    (project / package / "__init__.py").write_text("")
    (project / package / "settings.py").write_text(SETTINGS.format(db=str(db)))
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=f"{package}.settings", PYTHONPATH=str(project))
    subprocess.run([str(venv / "bin/python"), "-c", POPULATE], check=True, cwd=project,
                   env=env, capture_output=True, timeout=300)
    # sqlite writes a journal next to the database: both belong to the child user.
    uid, gid = run_user_ids()
    for path in (db_dir, db):
        os.chown(path, uid, gid)
    subprocess.run(["chmod", "-R", "a+rX", str(project)], check=True)
    return project, db


AUTH_SCRIPT = """
import os
import sys

sys.path.insert(0, {project!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

import django
django.setup()

from django.contrib.auth.handlers import modwsgi

def check_password(environ, user, password):
    result = modwsgi.check_password(environ, user, password)
    record("authn", user=user, result=result, prefix=sys.prefix, django=django.__version__)
    return result

def groups_for_user(environ, user):
    groups = modwsgi.groups_for_user(environ, user)
    record("groups", user=user, groups=[g.decode() for g in groups])
    return groups
"""


@pytest.fixture(scope="module")
def venv():
    return django_venv()


@pytest.fixture(scope="module")
def apache(venv):
    server = Apache(name="django", server_conf=f'StartServers 1\nServerLimit 1\n'
                    f'WSGIPythonHome "{venv}"\n')
    project, db = make_django_project(server.dir, venv)
    server.db = db
    script = server.write_script("django_auth.py", AUTH_SCRIPT.format(project=str(project)))
    server.site_conf = f"""
<Location /users>
  AuthType Basic
  AuthName "Django users"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  Require valid-user
</Location>
<Location /staff>
  AuthType Basic
  AuthName "Django staff"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  WSGIAuthGroupScript "{script}"
  AuthzSendForbiddenOnFailure On
  <RequireAll>
    Require valid-user
    Require wsgi-group staff
  </RequireAll>
</Location>
<Location /editors>
  AuthType Basic
  AuthName "Django editors"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  WSGIAuthGroupScript "{script}"
  AuthzSendForbiddenOnFailure On
  Require wsgi-group editors
</Location>
"""
    for d in ("users", "staff", "editors"):
        (server.docroot / d).mkdir()
        (server.docroot / d / "index.html").write_text(f"{d} page\n")
    server.start()
    yield server
    server.cleanup()


def call(apache, path, user, password):
    """(response, access-log entry, check_password calls, groups_for_user
    calls); the error-log lines of the request are left in apache.new_errors."""
    authn_before = len(apache.records("authn"))
    groups_before = len(apache.records("groups"))
    errors_before = len(apache.error_log().splitlines())
    resp = apache.get_basic(path, user, password)
    entry = apache.access_entry(resp)
    apache.new_errors = apache.error_log().splitlines()[errors_before:]
    return (resp, entry, apache.records("authn")[authn_before:],
            apache.records("groups")[groups_before:])


def test_interpreter_is_the_virtualenv(apache, venv):
    resp, entry, authn, _ = call(apache, "/users/index.html", "alice", "alice-pw")
    assert resp.status == 200
    assert authn[0]["prefix"] == str(venv)
    assert authn[0]["django"] == DJANGO_VERSION
    lines = apache.error_lines("AUTHNZ_WSGI0003")
    assert lines and all(f"sys.prefix {venv}" in l for l in lines), lines


@pytest.mark.parametrize(
    "user,password,status,result",
    [
        ("alice", "alice-pw", 200, True),
        ("bob", "bob-pw", 200, True),
        ("alice", "wrong-pw", 401, False),       # wrong password: False
        ("carol", "carol-pw", 401, None),        # inactive: Django says None
        ("mallory", "whatever", 401, None),      # unknown
        ("jos\u00e9".encode("utf-8"), "jos\u00e9-pw".encode("utf-8"), 200, True),
        # A client that sends Latin-1 bytes reaches the same Django user.
        ("jos\u00e9".encode("latin-1"), "jos\u00e9-pw".encode("latin-1"), 200, True),
    ],
)
def test_valid_user(apache, user, password, status, result):
    resp, entry, authn, groups = call(apache, "/users/index.html", user, password)
    assert resp.status == status
    assert entry["status"] == status
    # UTF-8 when valid, else Latin-1: both spellings reach Django as "jos\u00e9".
    name = "jos\u00e9" if isinstance(user, bytes) else user
    assert [(a["user"], a["result"]) for a in authn] == [(name, result)]
    assert groups == []
    if status == 200:
        assert resp.body == b"users page\n"
    else:
        assert resp.headers.get("WWW-Authenticate") == 'Basic realm="Django users"'
        assert any("auth_basic:error" in l and f"user {name}" in l
                   for l in apache.new_errors), apache.new_errors


@pytest.mark.parametrize(
    "user,password,status,groups",
    [
        ("alice", "alice-pw", 200, ["staff", "Editors"]),
        ("jos\u00e9", "jos\u00e9-pw", 200, ["staff"]),
        ("bob", "bob-pw", 403, []),
        ("carol", "carol-pw", 401, None),   # inactive: refused before groups
        ("alice", "wrong-pw", 401, None),
    ],
)
def test_group_inside_require_all(apache, user, password, status, groups):
    resp, entry, authn, seen = call(apache, "/staff/index.html", user, password)
    assert resp.status == status and entry["status"] == status
    assert len(authn) == 1
    if groups is None:
        assert seen == []
    else:
        assert len(seen) == 1 and sorted(seen[0]["groups"]) == sorted(groups)
    if status == 403:
        assert any("AH01631" in l and f"user {user}: authorization failure" in l
                   for l in apache.new_errors), apache.new_errors


def test_group_names_match_case_insensitively(apache):
    # Django's group is "Editors"; the Require line says "editors".
    resp, entry, _, seen = call(apache, "/editors/index.html", "alice", "alice-pw")
    assert resp.status == 200 and entry["user"] == "alice"
    assert "Editors" in seen[0]["groups"]
    resp, entry, _, _ = call(apache, "/editors/index.html", "jos\u00e9", "jos\u00e9-pw")
    assert resp.status == 403 and entry["status"] == 403


def test_legacy_hash_is_upgraded_by_the_child(apache):
    """check_password re-hashes a password stored with an older hasher: the
    database and its directory must be writable by the child user."""
    with sqlite3.connect(apache.db) as db:
        (before,) = db.execute("select password from auth_user where username='legacy'").fetchone()
    assert before.startswith("pbkdf2_sha256$")
    resp, entry, authn, _ = call(apache, "/users/index.html", "legacy", "legacy-pw")
    assert resp.status == 200 and entry["user"] == "legacy"
    assert authn[0]["result"] is True
    with sqlite3.connect(apache.db) as db:
        (after,) = db.execute("select password from auth_user where username='legacy'").fetchone()
    assert after.startswith("md5$")
    assert apache.db.stat().st_uid == run_user_ids()[0]
    # And the upgraded hash still logs in.
    resp, _, authn, _ = call(apache, "/staff/index.html", "legacy", "legacy-pw")
    assert resp.status == 200 and authn[0]["result"] is True
    assert not [l for l in apache.error_log().splitlines() if ":error]" in l and "readonly" in l]


def test_no_python_errors(apache):
    errors = [l for l in apache.error_log().splitlines() if "AUTHNZ_WSGI" in l and ":error]" in l]
    assert errors == []
