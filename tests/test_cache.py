"""Caching (docs/how-it-runs.md#registration-with-httpd, docs/caching.md) against a real Apache: the in-process cache of
`WSGIAuthCacheTimeout` (Basic grants, renamed users, group sets, Digest realm
hashes) and
mod_authn_socache (`AuthBasicProvider socache wsgi`, `AuthDigestProvider
socache wsgi`, `AuthnCacheProvideFor wsgi`) with shmcb.

Every assertion about "no Python call" counts the calls the script itself
recorded. The server runs one child (StartServers/ServerLimit 1), so the
in-process cache of that child sees every request."""

import hashlib
import json
import os
import re
import secrets
import subprocess
import time
import urllib.request

import pytest

from harness import Apache

MEM_TIMEOUT = 30          # WSGIAuthCacheTimeout of the counting locations
EXPIRE_TIMEOUT = 2        # WSGIAuthCacheTimeout / AuthnCacheTimeout of the expiry locations
SOCACHE_TIMEOUT = 30      # AuthnCacheTimeout of the counting socache locations
REALM_A = "realm A"
REALM_B = "realm B"
DIGEST_REALM = "digest realm"
DIGEST_REALM_B = "digest realm B"

USERS_SCRIPT = """
import hashlib, json, os

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PASSWORDS = os.path.join(_HERE, "passwords.json")
_FLAG = os.path.join(_HERE, "record", "not-found-once")

def _passwords():
    with open(_PASSWORDS, encoding="utf-8") as f:
        return json.load(f)

def check_password(environ, user, password):
    record("basic", user=user, uri=environ["REQUEST_URI"])
    if user == "flaky" and os.path.exists(_FLAG):
        os.unlink(_FLAG)
        return None
    if user == "broken":
        raise RuntimeError("backend down")
    if user.startswith("memtest-"):
        return True      # any password: the script itself keeps no copy
    expected = _passwords().get(user)
    if expected is None:
        return None
    if password != expected:
        return False
    if user == "nick":
        return "canonical"
    return True

def get_realm_hash(environ, user, realm):
    record("digest", user=user, realm=realm, uri=environ["REQUEST_URI"])
    expected = _passwords().get(user)
    if expected is None:
        return None
    return hashlib.md5(f"{user}:{realm}:{expected}".encode()).hexdigest()
"""

GROUPS_SCRIPT = """
def groups_for_user(environ, user):
    record("groups", user=user, uri=environ["REQUEST_URI"])
    return {"gina": ["staff"], "gus": ["other"]}.get(user, [])
"""


def basic_location(path, script, realm=REALM_A, provider="wsgi", extra=""):
    return f"""
    <Location {path}>
      AuthType Basic
      AuthName "{realm}"
      AuthBasicProvider {provider}
      WSGIAuthUserScript "{script}"
      {extra}
      Require valid-user
    </Location>
    """


def digest_location(path, script, realm, extra):
    return f"""
    <Location {path}>
      AuthType Digest
      AuthName "{realm}"
      AuthDigestProvider wsgi
      WSGIAuthUserScript "{script}"
      {extra}
      Require valid-user
    </Location>
    """


