"""Which device trains: CUDA, then Apple MPS, then CPU (the pytorch/examples idiom).

torch is imported inside the functions: the CLI's ``summary`` reads ``DEVICE_CHOICES`` and
must answer without loading it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """Device kinds usable on this machine, best first; "cpu" is always there."""
    import torch

    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def resolve_device(choice: str = "auto") -> torch.device:
    """``auto`` picks the best available; an unavailable choice raises ``ValueError``."""
    import torch

    if choice not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {choice!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    devices = available_devices()
    if choice == "auto":
        return torch.device(devices[0])
    if choice not in devices:
        raise ValueError(f"{choice} is not available on this computer "
                         f"(available: {', '.join(devices)})")
    return torch.device(choice)


def device_name(device: torch.device) -> str:
    """A human name for the page, e.g. ``CUDA: NVIDIA H100`` or ``CPU (2 threads)``."""
    import torch

    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"
