"""Write a plan file all at once, so a crash or a full card never leaves half a file."""

from __future__ import annotations

import os
from pathlib import Path

from uav.errors import PlanFileError


def write_file_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a ``.part`` file renamed into place.

    Parameters
    ----------
    path : Path
        The file to write; missing parent folders are created.
    data : bytes
        The whole content.

    Raises
    ------
    PlanFileError
        When the folder or file cannot be written (permissions, full disk...).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise PlanFileError(f"cannot write {path}: {exc.strerror or exc}") from None