@pytest.fixture(scope="module")
def apache():
    server = Apache(
        name="cache",
        modules=["authn_socache", "socache_shmcb"],
        server_conf="StartServers 1\nServerLimit 1\nThreadsPerChild 25\n"
                    "MaxRequestWorkers 25\nMinSpareThreads 1\nMaxSpareThreads 25\n"
                    "AuthnCacheSOCache shmcb\n"
                    "LogLevel info authnz_wsgi:debug authn_socache:debug\n",
    )
    users = server.write_script("users.py", USERS_SCRIPT)
    groups = server.write_script("groups.py", GROUPS_SCRIPT)
    server.passwords_path = server.dir / "passwords.json"
    set_passwords(server, {})
    mem = f"WSGIAuthCacheTimeout {MEM_TIMEOUT}"
    sc = f"AuthnCacheProvideFor wsgi\n      AuthnCacheTimeout {SOCACHE_TIMEOUT}"
    server.site_conf = f"""
    <AuthnProviderAlias wsgi alias-one>
      WSGIAuthUserScript "{users}"
    </AuthnProviderAlias>
    <AuthnProviderAlias wsgi alias-two>
      WSGIAuthUserScript "{users}"
    </AuthnProviderAlias>
    """ + "".join([
        basic_location("/nocache", users),
        basic_location("/mem-a", users, extra=mem),
        basic_location("/mem-b", users, extra=mem),
        basic_location("/mem-realm", users, realm=REALM_B, extra=mem),
        basic_location("/mem-expire", users, extra=f"WSGIAuthCacheTimeout {EXPIRE_TIMEOUT}"),
        basic_location("/mem-alias", users, provider="alias-one alias-two", extra=mem),
        f"""
    <Location /mem-groups>
      AuthType Basic
      AuthName "{REALM_A}"
      AuthBasicProvider wsgi
      WSGIAuthUserScript "{users}"
      WSGIAuthGroupScript "{groups}"
      {mem}
      Require wsgi-group staff
    </Location>
    """,
        basic_location("/sc-basic", users, provider="socache wsgi", extra=sc),
        basic_location("/sc-other", users, provider="socache wsgi", extra=sc),
        basic_location("/sc-bcrypt", users, provider="socache wsgi",
                       extra=sc + "\n      WSGISocacheHash bcrypt"),
        basic_location("/sc-expire", users, provider="socache wsgi",
                       extra=f"AuthnCacheProvideFor wsgi\n      AuthnCacheTimeout {EXPIRE_TIMEOUT}"),
        basic_location("/sc-shared-1", users, provider="socache wsgi",
                       extra=sc + "\n      AuthnCacheContext shared-context"),
        basic_location("/sc-shared-2", users, provider="socache wsgi",
                       extra=sc + "\n      AuthnCacheContext shared-context"),
        # socache loaded and used elsewhere, but not for this location.
        basic_location("/sc-not-for-us", users, provider="socache wsgi"),
        digest_location("/mem-digest", users, DIGEST_REALM, mem),
        digest_location("/mem-digest-b", users, DIGEST_REALM_B, mem),
        f"""
    <Location /sc-digest>
      AuthType Digest
      AuthName "{DIGEST_REALM}"
      AuthDigestProvider socache wsgi
      WSGIAuthUserScript "{users}"
      {sc}
      Require valid-user
    </Location>
    """,
    ])
    for d in ["nocache", "mem-a", "mem-b", "mem-realm", "mem-expire", "mem-alias", "mem-groups",
              "sc-basic", "sc-other", "sc-bcrypt", "sc-expire", "sc-shared-1", "sc-shared-2", "sc-not-for-us",
              "sc-digest", "mem-digest", "mem-digest-b"]:
        (server.docroot / d).mkdir()
        (server.docroot / d / "index.html").write_text(f"{d} page\n")
    server.start()
    yield server
    server.cleanup()


def set_passwords(server, passwords):
    server.passwords_path.write_text(json.dumps(passwords))
    os.chmod(server.passwords_path, 0o644)


def add_user(server, user, password):
    passwords = json.loads(server.passwords_path.read_text())
    passwords[user] = password
    set_passwords(server, passwords)


def calls(server, user, kind="basic"):
    return [c for c in server.records(kind) if c["user"] == user]


def get(server, location, user, password):
    return server.get_basic(f"/{location}/index.html", user, password).status


def digest_get(server, user, password, path="/sc-digest/index.html", realm=DIGEST_REALM):
    return server.open_with_handler(path, urllib.request.HTTPDigestAuthHandler, user, password,
                                    realm).status


# ---- the in-process cache (WSGIAuthCacheTimeout) --------------------------------------------

def test_without_the_directive_every_request_calls_python(apache):
    add_user(apache, "plain", "pw-plain")
    for _ in range(3):
        assert get(apache, "nocache", "plain", "pw-plain") == 200
    assert len(calls(apache, "plain")) == 3


def test_repeated_basic_logins_call_python_once(apache):
    add_user(apache, "alice", "pw-alice")
    for _ in range(10):
        assert get(apache, "mem-a", "alice", "pw-alice") == 200
    assert len(calls(apache, "alice")) == 1
    assert apache.error_lines("AUTHNZ_WSGI0070")


def test_a_renamed_user_is_cached_with_its_new_name(apache):
    add_user(apache, "nick", "pw-nick")
    logged = []
    for _ in range(4):
        resp = apache.get_basic("/mem-a/index.html", "nick", "pw-nick")
        assert resp.status == 200
        logged.append(apache.access_entry(resp)["user"])
    assert len(calls(apache, "nick")) == 1
    assert logged == ["canonical"] * 4


