"""The one line under a training's progress bar (the Train page streams it with the chart)."""

from __future__ import annotations

from cnn_core.training.job import Snapshot


def progress_text(snap: Snapshot) -> str:
    if snap.state == "queued":
        return (f"Waiting for a free training slot: you are number {snap.queue_position or '…'} "
                "in the queue")
    eta = f" · ETA {snap.eta_s:.0f} s" if snap.eta_s is not None else ""
    if snap.notice and snap.active:  # e.g. the epochs will not fit the time limit
        eta += f" · {snap.notice}"
    step_in_epoch = snap.step - min(snap.epoch, snap.epochs - 1) * snap.steps_per_epoch
    epoch = min(snap.epoch + 1, snap.epochs) if snap.active else snap.epoch
    return (f"{snap.state.capitalize()} on {snap.device} · epoch {epoch}/{snap.epochs} · step "
            f"{max(0, min(step_in_epoch, snap.steps_per_epoch))}/{snap.steps_per_epoch} · "
            f"{snap.images_per_second:,.0f} images/s · {snap.elapsed_s:.0f} s{eta}")
