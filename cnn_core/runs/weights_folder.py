"""The run store's ``weights/`` folder: one ``ID.safetensors`` per run that kept its weights,
written under a temporary name and renamed in the transaction that records it, so a
half-written file never counts and a file whose run is gone is swept when the store opens.

The size cap is shared: no run may take more than ``1/RUN_SHARE`` of it (a larger one is kept
without weights, and says why), and past the cap a student's new weights push out that
student's own oldest unpinned ones first, then the oldest of anyone's; records always stay.
Only files of the names this folder writes are ever removed."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnn_core.runs.records import StoreError
from cnn_core.runs.schema import CAPPED, EVICT
from cnn_core.storage.sqlite_db import Database

if TYPE_CHECKING:  # torch loads only when weights are written: `runs list` stays quick
    import torch

RUN_SHARE = 4  # one run's weights may take at most a quarter of the cap
STALE_TEMPORARY_S = 600.0  # a weights file still being written after this was abandoned
ENOSPC = 28


class WeightsFolder:
    """``root/weights`` of the store whose database is ``db``, under ``max_bytes`` in all."""

    def __init__(self, root: Path, db: Database, max_bytes: int) -> None:
        self.root, self.dir, self.db, self.max_bytes = root, root / "weights", db, max_bytes

    def path(self, run_id: int) -> Path:
        return self.dir / f"{int(run_id)}.safetensors"

    def read(self, run_id: int) -> bytes | None:
        """The file's bytes, or None when it is gone."""
        try:
            return self.path(run_id).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read the weights of run {run_id}: "
                             f"{exc.strerror or exc}") from None

    def share_refusal(self, size: int) -> str | None:
        """Why weights of ``size`` bytes are not kept (over one run's share of the cap)."""
        share = self.max_bytes // RUN_SHARE
        if size <= share:
            return None
        return (f"not kept: they are {_mb(size)}, and one run may keep at most {_mb(share)} "
                f"(a quarter of the runs folder's {_mb(self.max_bytes)}, shared by the class)")

    def save(self, run_id: int, state_dict: dict[str, torch.Tensor]) -> None:
        """Keep ``run_id``'s weights (or say in its record why not), then enforce the cap."""
        from safetensors.torch import save as safetensors_save

        size = sum(t.numel() * t.element_size() for t in state_dict.values())
        data = b""
        if (refusal := self.share_refusal(size)) is None:  # checked before building the file
            tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
            data = safetensors_save(tensors, metadata={"run_id": str(run_id)})
            refusal = self.share_refusal(len(data))
        if refusal is not None:
            with self.db.transaction() as conn:
                conn.execute("UPDATE runs SET weights_note = ? WHERE id = ?", (refusal, run_id))
            return
        final = self.path(run_id)
        temporary = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
        try:
            try:
                with open(temporary, "xb") as f:  # "x": never overwrites anything
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                if exc.errno == ENOSPC:
                    raise StoreError(f"the disk holding {self.root} is full: the weights of "
                                     f"run {run_id} were not kept") from None
                raise StoreError(f"cannot write the weights of run {run_id} to "
                                 f"{self.dir}: {exc.strerror or exc}") from None
            with self.db.transaction() as conn:
                owner = conn.execute("SELECT owner_hash FROM runs WHERE id = ?",
                                     (run_id,)).fetchone()
                if owner is None:
                    return  # deleted while its weights were written: they go too (finally)
                conn.execute("UPDATE runs SET weights_bytes = ?, weights_note = '' WHERE id = ?",
                             (len(data), run_id))
                os.replace(temporary, final)  # inside: the record and the file go together
                evicted = self._evict(conn, keep=run_id, owner=owner[0])
        finally:
            temporary.unlink(missing_ok=True)  # only ever our own half-written file
        self.unlink(evicted)

    def enforce_cap(self, keep: int | None, owner: str | None) -> list[int]:
        """Past the cap, drop the weights of the oldest unpinned runs (never ``keep``'s), those
        of ``owner`` (a hash) first. Returns the runs that lost their weights."""
        with self.db.transaction() as conn:
            evicted = self._evict(conn, keep, owner)
        self.unlink(evicted)
        return evicted

    def _evict(self, conn: Any, keep: int | None, owner: str | None) -> list[int]:
        return [row[0] for row in conn.execute(EVICT, {"note": CAPPED, "owner": owner,
                                                       "keep": keep, "cap": self.max_bytes})]

    def unlink(self, run_ids: list[int]) -> None:
        for run_id in run_ids:  # after the commit: a crash in between leaves an orphan, swept
            self.path(run_id).unlink(missing_ok=True)

    def sweep(self) -> None:
        """Weights files no run owns (their run was deleted or lost them while they were being
        written, or a process died mid-write) are removed; runs whose file is gone lose the
        claim. Under the write lock, so no save is between its rename and its record."""
        with self.db.transaction() as conn:
            kept = {row[0] for row in conn.execute(
                "SELECT id FROM runs WHERE weights_bytes IS NOT NULL")}
            present = set()
            for entry in os.scandir(self.dir):
                run_id = _weights_file_id(entry.name)
                if run_id is None or not entry.is_file(follow_symlinks=False):
                    continue  # not a file this store writes: never touched
                if not entry.name.startswith("."):
                    if run_id in kept:
                        present.add(run_id)
                    else:
                        os.unlink(entry.path)
                elif (time.time() - entry.stat(follow_symlinks=False).st_mtime
                      > STALE_TEMPORARY_S or not conn.execute(
                          "SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone()):
                    os.unlink(entry.path)  # a half-written file nobody will finish
            conn.executemany("UPDATE runs SET weights_bytes = NULL, weights_note = ? "
                             "WHERE id = ?", [("the weights file was missing", run_id)
                                              for run_id in kept - present])


def _mb(size: int) -> str:
    mb = size / 1e6
    return f"{mb:,.0f} MB" if mb >= 100 else f"{mb:.3g} MB"


def _weights_file_id(name: str) -> int | None:
    """The run id in a name this store writes: ``ID.safetensors`` or ``.ID.safetensors.*.tmp``."""
    stem = name[1:].split(".", 1)[0] if name.startswith(".") and name.endswith(".tmp") \
        else name.removesuffix(".safetensors") if name.endswith(".safetensors") else ""
    return int(stem) if stem.isascii() and stem.isdigit() and len(stem) < 19 else None
