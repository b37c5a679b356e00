"""Which store the session service runs on (SESSION_DB), and what it says when
PostgreSQL is not there. The store itself runs against a real PostgreSQL in
`make test-postgres` (tests/e2e with SESSION_DB=postgres)."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import threading
from pathlib import Path

import pytest

from services.session import sqlite as sqlite_store
from services.session.api import make_store
from services.session.models import HapticCue, Mode, NewSegment
from services.session.postgres import DatabaseUnavailable, PostgresSessionStore
from services.session.sqlite import SqliteSessionStore
from services.session.store import SessionStore
from stackctl.sample import SEGMENT


def test_sqlite_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SESSION_DB", raising=False)
    assert isinstance(make_store(), SqliteSessionStore)


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


def test_sqlite_connects_once_per_worker_thread_not_per_operation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `sqlite3.connect` builds the instrumentation's integration anew (a tracer, and
    with the old conventions a meter): the store keeps one connection per worker thread."""
    connects: list[str] = []
    real_connect = sqlite3.connect

    def counting_connect(*args, **kwargs):
        connects.append(threading.current_thread().name)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite_store.sqlite3, "connect", counting_connect)
    store = SqliteSessionStore(tmp_path / "session.db")

    async def operations() -> int:
        await store.init()
        session = await store.create_session("u-1", Mode.presentation)
        done = 2
        for _ in range(20):
            segment = await store.add_segment(session.session_id, NewSegment(**SEGMENT))
            await store.set_feedback(session.session_id, segment.segment_id,
                                     HapticCue(pattern="slow_down", intensity=2, reason="r"))
            await store.get_session(session.session_id)
            done += 3
        transcript = await store.end(session.session_id)
        assert [s.seq for s in transcript.segments] == list(range(1, 21))
        await store.close()
        return done + 1

    done = asyncio.run(operations())
    assert len(connects) == len(set(connects)), f"a thread connected twice: {connects}"
    assert len(connects) < done / 10, f"{len(connects)} connects for {done} operations"


def interface(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member, eval_str=True) for name, member in vars(cls).items()
            if not name.startswith("_") and inspect.iscoroutinefunction(member)}


@pytest.mark.parametrize("store", [SqliteSessionStore, PostgresSessionStore])
def test_each_store_implements_the_session_store_protocol(store: type) -> None:
    """store.py's Protocol is the whole contract api.py relies on: each store has every
    method with the same parameters, and no public coroutine the Protocol does not name
    (it would be one api.py cannot call through the Protocol)."""
    assert interface(SessionStore), "the Protocol declares the store's methods"
    assert interface(store) == interface(SessionStore)
