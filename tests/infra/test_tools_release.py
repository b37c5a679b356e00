"""`make tools` installs release binaries first (stackctl/tools.py), and only what their
release's checksum file vouches for. GitHub is not reachable here, so a local HTTP server
serves a fake release laid out like the real ones (the same paths, tarball names, members
and checksum files), made from this checkout's own builds; `make tools` is pointed at it
by one setting, TOOLS_RELEASES_URL.

Each test runs the real `make tools` in a copy of the repository (its .tools/ empty but
for Helm, which `make tools` would otherwise build), so the real .tools/ is never touched.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackctl import tools
from stackctl.release_mirror import fake_github, folder, serve
from stackctl.tools import binary
from tests.support.ports import free_port
from tests.support.stack import ROOT, dotenv

ENV = dotenv()
SYSTEM, ARCH = tools.os_arch()
RELEASES = {name: make(ENV, SYSTEM, ARCH) for name, make in tools.RELEASES.items()}


@pytest.fixture(scope="module")
def release_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake GitHub: <root>/<owner>/<repo>/releases/download/<tag>/<files>."""
    for tool in RELEASES:
        if not binary(tool).exists():
            pytest.fail(f"{binary(tool)} is missing: run `make tools` first")
    return fake_github(tmp_path_factory.mktemp("github"))


@pytest.fixture()
def server(release_tree: Path) -> Iterator[str]:
    running = serve(release_tree)
    yield running.url
    running.stop()


def checkout(tmp: Path) -> Path:
    """The repository's tracked files in tmp/repo, mtimes kept (make sees .venv as
    installed), with the real Helm in place so that `make tools` does not build it."""
    repo = tmp / "repo"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True, timeout=30).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    helm = binary("helm")
    if not helm.exists():
        pytest.fail(f"{helm} is missing: run `make tools` first")
    target = repo / helm.relative_to(ROOT)
    target.parent.mkdir(parents=True)
    target.symlink_to(helm)
    return repo


