"""Example user database for basic.conf, digest.conf, groups.conf,
host-access.conf and provider-alias.conf (the "employees" provider).

Replace the two tables with a lookup in your own user store (a database,
LDAP, an HTTP API). The demo accounts are:

    alice / wonderland    bob / builder    carol / caroling    dave / diving

mod_authnz_wsgi calls these functions from Apache's worker threads, so keep
them thread-safe, and never log a password.
"""

import hashlib
import hmac

ROUNDS = 200_000

# user -> (salt, PBKDF2-HMAC-SHA256 of the password), both hex. Made with
# hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), ROUNDS).hex()
PASSWORDS = {
    "alice": ("d8c50f8da25a99cd737bfd6bb6dd800b",
              "cea3cef4095da5124f71397f2e721ea61344ad8b93582b4bf37ceb04fb6f4f43"),
    "bob": ("925647526b27a8329c740893121cf0fa",
            "6935de95315079b6981d0a89191b4e35c44e370fd3145947f61ec1593844f57e"),
    "carol": ("e0a6c57fd4a1089b650ced40a7550972",
              "c358ff4f8131e5c5c129e73a277d40d9d69c159d191df351e6c8abeaed1d0aa7"),
    "dave": ("d67819e1ee90a5c4e3e9b8a2ae7a93af",
             "7ae7e7271acbde3230425f2b959320957c65eb4f04086ded300d97da84bb2130"),
}

# Digest needs MD5("user:realm:password") per realm (what htdigest stores).
REALM_HASHES = {
    ("alice", "Example: Digest"): "b848fb0d542ec66247abf749d693298e",
    ("bob", "Example: Digest"): "a6b24027678b97a10460a011dd256ad5",
}


def check_password(environ, user, password):
    """Basic: True (right password), False (wrong), None (no such user)."""
    entry = PASSWORDS.get(user)
    if entry is None:
        return None
    salt, expected = entry
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), ROUNDS)
    return hmac.compare_digest(digest.hex(), expected)


def get_realm_hash(environ, user, realm):
    """Digest: the lowercase hex MD5 of "user:realm:password", or None."""
    return REALM_HASHES.get((user, realm))