def test_groups_are_cached_with_the_login(apache):
    add_user(apache, "gina", "pw-gina")
    add_user(apache, "gus", "pw-gus")
    for _ in range(5):
        assert get(apache, "mem-groups", "gina", "pw-gina") == 200
    assert len(calls(apache, "gina")) == 1
    assert len(calls(apache, "gina", "groups")) == 1
    assert apache.error_lines("AUTHNZ_WSGI0071")
    # A user outside the group: the (empty-handed) group set is a successful
    # lookup and is cached too; the refusal comes from Require every time.
    for _ in range(3):
        assert get(apache, "mem-groups", "gus", "pw-gus") == 401
    assert len(calls(apache, "gus")) == 1
    assert len(calls(apache, "gus", "groups")) == 1


def test_wrong_passwords_are_never_cached(apache):
    add_user(apache, "wendy", "pw-wendy")
    for i in range(4):
        assert get(apache, "mem-a", "wendy", "wrong") == 401
        assert len(calls(apache, "wendy")) == i + 1
    # A cached good login does not answer for a wrong password either.
    assert get(apache, "mem-a", "wendy", "pw-wendy") == 200
    assert get(apache, "mem-a", "wendy", "pw-wendy") == 200
    assert len(calls(apache, "wendy")) == 5
    assert get(apache, "mem-a", "wendy", "wrong") == 401
    assert len(calls(apache, "wendy")) == 6


def test_unknown_users_and_errors_are_never_cached(apache):
    for i in range(3):
        assert get(apache, "mem-a", "nobody-here", "x") == 401
        assert len(calls(apache, "nobody-here")) == i + 1
    for i in range(3):
        assert get(apache, "mem-a", "broken", "x") == 500
        assert len(calls(apache, "broken")) == i + 1


def test_entries_never_cross_locations_or_realms(apache):
    add_user(apache, "carol", "pw-carol")
    assert get(apache, "mem-a", "carol", "pw-carol") == 200
    assert get(apache, "mem-a", "carol", "pw-carol") == 200
    assert len(calls(apache, "carol")) == 1
    # Same script, same realm, same timeout, another <Location>.
    assert get(apache, "mem-b", "carol", "pw-carol") == 200
    assert len(calls(apache, "carol")) == 2
    # Same script, another realm.
    assert get(apache, "mem-realm", "carol", "pw-carol") == 200
    assert len(calls(apache, "carol")) == 3
    for location in ("mem-a", "mem-b", "mem-realm"):
        assert get(apache, location, "carol", "pw-carol") == 200
    assert len(calls(apache, "carol")) == 3


def test_entries_never_cross_provider_aliases(apache):
    # Both aliases run the same script in the same application group; only
    # the alias name differs. The first call answers "not found" once, so
    # the grant of the first request comes from alias-two.
    add_user(apache, "flaky", "pw-flaky")
    flag = apache.record_dir / "not-found-once"
    flag.write_text("")
    os.chmod(flag, 0o666)
    assert get(apache, "mem-alias", "flaky", "pw-flaky") == 200
    assert len(calls(apache, "flaky")) == 2          # alias-one: None, alias-two: True
    # alias-one must ask Python: alias-two's grant is not its own.
    assert get(apache, "mem-alias", "flaky", "pw-flaky") == 200
    assert len(calls(apache, "flaky")) == 3
    assert get(apache, "mem-alias", "flaky", "pw-flaky") == 200
    assert len(calls(apache, "flaky")) == 3


def test_repeated_digest_logins_call_python_once(apache):
    add_user(apache, "dina", "pw-dina")
    for _ in range(6):
        assert digest_get(apache, "dina", "pw-dina", "/mem-digest/index.html") == 200
    assert len(calls(apache, "dina", "digest")) == 1
    assert [l for l in apache.error_lines("AUTHNZ_WSGI0077") if "'dina'" in l]
    # mod_auth_digest still checks every response against the cached hash.
    assert digest_get(apache, "dina", "wrong", "/mem-digest/index.html") == 401
    assert len(calls(apache, "dina", "digest")) == 1
    # Another realm is another entry (and another hash).
    assert digest_get(apache, "dina", "pw-dina", "/mem-digest-b/index.html",
                      DIGEST_REALM_B) == 200
    seen = calls(apache, "dina", "digest")
    assert [c["realm"] for c in seen] == [DIGEST_REALM, DIGEST_REALM_B]


