"""One frame resampled onto its window of the mosaic grid, fast and still through the full
camera model.

Projecting every mosaic cell through the camera (rotation, lens distortion, DEM lookup) cost
more than everything else in the mosaic put together.  The cell -> pixel mapping is smooth
(a perspective, a low-order lens polynomial, a bilinear DEM), so it is projected exactly only
on a lattice of every ``step``-th cell and interpolated bilinearly between; the exact mapping is
also evaluated at the centre of every lattice square (where bilinear interpolation of a smooth
map errs most) and the lattice is made finer until that error is below ``tol_cells`` mosaic
cells (or frame pixels, where a pixel is the coarser).  Flat ground keeps a 16-cell lattice
(Brighton: 0.011 cells at most, measured against every cell projected); a DEM is bilinear,
its slope jumps at every DEM cell edge, and over steep hills the lattice goes down to every
cell: as exact as before there, and as slow.  Both resamplings (lattice -> cells, frame -> cells) are ``cv2.remap``; with a power-of-two
step the lattice's fractional positions are exact in OpenCV's 1/32-pixel interpolation table.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .blend import Grid

__all__ = ["FrameWarp", "warp_frame", "frame_map", "DEFAULT_STEP", "TOLERANCE_CELLS"]

DEFAULT_STEP = 16          # cells between exact projections; a power of two, at most 32
TOLERANCE_CELLS = 0.05     # largest interpolation error accepted, in mosaic cells (or frame pixels)
_OFF = -1.0e5              # pixel coordinate for cells the camera cannot see (behind it)
_ROWS = 4096               # cv2.remap wants fewer than 32767 rows at a time
# Frames are warped in threads; the DEM's pyproj transformer is shared and pyproj does not
# promise a transformer is safe across threads.  Only lattice points go through it: no wait.
_DEM_LOCK = threading.Lock()


@dataclass
class FrameWarp:
    """A frame on its window of the grid: pixels, where the frame saw the ground, and how
    closely the interpolated mapping followed the camera model."""

    pixels: np.ndarray         # (h, w[, bands]) in the decoded image's dtype
    valid: np.ndarray          # (h, w) bool
    step: int                  # lattice spacing used (cells)
    max_err_cells: float       # largest interpolation error found at the check points


def _project(cam, grid: Grid, cols: np.ndarray, rows: np.ndarray, reduce: int):
    """Exact decoded-image pixel coordinates ``(u, v)`` (float64, rows x cols) of the centres of
    the grid cells ``cols`` x ``rows``; ``_OFF`` where the camera cannot see the point."""
    X, Y = np.meshgrid(grid.x0 + (cols + 0.5) * grid.res, grid.y1 - (rows + 0.5) * grid.res)
    if cam.dem is not None:
        with _DEM_LOCK:
            Z = cam.dem.height(X.ravel(), Y.ravel())
        Z = np.where(np.isfinite(Z), Z, cam.C[2] - cam.height_agl)
    else:
        Z = np.full(X.size, cam.ground_z)
    u, v, front = cam.world_to_pixel(np.stack([X.ravel(), Y.ravel(), Z], -1))
    ok = front & np.isfinite(u) & np.isfinite(v)
    # full-frame pixel centres -> reduced-image pixel centres
    u = np.where(ok, (u + 0.5) / reduce - 0.5, _OFF).reshape(X.shape)
    v = np.where(ok, (v + 0.5) / reduce - 0.5, _OFF).reshape(X.shape)
    return u, v


def _lattice_error(U, V, Uc, Vc, step: int) -> float:
    """Largest error of the bilinear interpolation of the lattice's corners at the lattice
    squares' centres (``Uc, Vc``, exact), in whichever is coarser there: mosaic cells or frame
    pixels.  A pixel error is turned into cells through the mapping's local Jacobian; where one
    frame pixel spans several cells (an oblique frame's far side) a fraction of a cell is far
    below what the frame can show, so the error counts in pixels there."""
    seen = (U > _OFF / 2) & (V > _OFF / 2)
    quad = seen[:-1, :-1] & seen[1:, :-1] & seen[:-1, 1:] & seen[1:, 1:] & (Uc > _OFF / 2)
    if not quad.any():
        return 0.0
    mean = lambda a: (a[:-1, :-1] + a[1:, :-1] + a[:-1, 1:] + a[1:, 1:]) / 4  # noqa: E731
    eu, ev = (Uc - mean(U))[quad], (Vc - mean(V))[quad]
    # Jacobian d(u, v) / d(col, row) per square, from its edges
    a = ((U[:-1, 1:] - U[:-1, :-1] + U[1:, 1:] - U[1:, :-1]) / (2 * step))[quad]
    b = ((U[1:, :-1] - U[:-1, :-1] + U[1:, 1:] - U[:-1, 1:]) / (2 * step))[quad]
    c = ((V[:-1, 1:] - V[:-1, :-1] + V[1:, 1:] - V[1:, :-1]) / (2 * step))[quad]
    d = ((V[1:, :-1] - V[:-1, :-1] + V[1:, 1:] - V[:-1, 1:]) / (2 * step))[quad]
    det = a * d - b * c
    det = np.where(np.abs(det) > 1e-12, det, np.inf)
    dc, dr = (d * eu - b * ev) / det, (a * ev - c * eu) / det
    return float(np.minimum(np.hypot(dc, dr), np.hypot(eu, ev)).max())


def frame_map(geo, grid: Grid, window, reduce: int, *, step: int = DEFAULT_STEP,
              tol_cells: float = TOLERANCE_CELLS):
    """Decoded-image coordinates ``(mx, my)`` (float32, h x w) for every cell of ``window``
    (``col0, row0, col1, row1``), the lattice step used and the error found at the checks."""
    import cv2

    if step & (step - 1) or not 1 <= step <= 32:
        raise ValueError(f"lattice step must be a power of two up to 32, got {step}")
    c0, r0, c1, r1 = window
    w, h = c1 - c0, r1 - r0
    cam = geo.camera
    while True:
        cols = c0 + np.arange(-(-(w - 1) // step) + 1) * step
        rows = r0 + np.arange(-(-(h - 1) // step) + 1) * step
        U, V = _project(cam, grid, cols, rows, reduce)
        if step == 1:
            err = 0.0
            break
        Uc, Vc = _project(cam, grid, cols[:-1] + step / 2, rows[:-1] + step / 2, reduce)
        err = _lattice_error(U, V, Uc, Vc, step)
        if err <= tol_cells:
            break
        step //= 2
    coarse = np.dstack([U, V]).astype(np.float32)
    gx = np.broadcast_to((np.arange(w, dtype=np.float32) / step)[None, :], (h, w))
    gy = np.broadcast_to((np.arange(h, dtype=np.float32) / step)[:, None], (h, w))
    uv = np.empty((h, w, 2), np.float32)
    for s in range(0, h, _ROWS):
        uv[s:s + _ROWS] = cv2.remap(coarse, np.ascontiguousarray(gx[s:s + _ROWS]),
                                    np.ascontiguousarray(gy[s:s + _ROWS]), cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
    return uv[..., 0], uv[..., 1], step, err


def warp_frame(image: np.ndarray, geo, grid: Grid, window, reduce: int = 1, *,
               step: int = DEFAULT_STEP, tol_cells: float = TOLERANCE_CELLS) -> FrameWarp:
    """``image`` (decoded at 1/``reduce``) resampled bilinearly onto the cells of ``window``."""
    import cv2

    mx, my, step, err = frame_map(geo, grid, window, reduce, step=step, tol_cells=tol_cells)
    ih, iw = image.shape[:2]
    valid = (mx >= -0.5) & (my >= -0.5) & (mx <= iw - 0.5) & (my <= ih - 0.5)
    pixels = np.empty(mx.shape + image.shape[2:], image.dtype)
    for s in range(0, mx.shape[0], _ROWS):
        # the frame's outermost half pixel repeats its edge rather than fading into black
        pixels[s:s + _ROWS] = cv2.remap(image, mx[s:s + _ROWS], my[s:s + _ROWS], cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE).reshape(
                                            pixels[s:s + _ROWS].shape)
    return FrameWarp(pixels, valid, step, err)
