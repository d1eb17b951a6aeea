"""Example second user store for provider-alias.conf (the "contractors"
provider). The demo account is erin / engineer. Users unknown here are
answered None, so Apache tries the next provider in AuthBasicProvider."""

import hashlib
import hmac

ROUNDS = 200_000

PASSWORDS = {
    "erin": ("fb4cb0170e870e35b791d50926e91944",
             "6791f2101169a4ad0100aae8133c03b6af613b06fab06d07a2ea3fa912d3ece5"),
}


def check_password(environ, user, password):
    entry = PASSWORDS.get(user)
    if entry is None:
        return None
    salt, expected = entry
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), ROUNDS)
    return hmac.compare_digest(digest.hex(), expected)