def test_unknown_digest_users_are_never_cached(apache):
    # urllib's handler retries a refused Digest login a few times: every
    # retry reaches Python, the first request as much as the third.
    assert digest_get(apache, "ghost-digest", "pw", "/mem-digest/index.html") == 401
    per_request = len(calls(apache, "ghost-digest", "digest"))
    assert per_request >= 1
    for _ in range(2):
        assert digest_get(apache, "ghost-digest", "pw", "/mem-digest/index.html") == 401
    assert len(calls(apache, "ghost-digest", "digest")) == 3 * per_request


def test_a_changed_password_takes_effect_when_the_entry_expires(apache):
    add_user(apache, "pat", "old-pw")
    started = time.monotonic()
    assert get(apache, "mem-expire", "pat", "old-pw") == 200
    add_user(apache, "pat", "new-pw")
    # Within the timeout the old password is still answered from the cache
    # (that is what the timeout means), the new one works at once.
    assert get(apache, "mem-expire", "pat", "old-pw") == 200
    assert time.monotonic() - started < EXPIRE_TIMEOUT, "test machine too slow for the timeout"
    assert len(calls(apache, "pat")) == 1
    assert get(apache, "mem-expire", "pat", "new-pw") == 200
    assert len(calls(apache, "pat")) == 2
    time.sleep(EXPIRE_TIMEOUT - (time.monotonic() - started) + 0.1)
    assert get(apache, "mem-expire", "pat", "old-pw") == 401
    assert len(calls(apache, "pat")) == 3


def test_expiry_is_exact(apache):
    add_user(apache, "ella", "pw-ella")
    assert get(apache, "mem-expire", "ella", "pw-ella") == 200
    started = time.monotonic()
    while time.monotonic() - started < EXPIRE_TIMEOUT - 0.5:
        assert get(apache, "mem-expire", "ella", "pw-ella") == 200
        time.sleep(0.1)
    assert len(calls(apache, "ella")) == 1
    time.sleep(EXPIRE_TIMEOUT - (time.monotonic() - started) + 0.05)
    assert get(apache, "mem-expire", "ella", "pw-ella") == 200
    assert len(calls(apache, "ella")) == 2


# ---- mod_authn_socache ------------------------------------------------------------------------

def test_socache_answers_repeated_basic_logins_without_python(apache):
    add_user(apache, "sam", "pw-sam")
    for _ in range(8):
        assert get(apache, "sc-basic", "sam", "pw-sam") == 200
    assert len(calls(apache, "sam")) == 1
    assert apache.error_lines("AUTHNZ_WSGI0073")
    assert any("Authn cache: found credentials for sam" in l
               for l in apache.error_lines("AH01685"))


def test_socache_answers_repeated_digest_logins_without_python(apache):
    add_user(apache, "dora", "pw-dora")
    for _ in range(6):
        assert digest_get(apache, "dora", "pw-dora") == 200
    assert len(calls(apache, "dora", "digest")) == 1
    assert digest_get(apache, "dora", "wrong") == 401
    assert len(calls(apache, "dora", "digest")) == 1


def test_socache_never_stores_a_wrong_password(apache):
    add_user(apache, "walt", "pw-walt")
    for i in range(3):
        assert get(apache, "sc-basic", "walt", "wrong") == 401
        assert len(calls(apache, "walt")) == i + 1
    assert get(apache, "sc-basic", "walt", "pw-walt") == 200
    assert get(apache, "sc-basic", "walt", "pw-walt") == 200
    assert len(calls(apache, "walt")) == 4


def test_socache_context_separates_and_joins_locations(apache):
    add_user(apache, "otto", "pw-otto")
    assert get(apache, "sc-basic", "otto", "pw-otto") == 200
    # Default AuthnCacheContext "directory": another directory, another entry.
    assert get(apache, "sc-other", "otto", "pw-otto") == 200
    assert len(calls(apache, "otto")) == 2
    # A literal AuthnCacheContext shared by two locations shares the entry.
    assert get(apache, "sc-shared-1", "otto", "pw-otto") == 200
    assert get(apache, "sc-shared-2", "otto", "pw-otto") == 200
    assert len(calls(apache, "otto")) == 3