def make_tools(tmp: Path, repo: Path, url: str, **env: str) -> subprocess.CompletedProcess:
    # A `go` that only says it was called: the fallback build must be tried, not run.
    (tmp / "bin").mkdir(exist_ok=True)
    (tmp / "bin/go").write_text("#!/bin/sh\necho \"stand-in go called: $*\"\nexit 1\n")
    (tmp / "bin/go").chmod(0o755)
    clean = {k: v for k, v in os.environ.items() if k not in ("TOOLS", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(
        ["make", "--no-print-directory", "tools", f"VENV={ROOT / '.venv'}",
         f"TOOLS_RELEASES_URL={url}"],
        cwd=repo, capture_output=True, text=True, timeout=180,
        env={**clean, "PATH": f"{tmp / 'bin'}:{clean['PATH']}", **env})


def installed(repo: Path, tool: str) -> Path:
    return repo / binary(tool).relative_to(ROOT)


def leftovers(repo: Path) -> list[str]:
    return [p.name for p in (repo / ".tools").glob(".*")]


def test_the_release_binaries_are_verified_and_installed(tmp_path: Path, server: str) -> None:
    repo = checkout(tmp_path)
    result = make_tools(tmp_path, repo, server)
    assert result.returncode == 0, result.stdout + result.stderr
    for tool, release in RELEASES.items():
        path = installed(repo, tool)
        assert path.read_bytes() == binary(tool).read_bytes(), f"{tool}: not the served binary"
        assert os.access(path, os.X_OK)
        assert path.with_name("ORIGIN").read_text().startswith(
            f"release {server}/"), path.with_name("ORIGIN").read_text()
        assert f"{release}: verified ({release.checksums})" in result.stdout
    assert "stand-in go called" not in result.stdout, "it built although the release was there"
    assert "jaeger-ui" not in result.stdout + result.stderr, "the release embeds its UI"
    assert leftovers(repo) == []
    again = make_tools(tmp_path, repo, server)
    assert again.returncode == 0 and "downloading" not in again.stdout, again.stdout


def test_a_tampered_tarball_is_refused_and_nothing_installed(
        tmp_path: Path, release_tree: Path, server: str) -> None:
    release = RELEASES["jaeger"]
    served = folder(release_tree, release, ENV)
    original = (served / release.tarball).read_bytes()
    tampered = io.BytesIO(original)
    tampered.seek(len(original) // 2)
    tampered.write(b"\0tampered\0")
    (served / release.tarball).write_bytes(tampered.getvalue())
    try:
        repo = checkout(tmp_path)
        result = make_tools(tmp_path, repo, server)
    finally:
        (served / release.tarball).write_bytes(original)
    assert result.returncode != 0
    refusal = [line for line in result.stdout.splitlines() if "refused" in line]
    assert len(refusal) == 1 and release.tarball in refusal[0], result.stdout
    assert len(refusal[0]) <= 100, refusal[0]
    assert not installed(repo, "jaeger").exists()
    assert "stand-in go called" not in result.stdout, "a refused download must not fall back"
    assert leftovers(repo) == []


def test_a_tarball_missing_from_the_checksum_file_is_refused(
        tmp_path: Path, release_tree: Path, server: str) -> None:
    release = RELEASES["otelcol"]
    sums = folder(release_tree, release, ENV) / release.checksums
    original = sums.read_text()
    sums.write_text("".join(line for line in original.splitlines(keepends=True)
                            if release.tarball not in line))
    try:
        repo = checkout(tmp_path)
        result = make_tools(tmp_path, repo, server)
    finally:
        sums.write_text(original)
    assert result.returncode != 0
    assert (f"refused {release.tarball}: {release.checksums} has no entry for it"
            in result.stdout), result.stdout
    assert not installed(repo, "otelcol").exists()
    assert installed(repo, "jaeger").exists(), "jaeger's release was fine"


def test_a_dead_release_server_falls_back_to_the_build_saying_so(tmp_path: Path) -> None:
    repo = checkout(tmp_path)
    dead = f"http://127.0.0.1:{free_port()}"
    result = make_tools(tmp_path, repo, dead)
    out = result.stdout + result.stderr
    assert "jaeger: no release download" in out, out
    assert "building it from Go modules instead" in out, out
    assert "stand-in go called: -C infra/builds/jaeger build" in out, "the build was not tried"
    assert result.returncode != 0, "the stand-in go fails, so must make tools"
    assert not installed(repo, "jaeger").exists()


def test_tools_release_refuses_to_fall_back(tmp_path: Path) -> None:
    repo = checkout(tmp_path)
    result = make_tools(tmp_path, repo, f"http://127.0.0.1:{free_port()}", TOOLS="release")
    assert result.returncode != 0
    assert "no release download" in result.stdout and "TOOLS=release" in result.stdout
    assert "stand-in go called" not in result.stdout


@pytest.mark.parametrize(("system", "machine", "jaeger", "otelcol"), [
    ("Linux", "x86_64", "jaeger-{v}-linux-amd64.tar.gz", "otelcol-contrib_{o}_linux_amd64.tar.gz"),
    ("Linux", "aarch64", "jaeger-{v}-linux-arm64.tar.gz", "otelcol-contrib_{o}_linux_arm64.tar.gz"),
    ("Darwin", "x86_64", "jaeger-{v}-darwin-amd64.tar.gz",
     "otelcol-contrib_{o}_darwin_amd64.tar.gz"),
    ("Darwin", "arm64", "jaeger-{v}-darwin-arm64.tar.gz",
     "otelcol-contrib_{o}_darwin_arm64.tar.gz"),
])
def test_each_platform_gets_its_release(monkeypatch: pytest.MonkeyPatch, system: str,
                                        machine: str, jaeger: str, otelcol: str) -> None:
    """The asset names both projects publish (Jaeger: scripts/build/package-deploy.sh;
    the collector: its goreleaser names), written out here, not derived from the code."""
    monkeypatch.setattr("platform.system", lambda: system)
    monkeypatch.setattr("platform.machine", lambda: machine)
    os_name, arch = tools.os_arch()
    v, o = ENV["JAEGER_VERSION"], ENV["OTELCOL_VERSION"]
    j = tools.jaeger_release(ENV, os_name, arch)
    c = tools.otelcol_release(ENV, os_name, arch)
    assert j.tarball == jaeger.format(v=v)
    assert j.member == f"{jaeger.format(v=v).removesuffix('.tar.gz')}/jaeger"
    assert j.url == (f"https://github.com/jaegertracing/jaeger/releases/download/"
                     f"{ENV['JAEGER_GO_MODULE_VERSION']}")
    assert j.checksums == f"jaeger-{v}.sha256sum.txt"
    assert c.tarball == otelcol.format(o=o)
    assert c.url == (f"https://github.com/open-telemetry/opentelemetry-collector-releases/"
                     f"releases/download/v{o}")
    assert c.checksums == "opentelemetry-collector-releases_otelcol-contrib_checksums.txt"


def test_an_unknown_platform_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.system", lambda: "Windows")
    monkeypatch.setattr("platform.machine", lambda: "AMD64")
    with pytest.raises(tools.Unreachable, match="no release build for windows/amd64"):
        tools.os_arch()


@pytest.mark.parametrize(("system", "machine", "platform_name"), [
    ("Linux", "x86_64", "linux-amd64"), ("Linux", "aarch64", "linux-arm64"),
    ("Darwin", "x86_64", "darwin-amd64"), ("Darwin", "arm64", "darwin-arm64"),
])
def test_victorialogs_release_names(monkeypatch: pytest.MonkeyPatch, system: str,
                                    machine: str, platform_name: str) -> None:
    """VictoriaLogs' asset names, from its Makefile (release-victoria-logs-goos-goarch:
    `victoria-logs-$(GOOS)-$(GOARCH)-$(PKG_TAG).tar.gz` holding `victoria-logs-prod`, and
    `..._checksums.txt` beside it), written out here, not derived from the code."""
    monkeypatch.setattr("platform.system", lambda: system)
    monkeypatch.setattr("platform.machine", lambda: machine)
    v = ENV["VICTORIALOGS_VERSION"]
    release = tools.victorialogs_release(ENV, *tools.os_arch())
    assert release.url == f"https://github.com/VictoriaMetrics/VictoriaLogs/releases/download/v{v}"
    assert release.tarball == f"victoria-logs-{platform_name}-v{v}.tar.gz"
    assert release.checksums == f"victoria-logs-{platform_name}-v{v}_checksums.txt"
    assert release.member == "victoria-logs-prod"
