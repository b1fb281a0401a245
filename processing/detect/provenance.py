"""What a detector is, for the record of what a frame was searched for: its name, the model file
it runs (name and the start of the file's SHA-256, so a retrained model reads as another) and its
sensitivity (score threshold)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .base import Detector

__all__ = ["model_id", "search_identity"]

_IDS: dict = {}


def model_id(path: str | os.PathLike) -> str:
    """``NAME SHA256[:12]`` of a model file (cached by path, size and modification time)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return p.name
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _IDS:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _IDS[key] = f"{p.name} {h.hexdigest()[:12]}"
    return _IDS[key]


def search_identity(det: Detector) -> tuple[str | None, float | None]:
    """(model, threshold) of a detector; a rule-based one names its class and version."""
    model = getattr(det, "model", None)
    path = getattr(model, "path", None)
    if path is not None:
        ident = model_id(path)
    else:
        ident = getattr(det, "version", None) or f"{type(det).__module__}.{type(det).__name__}"
    thr = getattr(det, "threshold", None)
    try:
        thr = None if thr is None else round(float(thr), 4)
    except (TypeError, ValueError):
        thr = None
    return ident, thr