def test_socache_is_not_used_where_it_is_not_asked_for(apache):
    add_user(apache, "nora", "pw-nora")
    for _ in range(3):
        assert get(apache, "sc-not-for-us", "nora", "pw-nora") == 200
    assert len(calls(apache, "nora")) == 3
    # Not even hashed: mod_authn_socache's AuthnCacheProvideFor for this
    # location (none) was read, not only the server's configuration.
    assert not [l for l in apache.error_lines("AUTHNZ_WSGI0073") if "'nora'" in l]
    assert not apache.error_lines("AUTHNZ_WSGI0075")


def test_socache_does_not_store_renamed_users(apache):
    # mod_authn_socache would grant the cached entry under the client's name.
    add_user(apache, "nick", "pw-nick")
    logged = []
    for _ in range(3):
        resp = apache.get_basic("/sc-basic/index.html", "nick", "pw-nick")
        assert resp.status == 200
        logged.append(apache.access_entry(resp)["user"])
    assert len([c for c in calls(apache, "nick") if c["uri"].startswith("/sc-basic")]) == 3
    assert logged == ["canonical"] * 3


def hashed_as(server, user):
    """The schemes our debug lines say `user`'s logins were handed over as."""
    return [l.rsplit(" as a salted ", 1)[1].split()[0]
            for l in server.error_lines("AUTHNZ_WSGI0073") if f"'{user}'" in l]


def test_socache_entries_are_sha1_crypt_by_default_and_bcrypt_on_request(apache):
    add_user(apache, "hal", "pw-hal")
    for location in ("sc-basic", "sc-bcrypt"):
        for _ in range(4):
            assert get(apache, location, "hal", "pw-hal") == 200
        assert get(apache, location, "hal", "pw-halx") == 401
    # One Python call per location; the wrong password was refused by
    # mod_authn_socache's apr_password_validate, not by Python.
    assert len(calls(apache, "hal")) == 2
    assert hashed_as(apache, "hal") == ["sha1-crypt", "bcrypt"]
    assert not apache.error_lines("AUTHNZ_WSGI0078")


def test_socache_does_not_store_passwords_bcrypt_would_truncate(apache):
    long_pw = "L" * 72 + "tail"
    add_user(apache, "longpw", long_pw)
    assert get(apache, "sc-bcrypt", "longpw", long_pw) == 200
    # A password equal in its first 72 bytes must not be granted by the cache.
    assert get(apache, "sc-bcrypt", "longpw", "L" * 72 + "other") == 401
    assert len(calls(apache, "longpw")) == 2
    assert any("'longpw'" in l and "longer than the 72 bytes a bcrypt entry holds" in l
               for l in apache.error_lines("AUTHNZ_WSGI0074"))
    assert hashed_as(apache, "longpw") == []


def test_sha1_crypt_entries_hold_the_whole_password(apache):
    long_pw = "M" * 72 + "tail" + "x" * 100
    add_user(apache, "longsha", long_pw)
    assert get(apache, "sc-basic", "longsha", long_pw) == 200
    assert get(apache, "sc-basic", "longsha", long_pw) == 200
    assert get(apache, "sc-basic", "longsha", "M" * 72 + "other" + "x" * 100) == 401
    assert len(calls(apache, "longsha")) == 1
    assert hashed_as(apache, "longsha") == ["sha1-crypt"]


def test_socache_does_not_store_passwords_crypt_refuses(apache):
    huge_pw = "H" * 600      # libxcrypt takes at most 512 bytes
    add_user(apache, "hugepw", huge_pw)
    for i in range(2):
        assert get(apache, "sc-basic", "hugepw", huge_pw) == 200
        assert len(calls(apache, "hugepw")) == i + 1
    assert any("'hugepw'" in l and "longer than the 512 bytes a sha1-crypt entry holds" in l
               for l in apache.error_lines("AUTHNZ_WSGI0074"))
    assert hashed_as(apache, "hugepw") == []


def test_socache_keeps_an_old_password_until_authn_cache_timeout(apache):
    """ARCHITECTURE trap 12: mod_authn_socache answers DENIED (not "not
    found") when the cached hash does not match, so a changed password is
    refused, without asking Python, until AuthnCacheTimeout expires."""
    add_user(apache, "tess", "old-pw")
    started = time.monotonic()
    assert get(apache, "sc-expire", "tess", "old-pw") == 200
    add_user(apache, "tess", "new-pw")
    assert get(apache, "sc-expire", "tess", "new-pw") == 401
    assert get(apache, "sc-expire", "tess", "old-pw") == 200
    assert time.monotonic() - started < EXPIRE_TIMEOUT, "test machine too slow for the timeout"
    assert len(calls(apache, "tess")) == 1
    time.sleep(EXPIRE_TIMEOUT - (time.monotonic() - started) + 1.1)
    assert get(apache, "sc-expire", "tess", "new-pw") == 200
    assert get(apache, "sc-expire", "tess", "old-pw") == 401
    assert len(calls(apache, "tess")) == 2


