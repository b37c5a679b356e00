"""Who holds a TCP port (Linux /proc): for "port taken" messages of `make up` and
`make doctor`."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit


def listener(port: int) -> str | None:
    """Which process listens on a TCP port (Linux /proc), for 'port taken' messages."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
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
