"""Where a webhook may point: http(s) URLs whose host resolves to public addresses.

A webhook makes the server send requests to an address someone else chose:
pointed at 127.0.0.1, 10.x or 169.254.169.254, it would reach what only the
server can reach. So unless ``membership.webhooks.allow_private`` is set,
every address a URL's host resolves to must be globally routable, checked
when the URL is set and again before each delivery (DNS can change), and the
delivery connects to the address that was checked.
"""

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

SCHEMES = {"http": 80, "https": 443}
MAX_URL = 2048


class AddressRefused(ValueError):
    """The URL is malformed, or its host resolves to an address that is refused."""


def parse(url: str) -> SplitResult:
    """The URL split, if it is an absolute http(s) URL with a host and no credentials."""
    if len(url) > MAX_URL:
        raise AddressRefused(f"longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise AddressRefused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"not a URL: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise AddressRefused("must be an http:// or https:// URL")
    if not parts.hostname:
        raise AddressRefused("has no host")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("must not carry credentials (user:password@)")
    if parts.fragment:
        raise AddressRefused("must not have a #fragment")
    if port == 0:
        raise AddressRefused("port 0 is not a port")
    return parts


def port_of(parts: SplitResult) -> int:
    return parts.port or SCHEMES[parts.scheme]


def is_public(address: str) -> bool:
    """Globally routable unicast (not loopback, private, link-local, shared, reserved)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(parts: SplitResult, *, allow_private: bool) -> list[str]:
    """The addresses to connect to, each one allowed; ``AddressRefused`` if none is."""
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, port_of(parts), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(f"host {host!r} does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise AddressRefused(
                f"host {host!r} resolves to a loopback, private or link-local address "
                f"({refused[0]}); such URLs are refused unless membership.webhooks.allow_private"
            )
    if not addresses:
        raise AddressRefused(f"host {host!r} does not resolve")
    return addresses


def check(url: str, *, allow_private: bool) -> None:
    """Refuse what a webhook may not point at (``AddressRefused`` says why)."""
    parts = parse(url)
    if not allow_private:
        resolve(parts, allow_private=False)