# ---- what is stored ---------------------------------------------------------------------------

def process_memory(pid):
    """The contents of every writable private mapping of `pid` (heap, thread
    stacks, anonymous memory: where a cache could live), read through
    /proc/<pid>/mem, without the pages that are all zeros."""
    zero_page = bytes(4096)
    chunks = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if not fields[1].startswith("rw"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue
            chunks.extend(data[i:i + 4096] for i in range(0, len(data), 4096)
                          if data[i:i + 4096] != zero_page)
    return b"".join(chunks)


def test_in_process_cache_holds_digests_not_passwords(apache):
    """The cache keys are HMACs under a per-child secret. A core dump of the
    child cannot prove the absence of a password outright (httpd's own
    request pools and Python's freed strings keep copies until the memory
    is reused), so the check is comparative: log in many users with random
    passwords, half through a location without the cache and then half
    through the cached one (more recent, so more likely to survive as
    garbage), and count the passwords still present in memory. A cache that
    kept the plaintext would keep every cached password alive; ours must do
    no worse than the uncached requests. No unkeyed digest of a password
    (what a naive cache would key on) may appear at all."""
    n = 40
    plain = {f"memtest-plain{i}": secrets.token_urlsafe(30) for i in range(n)}
    cached = {f"memtest-cached{i}": secrets.token_urlsafe(30) for i in range(n)}
    for user, pw in plain.items():
        assert get(apache, "nocache", user, pw) == 200
    for user, pw in cached.items():
        assert get(apache, "mem-a", user, pw) == 200
        assert get(apache, "mem-a", user, pw) == 200
    assert all(len(calls(apache, u)) == 1 for u in cached)
    pids = apache.child_pids()
    assert len(pids) == 1
    memory = process_memory(pids[0])

    def survivors(creds):
        return sum(1 for pw in creds.values() if pw.encode() in memory)

    in_cached, in_plain = survivors(cached), survivors(plain)
    print(f"passwords found in memory: {in_cached}/{n} cached, {in_plain}/{n} uncached")
    assert in_cached <= max(in_plain, n // 4), (in_cached, in_plain)

    hex_runs = set(re.findall(rb"[0-9a-f]{32,64}", memory))
    for user, pw in cached.items():
        for data in (pw.encode(), f"{user}:{pw}".encode()):
            for algo in ("sha256", "sha1", "md5"):
                digest = hashlib.new(algo, data)
                assert digest.digest() not in memory, (algo, user)
                assert digest.hexdigest().encode() not in hex_runs, (algo, user)


# ---- configuration ----------------------------------------------------------------------------

@pytest.mark.parametrize("directive,value,message", [
    ("WSGIAuthCacheTimeout", "abc", "takes a number of seconds"),
    ("WSGIAuthCacheTimeout", "-1", "takes a number of seconds"),
    ("WSGIAuthCacheTimeout", "86401", "at most 86400"),
    ("WSGIAuthCacheTimeout", "1 2", "takes a number of seconds"),
    ("WSGISocacheHash", "md5", "must be sha1-crypt or bcrypt, not 'md5'"),
    ("WSGISocacheHash", "", "one argument"),
    ("WSGISocacheHash", "bcrypt sha1-crypt", "one argument"),
])
def test_bad_cache_settings_fail_the_config_test(directive, value, message):
    server = Apache(name="cache-conf")
    try:
        script = server.write_script("users.py", USERS_SCRIPT)
        server.site_conf = basic_location("/x", script, extra=f"{directive} {value}")
        code, out = server.configtest()
        assert code != 0
        assert directive in out and message in out, out
        assert "httpd.conf" in out
    finally:
        server.cleanup()


def socache_location_server(name, granted, location_conf, server_conf="", environment=None):
    """A started server with mod_authn_socache loaded and one location, /x,
    behind `AuthBasicProvider socache wsgi` plus `location_conf`, whose
    check_password records each call and returns the expression `granted`
    (of `u` and `p`)."""
    server = Apache(name=name, modules=["authn_socache", "socache_shmcb"],
                    server_conf=server_conf + "LogLevel info authnz_wsgi:debug\n",
                    environment=environment)
    script = server.write_script("users.py", "def check_password(e, u, p):\n"
                                             "    record('basic', user=u)\n"
                                             f"    return {granted}\n")
    server.site_conf = basic_location("/x", script, provider="socache wsgi", extra=location_conf)
    (server.docroot / "x").mkdir()
    (server.docroot / "x" / "index.html").write_text("x\n")
    try:
        return server.start()
    except Exception:
        server.cleanup()
        raise


def test_without_sha1_crypt_in_crypt3_entries_fall_back_to_bcrypt(tmp_path):
    """A libcrypt without `$sha1$` (simulated: crypt_rn preloaded to fail):
    one warning at start-up, and Basic entries are bcrypt, still answered by
    mod_authn_socache without Python."""
    shim = tmp_path / "no_sha1crypt.so"
    source = tmp_path / "no_sha1crypt.c"
    source.write_text("char *crypt_rn(const char *p, const char *s, void *d, int n)\n"
                      "{ (void)p; (void)s; (void)d; (void)n; return 0; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(shim), str(source)], check=True)
    os.chmod(tmp_path, 0o755)
    server = socache_location_server("cache-fallback", "p == 'pw-' + u",
                                     "AuthnCacheProvideFor wsgi",
                                     server_conf="AuthnCacheSOCache shmcb\n",
                                     environment={"LD_PRELOAD": str(shim)})
    try:
        for _ in range(3):
            assert server.get_basic("/x/index.html", "fay", "pw-fay").status == 200
        assert server.get_basic("/x/index.html", "fay", "pw-fax").status == 401
        assert len(server.records("basic")) == 1
        assert hashed_as(server, "fay") == ["bcrypt"]
        warnings = server.error_lines("AUTHNZ_WSGI0078")
        assert warnings and "cannot validate $sha1$ hashes" in warnings[0]
    finally:
        server.cleanup()


def test_no_hash_is_made_when_socache_does_not_cache_for_wsgi():
    """mod_authn_socache loaded and caching for another provider only: no
    salted hash is computed for our logins."""
    server = socache_location_server("cache-other", "True", "AuthnCacheProvideFor file")
    try:
        for _ in range(2):
            assert server.get_basic("/x/index.html", "u", "p").status == 200
        assert len(server.records("basic")) == 2
        assert not server.error_lines("AUTHNZ_WSGI0073")
    finally:
        server.cleanup()


@pytest.mark.parametrize("tail", [
    '<Location />\n  Header set X-Tail location\n</Location>',
    '<If "true">\n  Header set X-Tail if\n</If>',
])
def test_a_grant_stays_with_the_directive_that_made_it(tail):
    """Two locations, each with its own WSGIAuthUserScript line, and a
    section merged after both (a trailing `<Location />`, a server-level
    `<If>`): a grant made under /a/ never answers /b/, where the script
    refuses the same credentials."""
    server = Apache(name="cache-directive", server_conf="StartServers 1\nServerLimit 1\n")
    script = server.write_script("by_path.py", """
def check_password(environ, user, password):
    record("basic", user=user, uri=environ["REQUEST_URI"])
    return user == "alice" and environ["REQUEST_URI"].startswith("/a/")
""")
    locations = "".join(f"""
<Location /{p}/>
  AuthType Basic
  AuthName shared
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  WSGIAuthCacheTimeout 60
  Require valid-user
</Location>
""" for p in ("a", "b"))
    server.site_conf = locations + tail + "\n"
    for p in ("a", "b"):
        (server.docroot / p).mkdir()
        (server.docroot / p / "index.html").write_text(f"{p}\n")
    try:
        server.start()
        assert server.get_basic("/a/index.html", "alice", "pw").status == 200
        assert server.get_basic("/a/index.html", "alice", "pw").status == 200
        assert server.get_basic("/b/index.html", "alice", "pw").status == 401
        assert server.last_access()["user"] == "alice"
        uris = [c["uri"] for c in server.records("basic")]
        assert uris == ["/a/index.html", "/b/index.html"]
        assert server.error_lines("user alice: authentication failure")
    finally:
        server.cleanup()
