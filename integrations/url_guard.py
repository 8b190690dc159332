"""Where a link may lead: public hosts over http(s), checked again on every connection.

A link is the one input that makes the bot open connections of its own choosing, so a user
could point it at the machine itself, the local network or a cloud metadata service. The
guard refuses those addresses when a URL is checked (the link, each redirect hop, each media
URL) and, because a name can resolve differently a moment later, once more on the addresses
a socket actually connects to.

The guard also knows the connections of its piece of work (`track`), so whoever ends the
work can end them (`close`): a thread blocked reading a slow site cannot be stopped, but its
socket can be shut under it, and after that the guard opens nothing more.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import weakref
from collections.abc import Callable
from typing import NoReturn
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
"""(host, port) -> the IP addresses the host stands for; raises OSError when it has none."""

ALLOWED_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Address blocks that carry an IPv4 address inside an IPv6 one; the inner one decides.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class AddressRefused(Exception):
    """A URL the guard will not let anyone fetch.

    `code` is 'scheme' (not http/https), 'bad_url' (no host, bad port) or 'private_address'.
    """

    def __init__(self, code: str, target: str) -> None:
        super().__init__(f"{code}: {target}")
        self.code = code
        self.target = target


class HostNotFound(OSError):
    """The host name does not resolve; a network failure, not a refusal."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public(address: IPAddress) -> bool:
    """Whether an address belongs to the public internet (and so may be fetched from)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class AddressGuard:
    """Checks URLs and opens checked connections; remembers what it refused.

    One guard serves one piece of work (looking at a link, downloading it), so `refused`
    tells afterwards whether a failure deep inside a download was the guard's doing.
    """

    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self.resolver = resolver or system_resolver
        self.refused: list[AddressRefused] = []
        self.closed = False
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()

    def track(self, sock: socket.socket) -> None:
        """Count `sock` among the work's connections; shut at once if the work has ended."""
        with self._lock:
            self._sockets.add(sock)
            closed = self.closed
        if closed:
            _shut(sock)

    def close(self) -> None:
        """End the work's network use: its connections are shut and no new one opens.

        Safe from any thread; a read blocked on a shut socket returns at once.
        """
        with self._lock:
            self.closed = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def check_url(self, url: str) -> None:
        """Raise AddressRefused unless `url` is http(s) to a host with only public addresses.

        HostNotFound when the host does not resolve.
        """
        try:
            parts = urlsplit(url.strip())
            scheme = parts.scheme.lower()
            host = parts.hostname
            port = parts.port
        except ValueError:
            self._refuse("bad_url", url)
        if scheme not in ALLOWED_SCHEMES:
            self._refuse("scheme", url)
        if not host:
            self._refuse("bad_url", url)
        if self.allow_private:
            return
        self.addresses(host, port or _DEFAULT_PORTS[scheme])

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The host's addresses, all of them public, or AddressRefused / HostNotFound."""
        literal = _literal(host)
        if literal is not None:
            found = [literal]
        else:
            try:
                found = [ipaddress.ip_address(a.split("%")[0]) for a in self.resolver(host, port)]
            except (OSError, UnicodeError) as exc:
                raise HostNotFound(f"{host}: {exc}") from exc
            if not found:
                raise HostNotFound(host)
        if not self.allow_private:
            # One private answer is enough to refuse: a name that mixes both is a trick.
            bad = next((a for a in found if not is_public(a)), None)
            if bad is not None:
                self._refuse("private_address", f"{host} ({bad})")
        return found

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """`socket.create_connection` that connects only to addresses it has just checked.

        Resolving once and connecting to exactly those addresses leaves no gap for a name
        that answers differently between the check and the connection.
        """
        host, port = address
        if self.closed:
            raise ConnectionAbortedError(f"the work that connected to {host} has ended")
        if self.allow_private:
            return socket.create_connection(address, timeout, source_address)
        last: OSError | None = None
        for ip in self.addresses(host, port):
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if timeout is not None:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect((str(ip), port))
                return sock
            except OSError as exc:
                sock.close()
                last = exc
        raise last or OSError(f"cannot connect to {host}")

    def _refuse(self, code: str, target: str) -> NoReturn:
        refusal = AddressRefused(code, target)
        with self._lock:
            self.refused.append(refusal)
        raise refusal


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None
