"""Who holds a TCP port (Linux /proc): for "port taken" messages of `make up` and
`make doctor`."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

_ANY = {ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::")}


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A /proc/net/tcp{,6} local address: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def listener(port: int, host: str | None = None) -> str | None:
    """Which process listens on a TCP port (on `host`'s address or on all addresses;
    any address when `host` is None), for "port taken" messages."""
    wanted = None if host is None else ipaddress.ip_address(socket.gethostbyname(host))
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] != "0A" or int(hex_port, 16) != port:
                continue
            if wanted is None or _address(address) in _ANY | {wanted}:
                inodes.add(fields[9])
    if not inodes:
        return None
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            for fd in (proc / "fd").iterdir():
                if any(f"socket:[{i}]" == os.readlink(fd) for i in inodes):
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
                    return f"pid {proc.name} ({cmd.strip()})"
        except OSError:
            continue
    return "another user's process"


def port_of(url: str) -> int:
    return urlsplit(url).port or (443 if url.startswith("https") else 80)


def holder(url: str) -> str | None:
    """Which process listens where `url` points (its host's address, or all addresses)."""
    return listener(port_of(url), urlsplit(url).hostname)
