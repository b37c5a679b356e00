"""infra/builds/jaeger-ui.sh keeps what the README promises about the UI's web assets,
offline: a download whose SHA-256 differs from the pinned one is refused, a source
tarball is checked against the `.sha256` beside it, and with no source at all it says
that Jaeger serves its placeholder page and how to get the UI.

Each test runs the real script in a copy of the repository's layout (the script and
.env) under a temporary folder, so it writes to that copy's .tools/, never the real one.
`curl` is replaced on PATH by a stand-in that either fails as offline curl does or
"downloads" a tarball the test made: GitHub is not reachable here.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

from tests.support.stack import ROOT, dotenv

SCRIPT = "infra/builds/jaeger-ui.sh"
VERSION = dotenv()["JAEGER_UI_VERSION"]

OFFLINE_CURL = """#!/bin/sh
echo "curl: (7) Failed to connect to github.com port 443: Connection refused" >&2
exit 7
"""
# Writes $FAKE_DOWNLOAD wherever the script asks (--output FILE).
DOWNLOADING_CURL = """#!/bin/sh
while [ $# -gt 0 ]; do
  if [ "$1" = --output ]; then out=$2; fi
  shift
done
cp "$FAKE_DOWNLOAD" "$out"
"""


def checkout(tmp: Path, curl: str, env_extra: str = "") -> Path:
    """The script and .env in a fresh folder tree, and a stand-in curl in tmp/bin."""
    repo = tmp / "repo"
    (repo / "infra/builds").mkdir(parents=True)
    (repo / SCRIPT).write_bytes((ROOT / SCRIPT).read_bytes())
    (repo / SCRIPT).chmod(0o755)
    (repo / ".env").write_text((ROOT / ".env").read_text() + env_extra)
    (tmp / "bin").mkdir()
    (tmp / "bin/curl").write_text(curl)
    (tmp / "bin/curl").chmod(stat.S_IRWXU)
    return repo


def run(tmp: Path, repo: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("JAEGER_UI_SRC", "JAEGER_UI_ASSETS", "JAEGER_UI_ASSETS_SHA256")}
    return subprocess.run(["bash", str(repo / SCRIPT)], capture_output=True, text=True,
                          timeout=60, env={**clean, "PATH": f"{tmp / 'bin'}:{clean['PATH']}",
                                           **env})


def tarball(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def installed(repo: Path) -> bool:
    return (repo / f".tools/jaeger-ui-{VERSION}/index.html").exists()


# --- 2. the release download, checked against JAEGER_UI_ASSETS_SHA256 in .env -----------

def release_asset(tmp: Path) -> Path:
    return tarball(tmp / "assets.tar.gz",
                   {"packages/jaeger-ui/build/index.html": "<html>the UI</html>"})


def test_a_download_with_another_sha256_is_refused(tmp_path: Path) -> None:
    asset = release_asset(tmp_path)
    wrong = hashlib.sha256(b"some other file").hexdigest()
    repo = checkout(tmp_path, DOWNLOADING_CURL, f"\nJAEGER_UI_ASSETS_SHA256={wrong}\n")
    result = run(tmp_path, repo, FAKE_DOWNLOAD=str(asset))
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"assets.tar.gz sha256 is {sha256(asset)}, .env pins {wrong}: refusing it"
            in result.stderr)
    assert not installed(repo)
    assert not list((repo / ".tools").glob(".jaeger-ui-*")), "a staging folder was left"


def test_a_download_with_the_pinned_sha256_is_installed(tmp_path: Path) -> None:
    """The control for the test above: the same download, pinned right, goes in."""
    asset = release_asset(tmp_path)
    repo = checkout(tmp_path, DOWNLOADING_CURL, f"\nJAEGER_UI_ASSETS_SHA256={sha256(asset)}\n")
    result = run(tmp_path, repo, FAKE_DOWNLOAD=str(asset))
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed(repo)
    assert f"v{VERSION} in place: .tools/jaeger-ui-{VERSION}" in result.stdout


# --- 3. a source tarball, checked against the .sha256 beside it -------------------------

def source_tarball(tmp: Path) -> Path:
    # Not the real source (no package-lock.json): the checksum is checked before that.
    return tarball(tmp / f"jaeger-ui-{VERSION}-src.tar.gz",
                   {f"jaeger-ui-{VERSION}/README.md": "not the jaeger-ui source\n"})


def test_a_source_tarball_that_does_not_match_its_sha256_is_refused(tmp_path: Path) -> None:
    src = source_tarball(tmp_path)
    Path(f"{src}.sha256").write_text(f"{'0' * 64}  {src.name}\n")
    repo = checkout(tmp_path, OFFLINE_CURL)
    result = run(tmp_path, repo, JAEGER_UI_SRC=str(src))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"ERROR: {src} does not match {src}.sha256" in result.stderr
    assert not installed(repo)


def test_a_source_tarball_that_matches_its_sha256_gets_past_the_check(tmp_path: Path) -> None:
    """The control: with a right .sha256 the same tarball is unpacked, and refused only
    for what it is (no package-lock.json), not for its checksum."""
    src = source_tarball(tmp_path)
    Path(f"{src}.sha256").write_text(f"{sha256(src)}  {src.name}\n")
    repo = checkout(tmp_path, OFFLINE_CURL)
    result = run(tmp_path, repo, JAEGER_UI_SRC=str(src))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "does not match" not in result.stderr
    assert f"{src} holds no package-lock.json: not the jaeger-ui source" in result.stderr


# --- no source at all: what `make up` prints (the Makefile runs the script on the way) ---

def test_without_any_source_it_names_the_placeholder_and_the_three_ways(tmp_path: Path) -> None:
    repo = checkout(tmp_path, OFFLINE_CURL)
    result = run(tmp_path, repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no release asset (offline?)" in result.stdout
    assert "no UI assets: local Jaeger serves its placeholder page" in result.stderr
    for way in ("make tools   (the", "make tools JAEGER_UI_ASSETS=",
                f"make tools JAEGER_UI_SRC=<jaeger-ui-{VERSION}-src.tar.gz>"):
        assert way in result.stderr
    assert all(len(line) <= 80 for line in result.stderr.splitlines())
    assert not installed(repo)
