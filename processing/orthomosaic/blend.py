"""Frames blended on one north-up grid: each ground cell taken mostly from the frame that sees
it closest to straight down, with a soft seam.

Every orthorectified frame adds its pixels with the weight ``exp(-d / B)``, ``d`` the cell's
ground distance from the frame's nadir point (the point under the camera) and ``B`` the blend
width.  Normalised over the frames that see a cell this is a soft minimum: the nearest-to-nadir
frame dominates (less relief displacement, less lens fall-off, the sharpest pixels) and two
frames share a cell only within a few ``B`` of the line where their nadir distances are equal,
so a seam is a short cross-fade instead of a cut.  A frame's weight also fades to nothing over
``B`` inside its own edge, so no frame edge shows as a step.  The running maximum of the
log-weight is kept per cell, so the exponentials never underflow however far the nadir is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import tiles

__all__ = ["Grid", "Canvas"]

_CUT = 10.0     # log-weight gap beyond which the lighter frame's share (< 5e-5) is dropped


@dataclass(frozen=True)
class Grid:
    """A north-up grid in one UTM zone: upper-left corner ``(x0, y1)``, cell ``res`` metres."""

    epsg: int
    x0: float
    y1: float
    res: float
    width: int
    height: int

    @classmethod
    def covering(cls, epsg: int, bounds, res: float) -> Grid:
        """The grid of cell ``res`` whose lines fall on multiples of ``res`` (so a mosaic made
        again at the same resolution lines up cell for cell) and that covers ``bounds``."""
        x0, y0, x1, y1 = bounds
        gx0, gy1 = np.floor(x0 / res) * res, np.ceil(y1 / res) * res
        w = int(np.ceil((x1 - gx0) / res - 1e-9))
        h = int(np.ceil((gy1 - y0) / res - 1e-9))
        return cls(epsg, float(gx0), float(gy1), float(res), max(w, 1), max(h, 1))

    def window(self, bounds) -> tuple[int, int, int, int]:
        """``(col0, row0, col1, row1)`` of the cells covering ``bounds``, clipped to the grid."""
        x0, y0, x1, y1 = bounds
        c0 = max(0, int(np.floor((x0 - self.x0) / self.res)))
        r0 = max(0, int(np.floor((self.y1 - y1) / self.res)))
        c1 = min(self.width, int(np.ceil((x1 - self.x0) / self.res)))
        r1 = min(self.height, int(np.ceil((self.y1 - y0) / self.res)))
        return c0, r0, c1, r1

    def window_bounds(self, c0, r0, c1, r1) -> tuple[float, float, float, float]:
        return (self.x0 + c0 * self.res, self.y1 - r1 * self.res, self.x0 + c1 * self.res, self.y1 - r0 * self.res)


class Canvas:
    """Weighted sums of the frames' pixels on a :class:`Grid` (float32, ``bands`` deep), held in
    square tiles (:mod:`.tiles`) that exist only where a frame was drawn.

    At most ``memory_mb`` of tiles are held in memory; beyond that the least recently drawn
    ones go to files in a folder of their own (under ``spill_dir``, the system's temporary
    folder by default; removed with the canvas) and come back when a frame or the writer
    needs them.  A survey's frames come line by line, so the tiles a frame touches are nearly
    always among the last drawn: a park-wide mosaic takes the memory of a few flight lines, not
    of the park (``benchmarks/mosaic_growing.py``).  The sums are the same either way.
    """

    def __init__(self, grid: Grid, bands: int, blend_m: float, *, memory_mb: float | None = None,
                 spill_dir=None):
        self.grid, self.bands, self.blend_m = grid, bands, float(blend_m)
        self.frames = 0
        self._tiles = tiles.Tiles(bands, self.bytes_per_cell(bands),
                                  tiles.MEMORY_MB if memory_mb is None else memory_mb, spill_dir)
        self._off = (0, 0)      # this grid's cell (0, 0) in the tiles' cells (the first grid's)

    @staticmethod
    def bytes_per_cell(bands: int) -> int:
        return 4 * (bands + 2)

    @property
    def spilled(self) -> int:
        """How many tiles are on disk now (0: the canvas fits its memory)."""
        return self._tiles.spilled

    def add(self, pixels: np.ndarray, valid: np.ndarray, window, nadir_xy) -> None:
        """Blend one frame in.  ``pixels`` (h, w[, bands]) and ``valid`` (h, w) cover ``window``
        (cells ``(col0, row0, col1, row1)`` of the grid); ``nadir_xy`` is the UTM point under
        the camera."""
        import cv2

        c0, r0, c1, r1 = window
        h, w = r1 - r0, c1 - c0
        pixels, valid = pixels[:h, :w], valid[:h, :w]
        if not valid.any():
            return
        g = self.grid
        xs = ((g.x0 + (np.arange(c0, c1) + 0.5) * g.res - nadir_xy[0]) / self.blend_m).astype(np.float32)
        ys = ((g.y1 - (np.arange(r0, r1) + 0.5) * g.res - nadir_xy[1]) / self.blend_m).astype(np.float32)
        logw = np.square(xs)[None, :] + np.square(ys)[:, None]
        np.sqrt(logw, out=logw)
        np.negative(logw, out=logw)
        # fade in from the frame's own edge: distance to the nearest unseen cell, in B; zero
        # (log -inf: the frame does not count) on the cells it did not see
        fade = cv2.distanceTransform(np.pad(valid, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
        fade *= np.float32(g.res / self.blend_m)
        np.minimum(fade, 1.0, out=fade)
        with np.errstate(divide="ignore"):
            logw += np.log(fade)
        px = pixels.reshape(h, w, -1)
        oc, orow = self._off
        for tile, (tr0, tc0), (wr0, wc0), (th, tw) in self._tiles.cover(r0 + orow, c0 + oc, r1 + orow, c1 + oc):
            sl = (slice(wr0 - r0 - orow, wr0 - r0 - orow + th), slice(wc0 - c0 - oc, wc0 - c0 - oc + tw))
            tsl = (slice(tr0, tr0 + th), slice(tc0, tc0 + tw))
            _merge(tile.acc[tsl], tile.wsum[tsl], tile.logmax[tsl], px[sl], logw[sl])
        self.frames += 1

    def close(self) -> None:
        """Let go of the tiles, in memory and on disk (the canvas is empty after)."""
        self._tiles.close()

    def moved(self, grid: Grid) -> Canvas:
        """This canvas on another ``grid`` of the same zone and cell whose lines fall on the same
        multiples (a larger one, as a mosaic grows): the cells the two share keep what was
        blended.  The tiles stay where they are (nothing is copied); use the returned canvas
        from then on."""
        old = self.grid
        if (grid.epsg, grid.res) != (old.epsg, old.res):
            raise ValueError(f"{grid} is not on {old}'s zone and cell")
        dc, dr = round((old.x0 - grid.x0) / grid.res), round((grid.y1 - old.y1) / grid.res)
        new = Canvas.__new__(Canvas)
        new.grid, new.bands, new.blend_m, new.frames = grid, self.bands, self.blend_m, self.frames
        new._tiles, new._off = self._tiles, (self._off[0] - dc, self._off[1] - dr)
        return new

    def result(self, window=None) -> tuple[np.ndarray, np.ndarray]:
        """The blended pixels (float32, h, w, bands) and where any frame was seen (bool), of the
        whole grid or of ``window`` (cells ``(col0, row0, col1, row1)``)."""
        c0, r0, c1, r1 = window or (0, 0, self.grid.width, self.grid.height)
        out = np.zeros((r1 - r0, c1 - c0, self.bands), np.float32)
        seen = np.zeros((r1 - r0, c1 - c0), bool)
        oc, orow = self._off
        for tile, (tr0, tc0), (ar0, ac0), (th, tw) in self._tiles.cover(r0 + orow, c0 + oc, r1 + orow, c1 + oc,
                                                                       create=False):
            sl = (slice(ar0 - r0 - orow, ar0 - r0 - orow + th), slice(ac0 - c0 - oc, ac0 - c0 - oc + tw))
            acc, wsum = tile.acc[tr0:tr0 + th, tc0:tc0 + tw], tile.wsum[tr0:tr0 + th, tc0:tc0 + tw]
            s = wsum > 0
            np.divide(acc, wsum[..., None], out=out[sl], where=s[..., None])
            seen[sl] = s
        return out, seen


def _merge(acc, wsum, logmax, px, logw) -> None:
    """One frame's pixels ``px`` with log-weights ``logw`` into the sums of the same cells."""
    with np.errstate(invalid="ignore"):
        gain = logw - logmax         # NaN where neither counts, +inf where only this frame does
        # Three kinds of cell: where this frame outweighs what is there by more than e^CUT it
        # simply replaces it, where it is outweighed as much it changes nothing, and only the
        # few cells between (a seam's cross-fade) need the weighted sums: on Brighton at most
        # 0.012 grey levels from the exact sums.
        take = gain > _CUT
        mix = np.abs(gain) <= _CUT
    np.copyto(acc, px, where=np.repeat(take[..., None], px.shape[2], axis=2))
    np.copyto(wsum, 1.0, where=take)
    rows, cols = np.nonzero(mix)
    if rows.size:
        gm = gain[rows, cols]
        k_old = np.exp(-np.maximum(gm, 0))
        k_new = np.exp(np.minimum(gm, 0))
        acc[rows, cols] = acc[rows, cols] * k_old[:, None] + px[rows, cols].astype(np.float32) * k_new[:, None]
        wsum[rows, cols] = wsum[rows, cols] * k_old + k_new
        logmax[rows, cols] = np.maximum(logmax[rows, cols], logw[rows, cols])
    np.copyto(logmax, logw, where=take)
