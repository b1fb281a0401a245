"""Flags without a map position, grouped by their place in the picture: image-space tracking
across consecutive frames of one recording.

A frame without a pose (no EXIF, as many thermal cores and radiometric exports write them) gives
flags with no ground position, so they cannot be grouped on the map.  Frames of one recording
still overlap from one to the next, so the same person or car appears at nearly the same place
in the picture, shifted by the camera's own motion.  For each pair of consecutive frames:

1. the camera's shift is estimated from the flags themselves: every displacement from a flag in
   the first frame to one in the second votes, and the shift most of them agree on (within a
   few box sizes) wins; with fewer than :data:`MIN_VOTES` agreeing the camera is taken as still;
2. after that shift, a flag is joined to the nearest flag of its class in the next frame, seen
   from both sides, when it lies within :data:`REACH_BOXES` box sizes and the two look alike
   (:mod:`processing.look`) and are of similar size;
3. flags left unjoined (the detector missed the object in the frame between) are tried the same
   way against the frame after next.

A recording is the frame's folder and file name without its frame number (``1_60_30_0_00012``
-> ``1_60_30_0_`` frame 12, as HIT-UAV and most cameras name them); frames are consecutive when
their numbers differ by at most :data:`MAX_FRAME_GAP` (or, with times, :data:`MAX_TIME_GAP_S`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from .look import SAME_LOOK, look_similarity

__all__ = ["ImageFlag", "recording_of", "track_in_image", "MAX_FRAME_GAP"]

MAX_FRAME_GAP = 10        # frame numbers apart: a camera writing every frame, or every few
MAX_TIME_GAP_S = 20.0
MIN_VOTES = 3             # flags agreeing on a camera shift before it is believed
REACH_BOXES = 2.0
MIN_REACH_PX = 6.0
MAX_SIZE_RATIO = 2.0
_NUM = re.compile(r"^(.*?)(\d+)(\D*)$")


@dataclass
class ImageFlag:
    """A flag without a map position: its frame, class, pixel box and look."""

    fid: int
    frame_fid: int
    cls: str
    x0: float
    y0: float
    x1: float
    y1: float
    look: str | None = None


def recording_of(path: str) -> tuple[str, int | None]:
    """(recording, frame number) of a frame file; the number is ``None`` when it has none."""
    folder, name = os.path.split(path or "")
    stem = os.path.splitext(name)[0]
    m = _NUM.match(stem)
    if not m:
        return os.path.join(folder, stem), None
    return os.path.join(folder, m.group(1) + "#" + m.group(3)), int(m.group(2))


def _consecutive(frames: dict) -> list[tuple[int, int]]:
    """Pairs of frame fids that follow one another in one recording.  ``frames`` maps
    fid -> (path, time_s)."""
    by_rec: dict = {}
    for fid, (path, t) in frames.items():
        rec, num = recording_of(path)
        by_rec.setdefault(rec, []).append((num, t, fid))
    pairs = []
    for items in by_rec.values():
        timed = all(t is not None and math.isfinite(t) for _, t, _ in items)
        numbered = all(n is not None for n, _, _ in items)
        if not (timed or numbered):
            continue
        items.sort(key=lambda x: (x[1], x[0] or 0) if timed else (x[0], 0))
        for (n0, t0, f0), (n1, t1, f1) in zip(items, items[1:], strict=False):
            close = (t1 - t0 <= MAX_TIME_GAP_S) if timed else (n1 - n0 <= MAX_FRAME_GAP)
            if close:
                pairs.append((f0, f1))
    return pairs


def _centres(fl: list[ImageFlag]):
    c = np.array([((f.x0 + f.x1) / 2, (f.y0 + f.y1) / 2) for f in fl], float).reshape(-1, 2)
    s = np.array([max(f.x1 - f.x0, f.y1 - f.y0, 1.0) for f in fl], float)
    return c, s


def _camera_shift(a: list[ImageFlag], b: list[ImageFlag]) -> np.ndarray:
    """The shift (px) most flag-to-flag displacements agree on; zero when too few agree."""
    ca, sa = _centres(a)
    cb, sb = _centres(b)
    d = (cb[None, :, :] - ca[:, None, :]).reshape(-1, 2)
    if len(d) > 4000:   # plenty to vote with; keep the work bounded
        d = d[np.random.default_rng(0).choice(len(d), 4000, replace=False)]
    tol = max(MIN_REACH_PX, float(np.median(np.concatenate([sa, sb]))))
    close = np.hypot(*(d[:, None, :] - d[None, :, :]).transpose(2, 0, 1)) <= tol
    votes = close.sum(axis=1)
    best = int(np.argmax(votes))
    if votes[best] < MIN_VOTES:
        return np.zeros(2)
    return d[close[best]].mean(axis=0)


def _links(a: list[ImageFlag], b: list[ImageFlag], shift: np.ndarray) -> list[tuple[int, int]]:
    ca, sa = _centres(a)
    cb, sb = _centres(b)
    dist = np.hypot(*((ca + shift)[:, None, :] - cb[None, :, :]).transpose(2, 0, 1))
    reach = np.maximum(MIN_REACH_PX, REACH_BOXES * np.maximum(sa[:, None], sb[None, :]))
    ratio = np.maximum(sa[:, None], sb[None, :]) / np.minimum(sa[:, None], sb[None, :])
    same_cls = np.array([[x.cls == y.cls for y in b] for x in a], bool).reshape(len(a), len(b))
    ok = same_cls & (dist <= reach) & (ratio <= MAX_SIZE_RATIO)
    cost = np.where(ok, dist, np.inf)
    out = []
    for i in range(len(a)):
        j = int(np.argmin(cost[i])) if len(b) else -1
        if j < 0 or not np.isfinite(cost[i, j]) or int(np.argmin(cost[:, j])) != i:
            continue   # nearest from both sides, or not at all
        sim = look_similarity(a[i].look, b[j].look)
        if sim is not None and sim < SAME_LOOK:
            continue
        out.append((a[i].fid, b[j].fid))
    return out


def track_in_image(flags: list[ImageFlag], frames: dict) -> dict[int, int]:
    """Flag fid -> track number (flags of one track are one object).

    ``frames`` maps each frame fid to ``(path, time_s or None)``.  A flag on no consecutive
    pair keeps a track of its own.
    """
    by_frame: dict = {}
    for f in flags:
        by_frame.setdefault(f.frame_fid, []).append(f)
    parent = {f.fid: f.fid for f in flags}

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def join(i, j):
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    pairs = _consecutive({k: v for k, v in frames.items() if k in by_frame})
    shifts, forward, backward = {}, set(), set()
    for f0, f1 in pairs:
        a, b = by_frame[f0], by_frame[f1]
        shifts[f0, f1] = _camera_shift(a, b)
        for i, j in _links(a, b, shifts[f0, f1]):
            join(i, j)
            forward.add(i)
            backward.add(j)
    # A person the detector missed in one frame: the flags left unjoined there are tried
    # against the frame after next, the two shifts added.
    nxt = dict(pairs)
    for f0, f1 in pairs:
        f2 = nxt.get(f1)
        if f2 is None:
            continue
        a = [f for f in by_frame[f0] if f.fid not in forward]
        b = [f for f in by_frame[f2] if f.fid not in backward]
        if a and b:
            for i, j in _links(a, b, shifts[f0, f1] + shifts[f1, f2]):
                join(i, j)
    roots = sorted({root(f.fid) for f in flags})
    number = {r: k for k, r in enumerate(roots)}
    return {f.fid: number[root(f.fid)] for f in flags}
