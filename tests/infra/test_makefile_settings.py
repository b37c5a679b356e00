"""The Makefile reads .env, and a variable set in the environment wins over it, as the
README's `SESSION_DB=postgres make up` needs (compose and stackctl read them the same way).
A plain `include .env` made .env win: that command started session on SQLite."""

from __future__ import annotations

import os
import subprocess

import pytest

from stackctl.settings import ROOT, dotenv

PRINT = 'print-%:\n\t@echo "$($*)|$$$*"\n'  # make's value | what a recipe's process sees


def seen(tmp_path, name: str, env: dict[str, str], *args: str) -> tuple[str, str]:
    extra = tmp_path / "print.mk"
    extra.write_text(PRINT)
    result = subprocess.run(["make", "--no-print-directory", "-f", "Makefile", "-f",
                             str(extra), f"print-{name}", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=60,
                            env={**{k: v for k, v in os.environ.items() if k != name}, **env})
    assert result.returncode == 0, result.stderr
    make_value, process_value = result.stdout.strip().split("|")
    return make_value, process_value


def test_dotenv_gives_the_defaults(tmp_path) -> None:
    assert seen(tmp_path, "SESSION_DB", {}) == (dotenv()["SESSION_DB"],) * 2


@pytest.mark.parametrize("where", ["environment", "command line"])
def test_the_environment_and_the_command_line_win_over_dotenv(tmp_path, where: str) -> None:
    assert dotenv()["SESSION_DB"] != "postgres"
    env, args = ({"SESSION_DB": "postgres"}, ()) if where == "environment" \
        else ({}, ("SESSION_DB=postgres",))
    assert seen(tmp_path, "SESSION_DB", env, *args) == ("postgres", "postgres")
    # ... and what follows from it: PostgreSQL joins compose's services.
    assert seen(tmp_path, "COMPOSE_PROFILES", env, *args) == ("postgres", "postgres")


def test_a_value_built_from_another_follows_it(tmp_path) -> None:
    image, _ = seen(tmp_path, "JAEGER_IMAGE", {"JAEGER_VERSION": "9.9.9"})
    assert image.endswith(":9.9.9"), image
