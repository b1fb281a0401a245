"""What a mosaic run stopped outright (a power cut, a laptop's battery, SIGKILL) left beside
its file: the canvas's tiles on disk (:mod:`.tiles`) and the half-written COG
(:func:`uav.files.write_atomic`), gigabytes on a park-wide mosaic, hidden, on the field
laptop's only disk.  Each mosaic written removes those of ended processes in its folder before
it starts; what a running one is writing is left alone (:func:`uav.files.owner_gone`)."""

from __future__ import annotations

import os

from uav.files import remove_dead_writes

from .tiles import remove_dead_tiles

__all__ = ["clear_leftovers"]


def clear_leftovers(out_path, notes: list[str]) -> int:
    """Remove what killed runs left beside ``out_path``; say so in ``notes``; return bytes freed."""
    out_path = os.path.abspath(out_path)
    freed = remove_dead_writes(out_path) + remove_dead_tiles(os.path.dirname(out_path))
    if freed:
        notes.append(f"removed {_size(freed)} of temporary files that a mosaic run stopped outright "
                     f"(power cut, killed) left in {os.path.dirname(out_path)}")
    return freed


def _size(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} bytes"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            break
    return f"{n:.1f} {unit}"
