"""stackctl/ports.py: who holds a port, per address (the scaled topology runs several
collectors on one port, each on its own 127.0.0.x)."""

from __future__ import annotations

import os
import socket

import pytest


@pytest.fixture
def listening() -> socket.socket:
    sockets: list[socket.socket] = []

    def listen(host: str, family: int = socket.AF_INET) -> int:
        s = socket.socket(family)
        sockets.append(s)
        s.bind((host, 0))
        s.listen()
        return s.getsockname()[1]

    yield listen
    for s in sockets:
        s.close()


def test_a_listener_is_found_on_its_address_and_named(listening) -> None:
    from stackctl.ports import listener
    port = listening("127.0.0.2")
    assert listener(port, "127.0.0.2").startswith(f"pid {os.getpid()} (")
    assert listener(port) is not None
    assert listener(port, "127.0.0.3") is None  # another loopback address: free there


def test_a_wildcard_listener_holds_every_address(listening) -> None:
    from stackctl.ports import listener
    assert listener(listening("0.0.0.0"), "127.0.0.3") is not None
    assert listener(listening("::", socket.AF_INET6), "localhost") is not None
    assert listener(listening("127.0.0.1"), "localhost") is not None
