"""PostgreSQL (SESSION_DB=postgres) asks for a password in local mode and compose alike:
one generated per checkout (var/secrets/postgres-password, mode 0600) that
stackctl/compose.py hands to docker-compose.yml, which gives it to PostgreSQL and to
session (libpq's PGPASSWORD). Checked on the resolved local programs, and on a real
PostgreSQL started by infra/postgres/entrypoint.sh, the program local mode runs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackctl import compose, local
from tests.support.ports import free_port
from tests.support.stack import ROOT, dotenv

BIN = Path(f"/usr/lib/postgresql/{dotenv()['POSTGRES_VERSION']}/bin")


@pytest.fixture
def password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh checkout's: no password yet (the repository's var/ is left alone)."""
    path = tmp_path / "var" / "secrets" / "postgres-password"
    monkeypatch.setattr(compose, "POSTGRES_PASSWORD_FILE", path)
    monkeypatch.delenv("POSTGRES_PASSWORD", raising=False)
    return path


def test_local_mode_runs_postgresql_with_a_generated_password(password_file: Path) -> None:
    programs = {p.name: p for p in local.to_local(local.compose_model(
        {"COMPOSE_PROFILES": "postgres", "SESSION_DB": "postgres"}))}
    generated = password_file.read_text().strip()
    assert len(generated) >= 24
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(password_file.parent.stat().st_mode) == 0o700
    postgres, session = programs["postgres"].environment, programs["session"].environment
    assert postgres.get("POSTGRES_HOST_AUTH_METHOD", "scram-sha-256") != "trust"
    assert postgres["POSTGRES_PASSWORD"] == generated
    assert session["PGPASSWORD"] == generated
    assert generated not in session["SESSION_DATABASE_URL"]
    # Kept: the next start uses the same one (the data was initialised with it).
    local.compose_model({"COMPOSE_PROFILES": "postgres"})
    assert password_file.read_text().strip() == generated


def test_supervisords_configuration_is_readable_by_its_owner_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It holds every program's environment, the password among them."""
    monkeypatch.setattr(local, "RUN", tmp_path / "run")
    monkeypatch.setattr(local, "CONF", tmp_path / "run" / "supervisord.conf")
    local.write_conf("[program:postgres]\nenvironment=POSTGRES_PASSWORD=\"x\"\n")
    assert stat.S_IMODE(local.CONF.stat().st_mode) == 0o600


# -- a real PostgreSQL, as local mode starts it --------------------------------------------

class Server:
    """infra/postgres/entrypoint.sh on a spare port, data in a folder of its own."""

    def __init__(self, data: Path, **env: str) -> None:
        self.port = free_port()
        self.log = data.parent / "postgres.log"
        self.proc = subprocess.Popen(
            [str(ROOT / "infra/postgres/entrypoint.sh"), "postgres", "-c",
             "listen_addresses=127.0.0.1", "-p", str(self.port)],
            env={"PATH": os.environ["PATH"], "POSTGRES_VERSION": dotenv()["POSTGRES_VERSION"],
                 "POSTGRES_USER": "haptitalk", "POSTGRES_DB": "haptitalk",
                 "PGDATA": str(data), **env},
            stdout=self.log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while subprocess.run([str(BIN / "pg_isready"), "-q", "-h", "127.0.0.1",
                              "-p", str(self.port)]).returncode != 0:
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)

    def connects(self, password: str | None) -> bool:
        """Whether a client on this machine gets in over TCP with `password` (or none)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if password is not None:
            env["PGPASSWORD"] = password
        result = subprocess.run(
            [str(BIN / "psql"), "-w", "-h", "127.0.0.1", "-p", str(self.port), "-U",
             "haptitalk", "-d", "haptitalk", "-tAc", "SELECT 1"],
            env=env, capture_output=True, text=True, timeout=30)
        return result.returncode == 0 and result.stdout.strip() == "1"

    def stop(self) -> None:
        os.killpg(self.proc.pid, 15)
        self.proc.wait(timeout=30)


@pytest.fixture
def data() -> Iterator[Path]:
    if not (BIN / "postgres").exists():
        pytest.skip(f"PostgreSQL {dotenv()['POSTGRES_VERSION']} is not installed "
                    "(sudo apt-get install postgresql)")
    # Not under pytest's tmp_path: as root, the entrypoint runs PostgreSQL as the
    # postgres user, who must reach the folder.
    folder = Path(tempfile.mkdtemp(prefix="haptitalk-pg-"))
    folder.chmod(0o755)
    yield folder / "data"
    shutil.rmtree(folder, ignore_errors=True)


def test_postgresql_refuses_a_client_without_the_password(data: Path) -> None:
    server = Server(data, POSTGRES_PASSWORD="s3cret-'quoted\"")
    try:
        assert server.connects("s3cret-'quoted\""), "the control: the password gets in"
        assert not server.connects(None), "no password: refused"
        assert not server.connects("guess"), "a wrong password: refused"
    finally:
        server.stop()


def test_data_initialised_without_a_password_asks_for_one_from_then_on(data: Path) -> None:
    """A checkout whose var/ was initialised by the earlier `trust` setting."""
    server = Server(data, POSTGRES_HOST_AUTH_METHOD="trust")
    try:
        assert server.connects(None), "the control: trust lets anyone in"
    finally:
        server.stop()
    server = Server(data, POSTGRES_PASSWORD="now-a-password")
    try:
        assert server.connects("now-a-password")
        assert not server.connects(None)
    finally:
        server.stop()
