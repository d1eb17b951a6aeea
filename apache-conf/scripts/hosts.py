"""Example network policy for host-access.conf.

allow_access(environ, host) receives the client address as Apache sees it:
with mod_remoteip, the address the trusted proxy forwarded; with
`HostnameLookups Double`, a double-reverse-confirmed host name.

    True   the office network: `Require wsgi-host` grants
    None   no opinion: the other Require lines decide (here: log in)
    False  blocked: `Require wsgi-host` denies; as a WSGIAccessScript gate
           without `Require wsgi-host`, a 403 whatever the Require lines say
"""

import ipaddress

OFFICE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "192.168.0.0/16")]
BLOCKED = [ipaddress.ip_network(n) for n in ("192.0.2.0/24",)]


def allow_access(environ, host):
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a confirmed host name: no rule for names here
    if any(address in net for net in BLOCKED):
        return False
    if any(address in net for net in OFFICE):
        return True
    return None
