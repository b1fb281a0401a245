"""Each frame's tie features on disk, next to the flight: ``FLIGHT.gpkg.cache/ties/SHA256.npz``.

With ``--register`` the workers describe each frame for its ties while they hold it
(:class:`~processing.ties.TieFeatures` in the outcome); the parent writes them here as they
arrive, so it never holds a whole flight's features (25,000 frames x 160 kB would be 4 GB)
and registration reads them back pair by pair instead of decoding every frame again.

An entry is keyed by the file's SHA-256 and also records the file's size and modification
time when it was written: a frame whose file has changed since (another SHA-256 in the
GeoPackage, or the same name with new bytes) is never matched with stale features: the
parent decodes it again, as for files processed before this cache existed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .ties import ORB_FEATURES, TieFeatures

__all__ = ["tie_cache_dir", "save_tie_features", "load_tie_features", "pair_key", "save_pair_ties",
           "load_pair_ties"]

# bumped when frame_features changes what it computes: older entries are then ignored
VERSION = 1


def tie_cache_dir(gpkg) -> Path:
    """``FLIGHT.gpkg.cache/ties`` (the cache folder the review page's thumbnails use too)."""
    p = Path(gpkg)
    return p.with_name(p.name + ".cache") / "ties"


def _entry(folder: Path, sha256: str) -> Path:
    return folder / f"{sha256}.npz"


def save_tie_features(folder, path: str, feats: TieFeatures) -> Path | None:
    """Write one frame's features (``path``: the frame's file, whose size and time are
    recorded with them).  None when it cannot be (no hash, file gone): registration then
    decodes that frame itself."""
    if not feats.sha256:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    target = _entry(Path(folder), feats.sha256)
    desc = feats.descriptors
    # not written (a read-only folder, a full disk): registration decodes the frame instead
    return _write_npz(target, points=np.asarray(feats.points),
                      descriptors=np.zeros((0, 32), np.uint8) if desc is None else desc,
                      has_descriptors=desc is not None,
                      meta=np.array([VERSION, feats.reduce, ORB_FEATURES, st.st_size, st.st_mtime_ns], np.int64))


def _write_npz(target: Path, **arrays) -> Path | None:
    """``arrays`` written to ``target`` whole or not at all (a reader never sees half an
    entry); None when it cannot be written."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:   # np.savez on a name would add ".npz" to the temporary one
            np.savez(fh, **arrays)
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)
        return None
    return target


def load_tie_features(folder, path: str, sha256: str | None, reduce: int) -> TieFeatures | None:
    """The cached features of the frame at ``path`` with content ``sha256``, found at 1/``reduce``
    size; None when there are none or they may be stale (the file changed since, or they were
    made another way)."""
    if not sha256:
        return None
    entry = _entry(Path(folder), sha256)
    try:
        st = os.stat(path)
        with np.load(entry) as z:
            version, r, n, size, mtime_ns = (int(x) for x in z["meta"])
            if (version, r, n, size, mtime_ns) != (VERSION, reduce, ORB_FEATURES, st.st_size, st.st_mtime_ns):
                return None
            desc = z["descriptors"] if bool(z["has_descriptors"]) else None
            return TieFeatures(z["points"], desc, r, sha256)
    except (OSError, KeyError, ValueError):   # absent, or a damaged entry: decode instead
        return None


# Pairs matched: ``ties/pairs/KEY.npz``, so a flight registered again (every batch of a
# ``--watch --register``, a resumed run) matches only the pairs it has not matched before.
# KEY names both frames' contents, files and direct poses and the matching's settings
# (:func:`pair_key`); bumped when match_pair changes what it keeps.
PAIR_VERSION = 1


def pair_key(frame_a: tuple, frame_b: tuple, settings: tuple) -> str | None:
    """The cache key of one pair: each frame given as ``(path, sha256, direct pose, intrinsics)``
    (the file's size and modification time are read now, so a file changed since misses),
    ``settings`` what else decides its ties (ground, reach).  None when a file cannot be
    looked at or has no hash: the pair is matched, not cached."""
    import hashlib

    parts = [PAIR_VERSION, ORB_FEATURES, settings]
    if frame_a is None or frame_b is None:
        return None
    for path, sha256, pose, intr in (frame_a, frame_b):
        if not sha256:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        parts.append((sha256, st.st_size, st.st_mtime_ns, pose, intr))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:40]


def save_pair_ties(folder, key: str | None, tie) -> None:
    """Record what matching the pair gave: its :class:`~processing.ties.Tie`, or None (no tie)."""
    if key is None:
        return
    empty = np.zeros((0, 2))
    # not written: matched again next time
    _write_npz(Path(folder) / "pairs" / f"{key}.npz", tied=tie is not None,
               uv_a=empty if tie is None else tie.uv_a, uv_b=empty if tie is None else tie.uv_b,
               inliers=0 if tie is None else tie.inliers)


def load_pair_ties(folder, key: str | None, a: int, b: int):
    """``(True, Tie or None)`` for a pair matched before (as frames ``a`` and ``b`` of this
    run), ``(False, None)`` when it has to be matched."""
    from .ties import Tie

    if key is None:
        return False, None
    try:
        with np.load(Path(folder) / "pairs" / f"{key}.npz") as z:
            if not bool(z["tied"]):
                return True, None
            return True, Tie(a, b, z["uv_a"], z["uv_b"], int(z["inliers"]))
    except (OSError, KeyError, ValueError):
        return False, None
