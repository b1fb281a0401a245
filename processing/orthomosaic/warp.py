"""One frame resampled onto its window of the mosaic grid, fast and still through the full
camera model.

Projecting every mosaic cell through the camera (rotation, lens distortion, DEM lookup) cost
more than everything else in the mosaic put together.  The cell -> pixel mapping is smooth
(a perspective, a low-order lens polynomial, a bilinear DEM), so it is projected exactly only
on a lattice of every ``step``-th cell and interpolated bilinearly between; the exact mapping is
also evaluated at the centre of every lattice square (where bilinear interpolation of a smooth
map errs most), and a square whose error there is above ``tol_cells`` mosaic cells (or frame
pixels, where a pixel is the coarser) is split in four and checked again, down to single cells
where need be.  Flat ground keeps a 16-cell lattice (Brighton: 0.011 cells at most, measured
against every cell projected).  A DEM is bilinear: its slope breaks along every line of DEM
posts, where the error peaks and the centre does not show it, so a square such a line crosses
is checked on the line too (:func:`_post_errors`); the rest of a hilly frame keeps its coarse
lattice (``python -m benchmarks.warp``: steep hills about 6x faster than the whole frame sent
to a finer lattice, as before 7 Dec 2026).  Both resamplings (lattice -> cells,
frame -> cells) are ``cv2.remap``; with a power-of-two step the lattice's fractional positions
are exact in OpenCV's 1/32-pixel interpolation table.
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


def _project(cam, grid: Grid, cols: np.ndarray, rows: np.ndarray, reduce: int, posts: bool = False):
    """Exact decoded-image pixel coordinates ``(u, v)`` (float64, rows x cols) of the centres of
    the grid cells ``cols`` x ``rows``; ``_OFF`` where the camera cannot see the point.  With
    ``posts``, also where each is among the DEM's posts (:func:`_project_cells`)."""
    C, R = np.meshgrid(cols, rows)
    return _project_cells(cam, grid, C, R, reduce, posts)


def _project_cells(cam, grid: Grid, cols: np.ndarray, rows: np.ndarray, reduce: int, posts: bool = False):
    """:func:`_project` for cells given one by one (``cols`` and ``rows`` of one shape).  With
    ``posts``, also each one's fractional (column, row) among the DEM's posts (None on flat
    ground): the ground's slope breaks where a whole number is crossed."""
    X, Y = grid.x0 + (cols + 0.5) * grid.res, grid.y1 - (rows + 0.5) * grid.res
    at = None
    if cam.dem is not None:
        with _DEM_LOCK:
            if posts:
                Z, (pc, pr) = cam.dem.height_and_posts(X.ravel(), Y.ravel())
                at = (pc.reshape(X.shape), pr.reshape(X.shape))
            else:
                Z = cam.dem.height(X.ravel(), Y.ravel())
        Z = np.where(np.isfinite(Z), Z, cam.C[2] - cam.height_agl)
    else:
        Z = np.full(X.size, cam.ground_z)
    u, v, front = cam.world_to_pixel(np.stack([X.ravel(), Y.ravel(), Z], -1))
    ok = front & np.isfinite(u) & np.isfinite(v)
    # full-frame pixel centres -> reduced-image pixel centres
    u = np.where(ok, (u + 0.5) / reduce - 0.5, _OFF).reshape(X.shape)
    v = np.where(ok, (v + 0.5) / reduce - 0.5, _OFF).reshape(X.shape)
    return (u, v, at) if posts else (u, v)


def _square_errors(corners_u, corners_v, eu, ev, step: int, seen_at) -> np.ndarray:
    """Per square, an interpolation error ``(eu, ev)`` (exact pixel minus interpolated) in
    whichever is coarser there: mosaic cells or frame pixels; 0 for a square the camera does
    not see whole (its corners, and where the error was taken: ``seen_at``).  ``corners_u``
    and ``corners_v`` are ``(top-left, top-right, bottom-left, bottom-right)``, each of the
    squares' shape.

    A pixel error is turned into cells through the mapping's local Jacobian; where one frame
    pixel spans several cells (an oblique frame's far side) a fraction of a cell is far below
    what the frame can show, so the error counts in pixels there."""
    (u00, u01, u10, u11), (v00, v01, v10, v11) = corners_u, corners_v
    seen = lambda a: a > _OFF / 2  # noqa: E731
    quad = seen(u00) & seen(u01) & seen(u10) & seen(u11) & seen(v00) & seen(v01) & seen(v10) & seen(v11) & seen_at
    # Jacobian d(u, v) / d(col, row) per square, from its edges
    a = (u01 - u00 + u11 - u10) / (2 * step)
    b = (u10 - u00 + u11 - u01) / (2 * step)
    c = (v01 - v00 + v11 - v10) / (2 * step)
    d = (v10 - v00 + v11 - v01) / (2 * step)
    det = a * d - b * c
    det = np.where(np.abs(det) > 1e-12, det, np.inf)
    dc, dr = (d * eu - b * ev) / det, (a * ev - c * eu) / det
    return np.where(quad, np.minimum(np.hypot(dc, dr), np.hypot(eu, ev)), 0.0)


