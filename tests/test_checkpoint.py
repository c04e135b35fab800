"""The write-ahead log is checkpointed by the host on a timer, off the event
loop, instead of by SQLite inside whichever commit crosses 1,000 pages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import poker
from players import hosting


def test_sqlite_never_checkpoints_inside_a_commit(tmp_path: Path) -> None:
    store = poker.Store(tmp_path / "games.db")

    pages = store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    store.close()

    assert pages == 0


def test_a_checkpoint_empties_the_log_into_the_database(tmp_path: Path) -> None:
    store = poker.Store(tmp_path / "games.db")
    game = poker.Game.new("Sprint 42")
    store.save(game)

    store.checkpoint()
    busy, logged, copied = store.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    store.close()

    assert busy == 0
    assert logged == copied  # nothing left in the log to copy


async def test_the_host_checkpoints_after_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poker, "CHECKPOINT_EVERY", 0.05)
    async with hosting(tmp_path / "games.db") as table:
        (ada,) = await table.seated("Ada")
        await ada.send(poker.Msg.SET_STORY, story="Login")
        await ada.catch_up()
        assert table.host.store.unchecked > 0

        for _ in range(100):
            if table.host.store.unchecked == 0:
                break
            await asyncio.sleep(0.02)

        assert table.host.store.unchecked == 0
