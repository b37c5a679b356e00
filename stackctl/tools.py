"""The programs local mode runs, installed once into .tools/ (gitignored):

    python -m stackctl.tools install [jaeger] [otelcol] [victorialogs] [helm]  (`make tools`)
    python -m stackctl.tools path otelcol                                      (where it lives)

Jaeger, the OpenTelemetry Collector and VictoriaLogs come from the first of:
  1. their **release tarballs** (online; no Go needed): the Jaeger release for this OS and
     architecture (its web UI embedded), `otelcol-contrib`, the binary the compose
     image runs, and VictoriaLogs' `victoria-logs-prod` (its web UI embedded). Each
     tarball is checked against the checksum file published with the release before
     anything is unpacked; a mismatch or a missing entry is refused.
  2. a **build from Go modules** (infra/builds/build.sh; needs Go): when the release
     server cannot be reached, or with TOOLS=build. A Jaeger built this way has no UI of
     its own, so infra/builds/jaeger-ui.sh puts the matching jaeger-ui release beside it.
TOOLS=release refuses to fall back. Helm (only `make deploy-check` needs it) is built.
TOOLS_RELEASES_URL (.env) is where releases are downloaded from: https://github.com, or a
mirror laid out the same way (the tests serve one from a local HTTP server).

Every version is in .env. One code path for Linux and macOS on amd64 and arm64.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from stackctl.settings import ROOT, settings

TOOLS_DIR = ROOT / ".tools"
# Seconds: to connect and between two reads of a download (not the whole download).
NETWORK_TIMEOUT_S = 20


class Refused(Exception):
    """A download that must not be installed (checksum mismatch, no checksum entry)."""


class Unreachable(Exception):
    """The release server did not answer or has no such file: building is the fallback."""


QUIET = False  # --quiet: nothing printed for a program already in place


def say(message: str) -> None:
    print(f"[tools] {message}", flush=True)


def os_arch() -> tuple[str, str]:
    """('linux' | 'darwin', 'amd64' | 'arm64'): the names both projects' releases use."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if system not in ("linux", "darwin") or arch is None:
        raise Unreachable(f"no release build for {system}/{machine}")
    return system, arch


@dataclass(frozen=True)
class Release:
    """One program's release download: a tarball, the checksum file published beside it,
    and the member of the tarball that is the program."""

    tool: str
    version: str
    url: str  # the release's download folder
    tarball: str
    checksums: str
    member: str

    def __str__(self) -> str:
        return f"{self.tool} {self.version}"


def jaeger_release(env: dict[str, str], system: str, arch: str) -> Release:
    # Jaeger publishes v2 binaries in the release of its v1 tag (module version).
    version = env["JAEGER_VERSION"]
    name = f"jaeger-{version}-{system}-{arch}"
    return Release(
        tool="jaeger", version=version,
        url=f"{env['TOOLS_RELEASES_URL']}/jaegertracing/jaeger/releases/download/"
            f"{env['JAEGER_GO_MODULE_VERSION']}",
        tarball=f"{name}.tar.gz", checksums=f"jaeger-{version}.sha256sum.txt",
        member=f"{name}/jaeger")


def otelcol_release(env: dict[str, str], system: str, arch: str) -> Release:
    version = env["OTELCOL_VERSION"]
    return Release(
        tool="otelcol", version=version,
        url=f"{env['TOOLS_RELEASES_URL']}/open-telemetry/opentelemetry-collector-releases/"
            f"releases/download/v{version}",
        tarball=f"otelcol-contrib_{version}_{system}_{arch}.tar.gz",
        checksums="opentelemetry-collector-releases_otelcol-contrib_checksums.txt",
        member="otelcol-contrib")


def victorialogs_release(env: dict[str, str], system: str, arch: str) -> Release:
    # Names from its Makefile (release-victoria-logs-goos-goarch): one tarball and one
    # checksum file per platform; tar's --transform drops the platform from the member.
    version = env["VICTORIALOGS_VERSION"]
    name = f"victoria-logs-{system}-{arch}-v{version}"
    return Release(
        tool="victorialogs", version=version,
        url=f"{env['TOOLS_RELEASES_URL']}/VictoriaMetrics/VictoriaLogs/releases/download/"
            f"v{version}",
        tarball=f"{name}.tar.gz", checksums=f"{name}_checksums.txt",
        member="victoria-logs-prod")


RELEASES = {"jaeger": jaeger_release, "otelcol": otelcol_release,
            "victorialogs": victorialogs_release}
# What `make tools` installs when no program is named: the ones local mode runs.
LOCAL_PROGRAMS = ["jaeger", "otelcol", "victorialogs"]