def _bilinear(corners, fr, fc):
    """Bilinear between a square's corners (top-left, top-right, bottom-left, bottom-right) at
    the fractions ``fr`` down and ``fc`` across it."""
    a00, a01, a10, a11 = corners
    return a00 * (1 - fr) * (1 - fc) + a01 * (1 - fr) * fc + a10 * fr * (1 - fc) + a11 * fr * fc


def _centre_errors(cam, grid: Grid, reduce: int, window, sq: np.ndarray, t: int, cu, cv) -> np.ndarray:
    """The interpolation error (:func:`_square_errors`) of each square ``sq`` (``(row, col)`` of
    its top-left cell, window-relative, ``t`` cells a side; corners ``cu, cv``) at its centre."""
    c0, r0 = window[:2]
    u, v = _project_cells(cam, grid, c0 + sq[:, 1] + t / 2, r0 + sq[:, 0] + t / 2, reduce)
    return _square_errors(cu, cv, u - _bilinear(cu, 0.5, 0.5), v - _bilinear(cv, 0.5, 0.5), t,
                          (u > _OFF / 2) & (v > _OFF / 2))


def _post_errors(cam, grid: Grid, reduce: int, window, sq: np.ndarray, t: int, cu, cv, pc, pr) -> np.ndarray:
    """The interpolation error of each square ``sq`` on the DEM post lines that cross it
    (``pc, pr``: its corners' fractional column and row among the posts; ``inf`` where two
    lines one way cross it: split it).

    The DEM is bilinear between posts, so the ground's slope breaks along each post line; the
    interpolation's error peaks there, where a square's centre does not see it (2-4 times less
    than the worst cell on the hills of tests/processing/test_mosaic_warp.py).  The line is
    found inside the square from its corners (post coordinates are close to affine over a
    square) and the error taken where it crosses the square's edges, quarter and middle lines."""
    c0, r0 = window[:2]
    err = np.zeros(len(sq))
    f = np.array([0.0, 0.25, 0.5, 0.75, 1.0])[None, :]     # the edges too: the worst cell was on one
    for P in (pc, pr):
        lo = np.floor(np.minimum(np.minimum(P[0], P[1]), np.minimum(P[2], P[3])))
        hi = np.floor(np.maximum(np.maximum(P[0], P[1]), np.maximum(P[2], P[3])))
        err[hi - lo > 1] = np.inf
        idx = np.flatnonzero(hi - lo == 1)
        if not idx.size:
            continue
        K = hi[idx, None]
        a00, a01, a10, a11 = (x[idx, None] for x in P)
        with np.errstate(divide="ignore", invalid="ignore"):
            # where the line crosses the square's rows at fractions f down (solved across), and
            # its columns at fractions f across (solved down)
            fc = (K - (1 - f) * a00 - f * a10) / ((1 - f) * (a01 - a00) + f * (a11 - a10))
            fr = (K - (1 - f) * a00 - f * a01) / ((1 - f) * (a10 - a00) + f * (a11 - a01))
        FR = np.concatenate([np.broadcast_to(f, fc.shape), fr], 1)
        FC = np.concatenate([fc, np.broadcast_to(f, fr.shape)], 1)
        on = np.isfinite(FR) & np.isfinite(FC) & (FR >= 0) & (FR <= 1) & (FC >= 0) & (FC <= 1)
        FR, FC = np.where(on, FR, 0.5), np.where(on, FC, 0.5)
        u, v = _project_cells(cam, grid, c0 + sq[idx, 1, None] + FC * t, r0 + sq[idx, 0, None] + FR * t, reduce)
        cu_i, cv_i = tuple(x[idx, None] for x in cu), tuple(x[idx, None] for x in cv)
        e = _square_errors(cu_i, cv_i, u - _bilinear(cu_i, FR, FC), v - _bilinear(cv_i, FR, FC), t,
                           on & (u > _OFF / 2) & (v > _OFF / 2))
        err[idx] = np.maximum(err[idx], e.max(axis=1))
    return err


def _errors(cam, grid: Grid, reduce: int, window, sq: np.ndarray, t: int, cu, cv, posts) -> np.ndarray:
    """Each square's largest error at its checks: its centre, and on the DEM post lines that
    cross it (``posts``: its corners' post coordinates, column and row; None on flat ground)."""
    err = _centre_errors(cam, grid, reduce, window, sq, t, cu, cv)
    if posts is not None:
        err = np.maximum(err, _post_errors(cam, grid, reduce, window, sq, t, cu, cv, *posts))
    return err


