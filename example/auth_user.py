"""Example scripts for mod_authnz_wsgi: two users, one group.

check_password(environ, user, password) -> True / False / None / "new name"
get_realm_hash(environ, user, realm)    -> md5("user:realm:password") hex / None
groups_for_user(environ, user)          -> iterable of group names
"""

import hashlib
import hmac

USERS = {"demo": "demo-password", "guest": "guest-password"}
GROUPS = {"demo": ["staff"], "guest": []}


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
