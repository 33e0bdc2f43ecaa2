"""Where the marketplace may call a bank's system (its `api_base_url`): never where a forged or careless address
would turn the outbox against the marketplace's own network (SSRF).

In production the address is https and every address its host resolves to is a public one: not loopback, private,
link-local (the cloud metadata service, 169.254.169.254), carrier-grade NAT, multicast or reserved. The check runs
when a bank's address is saved and again before each call (a name may resolve elsewhere by then), and the outbox
never follows a redirect. `MARKETPLACE_OUTBOUND_ALLOW_PRIVATE` lifts the address check; the demo and test profiles
set it, since their banks' systems run on this machine.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _


def refusal(url: str) -> str | None:
    """Why the marketplace will not call `url`, in the reader's language; None when it may."""
    parts = urlsplit(url)
    production = current_app.config["PROFILE"] == "production"
    if production and parts.scheme != "https":
        return _("A bank's system is called over https only.")
    if current_app.config["OUTBOUND_ALLOW_PRIVATE"]:
        return None
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except (OSError, ValueError, UnicodeError):
        return _("%(host)s does not resolve to an address.", host=host or url)
    for text in sorted(addresses):
        address = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 scope (fe80::1%eth0) is link-local anyway
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            return _("%(host)s resolves to %(address)s, an address inside a private or reserved network; a bank's "
                     "system must be reachable at a public address.", host=host, address=str(address))
    return None