def _refine(cam, grid: Grid, window, reduce: int, squares: np.ndarray, step: int, tol_cells: float,
            mx: np.ndarray, my: np.ndarray) -> tuple[int, float]:
    """Map the cells of the lattice squares ``squares`` (``(row, col)`` of their top-left cell,
    window-relative, ``step`` cells a side) again, each split in four and checked, down to the
    cells themselves where need be; write them into ``mx, my``.  Returns the finest step used
    and the largest error left."""
    c0, r0, c1, r1 = window
    h, w = r1 - r0, c1 - c0
    finest, worst = step, 0.0
    while len(squares):
        t = step // 2
        sub = (squares[:, None, :] + t * np.array([[0, 0], [0, 1], [1, 0], [1, 1]])[None]).reshape(-1, 2)
        sub = sub[(sub[:, 0] < h) & (sub[:, 1] < w)]
        finest = t
        if t == 1:      # single cells: exactly where the camera puts them
            u, v = _project_cells(cam, grid, c0 + sub[:, 1], r0 + sub[:, 0], reduce)
            mx[sub[:, 0], sub[:, 1]], my[sub[:, 0], sub[:, 1]] = u, v
            break
        # the four corners of every sub-square, projected in one call
        offs = np.array([[0, 0], [0, t], [t, 0], [t, t]])
        pts = (sub[:, None, :] + offs[None]).reshape(-1, 2)
        u, v, posts = _project_cells(cam, grid, c0 + pts[:, 1], r0 + pts[:, 0], reduce, posts=True)
        U, V = tuple(u.reshape(-1, 4).T), tuple(v.reshape(-1, 4).T)
        err = _errors(cam, grid, reduce, window, sub, t, U, V,
                      None if posts is None else [tuple(p.reshape(-1, 4).T) for p in posts])
        good = err <= tol_cells
        if good.any():
            worst = max(worst, float(err[good].max()))
            # bilinear within each good sub-square, its cells clipped to the window
            f = np.arange(t) / t
            fr, fc = f[None, :, None], f[None, None, :]
            rr = sub[good][:, 0, None, None] + np.arange(t)[None, :, None]
            cc = sub[good][:, 1, None, None] + np.arange(t)[None, None, :]
            inside = (rr < h) & (cc < w)
            rr, cc = np.broadcast_to(rr, inside.shape), np.broadcast_to(cc, inside.shape)
            for out, A in ((mx, U), (my, V)):
                vals = _bilinear(tuple(x[good][:, None, None] for x in A), fr, fc)
                out[rr[inside], cc[inside]] = vals[inside]
        squares, step = sub[~good], t
    return finest, worst


def frame_map(geo, grid: Grid, window, reduce: int, *, step: int = DEFAULT_STEP,
              tol_cells: float = TOLERANCE_CELLS):
    """Decoded-image coordinates ``(mx, my)`` (float32, h x w) for every cell of ``window``
    (``col0, row0, col1, row1``), the finest lattice step used and the largest error found at
    the checks."""
    import cv2

    if step & (step - 1) or not 1 <= step <= 32:
        raise ValueError(f"lattice step must be a power of two up to 32, got {step}")
    c0, r0, c1, r1 = window
    w, h = c1 - c0, r1 - r0
    cam = geo.camera
    cols = c0 + np.arange(-(-(w - 1) // step) + 1) * step
    rows = r0 + np.arange(-(-(h - 1) // step) + 1) * step
    U, V, posts = _project(cam, grid, cols, rows, reduce, posts=True)
    if step == 1:
        return U.astype(np.float32), V.astype(np.float32), 1, 0.0
    nr, nc = len(rows) - 1, len(cols) - 1
    sq = np.stack(np.meshgrid((rows[:-1] - r0), (cols[:-1] - c0), indexing="ij"), -1).reshape(-1, 2)

    def corners(A):
        return tuple(x.ravel() for x in (A[:-1, :-1], A[:-1, 1:], A[1:, :-1], A[1:, 1:]))

    errs = _errors(cam, grid, reduce, window, sq, step, corners(U), corners(V),
                   None if posts is None else [corners(p) for p in posts]).reshape(nr, nc)
    bad = errs > tol_cells
    err = float(errs[~bad].max()) if (~bad).any() else 0.0
    coarse = np.dstack([U, V]).astype(np.float32)
    gx = np.broadcast_to((np.arange(w, dtype=np.float32) / step)[None, :], (h, w))
    gy = np.broadcast_to((np.arange(h, dtype=np.float32) / step)[:, None], (h, w))
    uv = np.empty((h, w, 2), np.float32)
    for s in range(0, h, _ROWS):
        uv[s:s + _ROWS] = cv2.remap(coarse, np.ascontiguousarray(gx[s:s + _ROWS]),
                                    np.ascontiguousarray(gy[s:s + _ROWS]), cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
    mx, my = uv[..., 0], uv[..., 1]
    finest = step
    if bad.any():
        finest, worst = _refine(cam, grid, window, reduce, np.argwhere(bad) * step, step, tol_cells, mx, my)
        err = max(err, worst)
    return mx, my, finest, err


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