def binary(tool: str, env: dict[str, str] | None = None) -> Path:
    """Where each program is installed, whichever way it came: the one place every mode,
    test and script takes the path from."""
    env = env or settings()
    version = {"jaeger": "JAEGER_VERSION", "otelcol": "OTELCOL_VERSION",
               "helm": "HELM_VERSION", "actionlint": "ACTIONLINT_VERSION",
               "victorialogs": "VICTORIALOGS_VERSION"}[tool]
    return TOOLS_DIR / f"{tool}-{env[version]}" / tool


def origin_file(tool: str, env: dict[str, str] | None = None) -> Path:
    """A one-line note beside each binary: `release <url>` or `build`."""
    return binary(tool, env).with_name("ORIGIN")


def is_release_binary(program: Path) -> bool:
    """Installed from a release tarball (a Jaeger release serves its own UI), not built."""
    origin = program.with_name("ORIGIN")
    return origin.exists() and origin.read_text().startswith("release")


# --- the release path -------------------------------------------------------------------

def fetch(url: str, dest: Path) -> None:
    """Download url to dest, printing the size; Unreachable on any network or HTTP error."""
    request = urllib.request.Request(url, headers={"User-Agent": "haptitalk-tools"})
    try:
        with urllib.request.urlopen(request, timeout=NETWORK_TIMEOUT_S) as response, \
                dest.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise Unreachable(f"{url}: {reason}") from exc


