"""The values in .env (versions and ports), for the Python tools: the same file compose and
the Makefile read. A variable set in the environment wins, as it does for compose."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dotenv() -> dict[str, str]:
    """The file's values alone (no environment overrides)."""
    values = {}
    for line in (ROOT / ".env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def settings() -> dict[str, str]:
    """The file's values, each overridden by the environment variable of the same name."""
    return {key: os.environ.get(key) or value for key, value in dotenv().items()}


def setting(name: str) -> str:
    return os.environ.get(name) or dotenv()[name]
