"""A mirror of the release downloads, laid out as on GitHub: the folders, tarballs and
checksum files that stackctl/tools.py fetches, made of this checkout's own .tools
binaries, served over HTTP on loopback. The release-path tests
(tests/infra/test_tools_release.py) and the first-run measurement (bench/first_run.py)
point TOOLS_RELEASES_URL at it; GitHub is not reachable from where they run.

    server = serve(fake_github(tmp / "github"))   # server.url: http://127.0.0.1:<port>
    ...
    server.stop()
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

from stackctl import tools
from stackctl.settings import settings

DECOY_ARCH = "s390x"  # another platform's entry in each checksum file, as in the real ones


def folder(root: Path, release: tools.Release, env: dict[str, str]) -> Path:
    """Where a release's files live under the fake GitHub's root."""
    return root / release.url.removeprefix(f"{env['TOOLS_RELEASES_URL']}/")


def checksum_line(path: Path, binary_mode: bool) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    # Jaeger's file is `shasum -b` output (`<hex> *<name>`), the collector's `<hex>  <name>`.
    return f"{digest} {'*' if binary_mode else ' '}{path.name}\n"


def fake_github(root: Path) -> Path:
    """Each release of stackctl.tools.RELEASES for this machine, laid out as on GitHub."""
    env = settings()
    system, arch = tools.os_arch()
    for tool, make in tools.RELEASES.items():
        release = make(env, system, arch)
        where = folder(root, release, env)
        where.mkdir(parents=True)
        # compresslevel 1: the binaries are ~80 MB; what matters is the bytes inside.
        with tarfile.open(where / release.tarball, "w:gz", compresslevel=1) as tar:
            tar.add(tools.binary(tool, env), arcname=release.member)
        decoy = where / release.tarball.replace(arch, DECOY_ARCH)
        decoy.write_bytes(b"another platform's tarball")
        (where / release.checksums).write_text(
            checksum_line(decoy, tool == "jaeger")
            + checksum_line(where / release.tarball, tool == "jaeger"))
    return root


@dataclass
class Server:
    url: str
    httpd: http.server.ThreadingHTTPServer

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def serve(root: Path) -> Server:
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return Server(f"http://127.0.0.1:{httpd.server_address[1]}", httpd)
