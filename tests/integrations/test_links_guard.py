"""The address guard: which URLs a link may lead to, and the sockets it opens."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest

from integrations.url_guard import (
    AddressGuard,
    AddressRefused,
    HostNotFound,
    Resolver,
    is_public,
)

PRIVATE = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.20",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.251",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "fec0::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",
    "2002:7f00:1::",
    "2002:a00:1::",
    "64:ff9b::a00:1",
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:2800:21f:cb07::1", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_internet_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def _url(address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:8080/lecture.mp4"


@pytest.mark.parametrize("address", PRIVATE)
def test_urls_with_private_literal_addresses_are_refused(address: str) -> None:
    guard = AddressGuard(resolver=_no_lookups)
    with pytest.raises(AddressRefused) as refused:
        guard.check_url(_url(address))
    assert refused.value.code == "private_address"
    assert guard.refused == [refused.value]


@pytest.mark.parametrize("address", PUBLIC)
def test_urls_with_public_literal_addresses_pass(address: str) -> None:
    guard = AddressGuard(resolver=_no_lookups)
    guard.check_url(_url(address).replace("http://", "https://"))
    assert guard.refused == []


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/lecture.mp4",
        "http://LOCALHOST:9000/x",
        "http://127.1/x",
        "http://2130706433/x",
        "http://0x7f000001/x",
        "http://someone@localhost/x",
    ],
)
def test_names_and_spellings_of_loopback_are_refused(url: str) -> None:
    with pytest.raises(AddressRefused) as refused:
        AddressGuard().check_url(url)
    assert refused.value.code == "private_address"


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    guard = AddressGuard(resolver=_table({"lectures.example": ["10.20.30.40"]}))
    with pytest.raises(AddressRefused, match=r"10\.20\.30\.40"):
        guard.check_url("https://lectures.example/watch?v=1")


def test_one_private_answer_among_public_ones_is_enough_to_refuse() -> None:
    guard = AddressGuard(resolver=_table({"cdn.example": ["93.184.215.14", "::ffff:192.168.0.1"]}))
    with pytest.raises(AddressRefused):
        guard.check_url("https://cdn.example/v.mp4")


def test_a_name_resolving_to_public_addresses_passes() -> None:
    guard = AddressGuard(resolver=_table({"cdn.example": ["93.184.215.14", "2606:2800::1"]}))
    guard.check_url("https://cdn.example/v.mp4")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "ftp://files.example/lecture.mp4",
        "data:video/mp4;base64,AAAA",
        "gopher://example.com/",
        "javascript:alert(1)",
        "rtmp://live.example/app",
        "//example.com/no-scheme",
    ],
)
def test_only_http_and_https_are_allowed(url: str) -> None:
    with pytest.raises(AddressRefused) as refused:
        AddressGuard(allow_private=True).check_url(url)
    assert refused.value.code == "scheme"


@pytest.mark.parametrize("url", ["http://", "https:///path", "http://example.com:99999/"])
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(AddressRefused) as refused:
        AddressGuard().check_url(url)
    assert refused.value.code == "bad_url"


def test_an_unknown_name_is_a_network_failure_not_a_refusal() -> None:
    guard = AddressGuard(resolver=_table({}))
    with pytest.raises(HostNotFound):
        guard.check_url("https://nowhere.example/")
    assert guard.refused == []


def test_private_addresses_are_allowed_when_configured() -> None:
    AddressGuard(allow_private=True).check_url("http://127.0.0.1:8080/x")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    yield sock
    sock.close()


def test_a_name_that_changes_its_answer_after_the_check_is_refused_on_connect(
    listener: socket.socket,
) -> None:
    port = listener.getsockname()[1]
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    guard = AddressGuard(resolver=lambda host, port: next(answers))
    guard.check_url(f"http://rebind.example:{port}/")
    with pytest.raises(AddressRefused):
        guard.connect(("rebind.example", port), 5)
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing ever knocked


def test_connections_go_where_the_check_allows(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    guard = AddressGuard(allow_private=True)
    with guard.connect(("127.0.0.1", port), 5):
        listener.setblocking(True)
        accepted, _ = listener.accept()
        accepted.close()


def _table(names: dict[str, list[str]]) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return names[host]

    return resolve


def _no_lookups(host: str, port: int) -> list[str]:
    raise AssertionError(f"literal addresses need no lookup, asked for {host}")
