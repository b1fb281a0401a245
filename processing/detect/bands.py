"""Oblique frames, band by band: the ground resolution of each row band, not one per frame.

A camera pitched 40 deg down from 120 m sees the ground at 4-5 cm/px along its bottom rows and
at 20 cm/px or worse along its top rows, and nothing at all above the horizon.  One GSD per
frame (the centre's) makes near cars look too big to the vehicle model and far ones too small;
so a frame whose rows differ by more than :data:`BAND_RATIO` is cut into row bands, each
resampled to the model's own GSD and searched on its own (with a margin, so a car on a band's
edge is seen whole), and the rows where a pixel is coarser than the class's limit
(``max_gsd_m`` in the model's JSON) or that see no ground are not searched for that class.
Smoke is not searched this way: a plume over a distant ridge, even above the horizon, is the
fire-watch signal.

``row_gsd`` is ``FrameInfo.row_gsd``: ``(row, metres per camera pixel)`` samples down the
frame (:meth:`processing.georef.CameraModel.row_gsd`), NaN where the row sees no ground.  The
limits are on the camera's own pixels: a frame decoded at 1/2 size for speed is not "too
coarse" for it (the decode size is chosen so that the coarsest band searched keeps what it
needs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BAND_RATIO", "RowBand", "is_oblique", "row_bands", "gsd_at", "resolvable"]

# Rows within this ratio of ground resolution are one band: the models were trained with
# random scale changes of 0.7-1.4, so a band this even looks like their training views.
BAND_RATIO = 1.3


@dataclass(frozen=True)
class RowBand:
    """Rows ``y0``..``y1`` (pixels of the image searched) at about ``gsd_m`` metres per camera
    pixel."""

    y0: int
    y1: int
    gsd_m: float


def _arrays(row_gsd) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(row_gsd, float).reshape(-1, 2)
    return a[:, 0], a[:, 1]


def is_oblique(row_gsd, ratio: float = BAND_RATIO) -> bool:
    """Whether the frame's rows differ enough (or some see no ground) to search it by bands."""
    if not len(row_gsd):
        return False
    _, g = _arrays(row_gsd)
    ok = np.isfinite(g) & (g > 0)
    if not ok.any():
        return False
    return bool((~ok).any() or g[ok].max() / g[ok].min() > ratio)


def gsd_at(row_gsd, y) -> np.ndarray:
    """Ground resolution at rows ``y`` (NaN where the nearest sampled row sees no ground)."""
    rows, g = _arrays(row_gsd)
    y = np.atleast_1d(np.asarray(y, float))
    near = np.abs(rows[None, :] - y[:, None]).argmin(1)
    out = np.interp(y, rows, np.where(np.isfinite(g), g, np.nanmax(g) if np.isfinite(g).any() else 0))
    return np.where(np.isfinite(g[near]), out, np.nan)


def resolvable(boxes: np.ndarray, row_gsd, max_gsd_m: float | None) -> np.ndarray:
    """Which boxes (x0, y0, x1, y1, ...) stand where a pixel is fine enough for the class: the
    row of the box's bottom edge (where it meets the ground) sees the ground at ``max_gsd_m``
    or finer.  All of them when the frame has no pose or the class no limit."""
    if not len(row_gsd) or max_gsd_m is None or not len(boxes):
        return np.ones(len(boxes), bool)
    g = gsd_at(row_gsd, np.asarray(boxes)[:, 3])
    return np.isfinite(g) & (g <= max_gsd_m)


def row_bands(row_gsd, height: int, max_gsd_m: float | None = None,
              ratio: float = BAND_RATIO) -> list[RowBand]:
    """Bands of rows, each within ``ratio`` of ground resolution, leaving out the rows that see
    no ground or are coarser than ``max_gsd_m``; bottom (near) band first."""
    rows, g = _arrays(row_gsd)
    ok = np.isfinite(g) & (g > 0)
    if max_gsd_m is not None:
        ok &= g <= max_gsd_m
    # each sample stands for the rows halfway to its neighbours
    edges = np.concatenate([[0.0], (rows[1:] + rows[:-1]) / 2, [float(height)]])
    bands: list[RowBand] = []
    start = None
    for i in range(len(rows) - 1, -1, -1):   # bottom up: the finest rows first
        if not ok[i]:
            if start is not None:
                bands.append(_band(edges, g, i + 1, start))
                start = None
            continue
        if start is None:
            start = i
        elif g[i] / g[start] > ratio:
            bands.append(_band(edges, g, i + 1, start))
            start = i
    if start is not None:
        bands.append(_band(edges, g, 0, start))
    return bands


def _band(edges, g, top: int, bottom: int) -> RowBand:
    part = g[top:bottom + 1]
    return RowBand(int(round(edges[top])), int(round(edges[bottom + 1])),
                   float(np.exp(np.log(part).mean())))
