"""Identical trainings run once, in the run store: a run's share key, and who asked for it again.

A run that trained to its last epoch without being steered keeps the key of its conditions
(``cnn_core.training.sharing``); a later request with the same key is given that run instead
of a new training, and each such request is kept in ``run_shares`` (the requester's owner
hash, never the secret). The store's ownership rules stay as they are: the session that
started a run alone may pin or delete it; a requester finds it under "Mine" on the Runs page
and uses it as its own (train again, downloads, the Draw page), which anyone may.
"""

from __future__ import annotations

import time

from cnn_core.runs.store import RunStore
from cnn_core.storage.owners import owner_hash


def keep_key(store: RunStore, run_id: int, key: str) -> None:
    """Mark ``run_id`` as the run that trained the conditions ``key`` names."""
    with store._write() as conn:  # the store's own transaction: one writer at a time
        conn.execute("UPDATE runs SET share_key = ? WHERE id = ?", (key, int(run_id)))


def find_run(store: RunStore, key: str) -> int | None:
    """The newest finished run with ``key`` whose weights are still kept, or None."""
    rows = store._read("SELECT id FROM runs WHERE share_key = ? AND status = 'finished' AND "
                       "weights_bytes IS NOT NULL ORDER BY id DESC LIMIT 1", (key,))
    return int(rows[0][0]) if rows else None


def add_requester(store: RunStore, run_id: int, owner_token: str | None) -> None:
    """Count one more request answered with ``run_id`` (a session asking twice counts once)."""
    owner = owner_hash(owner_token) if owner_token else None
    with store._write() as conn:
        conn.execute("INSERT OR IGNORE INTO run_shares (run_id, owner_hash, at) "
                     "VALUES (?, ?, ?)", (int(run_id), owner, time.time()))


def requested_by(store: RunStore, owner_token: str | None) -> set[int]:
    """The runs this session was given instead of training them itself."""
    if owner_token is None:
        return set()
    return {int(row[0]) for row in store._read(
        "SELECT run_id FROM run_shares WHERE owner_hash = ?", (owner_hash(owner_token),))}
