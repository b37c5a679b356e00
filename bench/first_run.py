"""How long a newcomer waits for the first `make up` (docs/benchmarks.md, "First run"):

    python -m bench.first_run build [--ui-src TARBALL]   # offline: everything built here
    python -m bench.first_run release                    # release binaries, served locally

Each clones this repository's HEAD into a temporary folder (nothing installed there:
no .venv, no .tools), runs `make up STACK=local` in it, then `make down` and a second,
warm `make up`, and prints the times. Go's build cache is a new, empty folder, so every
Go package is compiled; the Go module cache, pip's and npm's download caches are this
machine's (downloads excluded: the figure is the machine's work, not the network's).

`release` serves a fake GitHub from a local HTTP server (the layout stackctl/tools.py
downloads from), made of this checkout's own .tools binaries (`make tools` first), and
points the clone at it with TOOLS_RELEASES_URL: the download is a loopback copy.

The clone's stack uses the ports in .env: stop any other stack first (`make down`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stackctl.release_mirror import fake_github, serve
from stackctl.settings import ROOT
from stackctl.tools import binary

TIMEOUT_S = 1800  # one `make up`, at most


def run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    """Seconds it took; the output goes to log, and its [tools] lines to the terminal."""
    start = time.monotonic()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if re.match(r"\[(tools|jaeger-ui)\]|  \w+ +(healthy|RUNNING)", line):
                print(f"    {line.rstrip()}"[:80], flush=True)
        status = proc.wait(timeout=TIMEOUT_S)
    took = time.monotonic() - start
    if status:
        raise SystemExit(f"`{' '.join(cmd)}` failed ({status}) after {took:.0f} s; see {log}")
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first_run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", choices=["build", "release"])
    parser.add_argument("--ui-src", help="jaeger-ui source tarball (build path, offline)")
    parser.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="haptitalk-first-run-"))
    clone, log = work / "clone", work / "first-run.log"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, check=True,
                            capture_output=True, text=True, timeout=30).stdout.strip()
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "VIRTUAL_ENV")}
    env.update(STACK="local", GOCACHE=str(work / "gocache"))
    server = None
    if args.path == "build":
        env["TOOLS"] = "build"
        if args.ui_src:
            env["JAEGER_UI_SRC"] = str(Path(args.ui_src).resolve())
    else:
        missing = [str(binary(t)) for t in ("jaeger", "otelcol") if not binary(t).exists()]
        if missing:
            raise SystemExit(f"missing {', '.join(missing)}: run `make tools` first")
        server = serve(fake_github(work / "github"))
        env.update(TOOLS="release", TOOLS_RELEASES_URL=server.url)
    print(f"first run of {commit} ({args.path} path) in {clone}; log: {log}")
    try:
        first = run(["make", "--no-print-directory", "up"], clone, env, log)
        run(["make", "--no-print-directory", "down"], clone, env, log)
        warm = run(["make", "--no-print-directory", "up"], clone, env, log)
        run(["make", "--no-print-directory", "down"], clone, env, log)
    finally:
        if server:
            server.stop()
    print(f"\n{args.path} path, commit {commit}, {os.cpu_count()} cores:")
    print(f"  first make up (fresh clone, empty Go build cache): {first:6.0f} s")
    print(f"  warm make up (after make down):                    {warm:6.0f} s")
    if not args.keep:
        subprocess.run(["make", "--no-print-directory", "clean"], cwd=clone, env=env,
                       capture_output=True, timeout=120)
        shutil.rmtree(work / "gocache", ignore_errors=True)
        shutil.rmtree(clone, ignore_errors=True)
        print(f"  (clone removed; log kept: {log})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