def expected_sha256(checksums: Path, tarball: str) -> str:
    """The tarball's entry in a `sha256sum`/`shasum -b` file (`<hex> [ *]<name>`)."""
    for line in checksums.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == tarball:
            return parts[0].lower()
    raise Refused(f"refused {tarball}: {checksums.name} has no entry for it")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_release(release: Release, dest: Path) -> None:
    """Download, verify against the release's checksum file, unpack the one member, and
    put it in place in a single rename: nothing is installed unless all of it passed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{release.tool}-", dir=TOOLS_DIR) as tmp:
        work = Path(tmp)
        start = time.monotonic()
        say(f"{release}: downloading {release.url}/{release.tarball}")
        fetch(f"{release.url}/{release.checksums}", work / release.checksums)
        want = expected_sha256(work / release.checksums, release.tarball)
        fetch(f"{release.url}/{release.tarball}", work / release.tarball)
        got = sha256(work / release.tarball)
        if got != want:
            raise Refused(f"refused {release.tarball}: sha256 differs from {release.checksums}")
        with tarfile.open(work / release.tarball) as archive:
            try:
                member = archive.getmember(release.member)
            except KeyError:
                raise Refused(f"refused {release.tarball}: no {release.member} in it") from None
            source = archive.extractfile(member)
            if source is None:
                raise Refused(f"refused {release.tarball}: {release.member} is not a file")
            staged = work / release.tool
            with staged.open("wb") as out:
                shutil.copyfileobj(source, out)
        staged.chmod(0o755)
        size_mb = (work / release.tarball).stat().st_size / 1e6
        os.replace(staged, dest)
        dest.with_name("ORIGIN").write_text(f"release {release.url}/{release.tarball}\n")
        say(f"{release}: verified ({release.checksums}) and installed: "
            f"{dest.relative_to(ROOT)} ({size_mb:.0f} MB in {time.monotonic() - start:.0f} s)")


# --- the build path ---------------------------------------------------------------------

@dataclass
class Job:
    """A build running in the background, its output in a log file under .tools/."""

    name: str
    command: list[str]
    log: Path
    fatal: bool = True
    process: subprocess.Popen | None = None
    started: float = 0.0

    def start(self, env: dict[str, str]) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("w") as out:
            self.process = subprocess.Popen(self.command, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, cwd=ROOT)
        self.started = time.monotonic()


def build_jobs(tools: list[str], env: dict[str, str]) -> list[Job]:
    """infra/builds/build.sh for each tool, and for a built Jaeger the UI beside it
    (infra/builds/jaeger-ui.sh; not fatal: without it Jaeger serves a placeholder page,
    and the script says how to get the UI)."""
    jobs = [Job(tool, [str(ROOT / "infra/builds/build.sh"), tool],
                binary(tool, env).parent.with_name(f"{binary(tool, env).parent.name}.build.log"))
            for tool in tools]
    if "jaeger" in tools and not ui_installed(env):
        jobs.append(Job("jaeger-ui", [str(ROOT / "infra/builds/jaeger-ui.sh")],
                        TOOLS_DIR / f"jaeger-ui-{env['JAEGER_UI_VERSION']}.build.log",
                        fatal=False))
    return jobs


def run_builds(jobs: list[Job], env: dict[str, str], heartbeat_s: float = 30) -> int:
    """All at once (the Go builds and the UI's npm ci leave cores idle one by one), with
    a line every heartbeat_s saying what is still running; each failure's log tail."""
    if not jobs:
        return 0
    say(f"building {', '.join(j.name for j in jobs)} side by side "
        f"(logs: .tools/*.build.log)")
    for job in jobs:
        job.start(env)
    status, running, last_beat = 0, list(jobs), time.monotonic()
    while running:
        time.sleep(0.5)
        for job in [j for j in running if j.process and j.process.poll() is not None]:
            running.remove(job)
            took = time.monotonic() - job.started
            code = job.process.returncode if job.process else 1
            if code == 0:
                say(f"{job.name}: done in {took:.0f} s")
                if job.name in ("jaeger", "otelcol", "helm", "victorialogs"):
                    origin_file(job.name, env).write_text("build\n")
                continue
            tail = job.log.read_text(errors="replace").splitlines()[-15:]
            for line in tail:
                print(f"  {job.name}| {line}"[:160], flush=True)
            if job.fatal:
                say(f"ERROR: {job.name}: build failed after {took:.0f} s (log: "
                    f"{job.log.relative_to(ROOT)})")
                status = 1
            else:
                say(f"{job.name}: not installed (lines above); the rest goes on")
        if running and time.monotonic() - last_beat >= heartbeat_s:
            last_beat = time.monotonic()
            # All started together: one elapsed time, so the line fits 80 columns.
            say(f"{time.monotonic() - jobs[0].started:.0f} s, still building: "
                + ", ".join(j.name for j in running))
    return status


def ui_installed(env: dict[str, str]) -> bool:
    return (TOOLS_DIR / f"jaeger-ui-{env['JAEGER_UI_VERSION']}" / "index.html").exists()


def plan(tool: str, env: dict[str, str]) -> str | int:
    """What to do for one program: 'build', or an exit status when it is settled (0:
    installed, already or from its release just now)."""
    dest = binary(tool, env)
    how = env.get("TOOLS", "") or "auto"
    if how not in ("auto", "release", "build"):
        say(f"TOOLS={how}: use release, build, or leave it empty (release, else build)")
        return 2
    if dest.exists():
        if tool == "otelcol" and not is_release_binary(dest) and not built_from_manifest(dest):
            return "build"  # its component list changed
        if not QUIET:
            say(f"{tool}: {dest.relative_to(ROOT)} is installed ({origin(tool, env)})")
        if tool == "jaeger" and not is_release_binary(dest) and not ui_installed(env):
            subprocess.run([str(ROOT / "infra/builds/jaeger-ui.sh")], env=env)
        return 0
    if tool in RELEASES and how != "build":
        try:
            install_release(RELEASES[tool](env, *os_arch()), dest)
            return 0
        except Refused as exc:  # one line, naming the file; nothing was installed
            say(str(exc))
            return 1
        except Unreachable as exc:
            if how == "release":
                say(f"ERROR: {tool}: no release download ({exc}) and TOOLS=release")
                return 1
            say(f"{tool}: no release download ({exc});")
            say(f"{tool}: building it from Go modules instead (TOOLS=build skips the download)")
    return "build"


def built_from_manifest(dest: Path) -> bool:
    stamp = dest.with_name(dest.name + ".manifest-sha256")
    manifest = ROOT / "infra/builds/otelcol/manifest.yaml"
    return stamp.exists() and stamp.read_text().strip() == sha256(manifest)


def origin(tool: str, env: dict[str, str]) -> str:
    path = origin_file(tool, env)
    return path.read_text().strip() if path.exists() else "build"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackctl.tools", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install", help="install the programs (default: "
                                          f"{' '.join(LOCAL_PROGRAMS)})")
    inst.add_argument("--quiet", action="store_true",
                      help="print nothing for a program already in place")
    inst.add_argument("tools", nargs="*", choices=[*LOCAL_PROGRAMS, "helm"],
                      default=LOCAL_PROGRAMS)
    where = sub.add_parser("path", help="print where a program is installed")
    where.add_argument("tool", choices=[*LOCAL_PROGRAMS, "helm"])
    args = parser.parse_args(argv)
    env = {**os.environ, **settings()}
    if args.command == "path":
        print(binary(args.tool, env).relative_to(ROOT))
        return 0
    global QUIET
    QUIET = args.quiet
    TOOLS_DIR.mkdir(exist_ok=True)
    to_build = []
    for tool in args.tools:
        decided = plan(tool, env)
        if decided == "build":
            to_build.append(tool)
        elif decided:
            return int(decided)
    return run_builds(build_jobs(to_build, env), env)


if __name__ == "__main__":
    sys.exit(main())
