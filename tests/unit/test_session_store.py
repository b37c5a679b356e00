"""Which store the session service runs on (SESSION_DB), and what it says when
PostgreSQL is not there. The store itself runs against a real PostgreSQL in
`make test-postgres` (tests/e2e with SESSION_DB=postgres)."""

from __future__ import annotations

import asyncio

import pytest

from services.session.api import make_store
from services.session.postgres import DatabaseUnavailable, PostgresSessionStore
from services.session.store import SessionStore


def test_sqlite_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SESSION_DB", raising=False)
    assert isinstance(make_store(), SessionStore)


def test_postgres_reads_its_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_DB", "postgres")
    monkeypatch.setenv("SESSION_DATABASE_URL", "postgresql://u@db.example:5433/haptitalk")
    store = make_store()
    assert isinstance(store, PostgresSessionStore)
    assert store.conninfo == "postgresql://u@db.example:5433/haptitalk"


def test_an_unknown_store_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_DB", "mongodb")
    with pytest.raises(SystemExit, match="SESSION_DB='mongodb': use sqlite or postgres"):
        make_store()


def test_a_database_that_is_not_there_is_named_not_waited_on_forever() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    store = PostgresSessionStore("postgresql://haptitalk:secret@127.0.0.1:1/haptitalk",
                                 connect_timeout_s=1)
    with pytest.raises(DatabaseUnavailable) as error:
        asyncio.run(store.init())
    message = str(error.value)
    assert "within 1 s" in message and "127.0.0.1" in message and "port=1" in message
    assert "secret" not in message, "the password never lands in an error"
