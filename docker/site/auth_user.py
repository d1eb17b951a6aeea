"""The container image's example users (docker/site/authnz-wsgi-example.conf):
demo, in the group staff, and optionally guest, in no group.

The image holds no password: each container is given them in its environment
(AUTHNZ_WSGI_DEMO_PASSWORD, required, and AUTHNZ_WSGI_GUEST_PASSWORD, which
adds guest), and /usr/local/bin/apache2-foreground refuses to start without
the first. Started some other way without it, this script fails to load, and
every login is answered 500: there is no fallback password.

check_password(environ, user, password) -> True / False / None
get_realm_hash(environ, user, realm)    -> md5("user:realm:password") hex / None
groups_for_user(environ, user)          -> iterable of group names
"""

import hashlib
import hmac
import os

MIN_PASSWORD = 12


def _password(name):
    value = os.environ.get(name, "")
    if len(value) < MIN_PASSWORD:
        raise RuntimeError(f"{name} must be set to a password of {MIN_PASSWORD} characters or more")
    return value


USERS = {"demo": _password("AUTHNZ_WSGI_DEMO_PASSWORD")}
if "AUTHNZ_WSGI_GUEST_PASSWORD" in os.environ:
    USERS["guest"] = _password("AUTHNZ_WSGI_GUEST_PASSWORD")
GROUPS = {"demo": ["staff"]}


def check_password(environ, user, password):
    expected = USERS.get(user)
    if expected is None:
        return None
    return hmac.compare_digest(expected.encode(), password.encode())


def get_realm_hash(environ, user, realm):
    password = USERS.get(user)
    if password is None:
        return None
    return hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()


def groups_for_user(environ, user):
    return GROUPS.get(user, [])
