"""Example group table for groups.conf: groups_for_user returns the names
of the groups the (already authenticated) user belongs to. Apache compares
them with the `Require wsgi-group` names without regard to ASCII case."""

GROUPS = {
    "alice": ["staff", "admins"],
    "bob": ["staff"],
    "carol": ["Site Operators"],
    "dave": [],
}


def groups_for_user(environ, user):
    # Always return a list (or another iterable) of str or bytes; a single
    # string, None or an exception is refused with a 500 and a log line.
    return GROUPS.get(user, [])
