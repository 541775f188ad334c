"""GPUs: which the machine has, what each section asks for, and who holds which.

A section states its need in its front matter (``gpus: 2``); nothing is guessed from the
code. Sections that state nothing, or ``gpus: 0``, run with ``CUDA_VISIBLE_DEVICES=""``.
The devices come from ``nvidia-smi``, or from ``D2L_GPUS`` (``0,1``; empty for none) when
set, which is how tests simulate a machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess

GPUS_ENV = "D2L_GPUS"


def detect_gpus(environ=None) -> list[str]:
    """The device ids of this machine, as CUDA_VISIBLE_DEVICES takes them."""
    environ = os.environ if environ is None else environ
    if GPUS_ENV in environ:
        return [d.strip() for d in environ[GPUS_ENV].split(",") if d.strip()]
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()]


def requested_gpus(front_matter: dict) -> int:
    """The number of GPUs a section declares; raises ValueError on a bad value."""
    value = front_matter.get("gpus", 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"'gpus' must be a whole number of GPUs (0 or more), got {value!r}")
    return value


def clamp(requested: int, available: int) -> tuple[int, str | None]:
    """What a section gets on this machine, and a warning when that is less than it asked."""
    if requested <= available:
        return requested, None
    have = f"{available} GPU{'s' if available != 1 else ''}" if available else "no GPU"
    return available, f"asks for {requested} GPUs but this machine has {have}; running with {available}"


class DevicePool:
    """The free devices. Not thread-safe: the scheduler calls it from its one event loop."""

    def __init__(self, devices: list[str]):
        self.devices = list(devices)
        self.free = list(devices)

    def take(self, count: int) -> list[str] | None:
        """``count`` free devices (the lowest ids first), or None if not enough are free."""
        if count > len(self.free):
            return None
        taken, self.free = self.free[:count], self.free[count:]
        return taken

    def give_back(self, devices: list[str]) -> None:
        self.free = [d for d in self.devices if d in set(self.free) | set(devices)]
