"""Build a flight's mosaic: every placed frame orthorectified onto one grid and blended.

Per camera kind (colour, thermal: they see different things and would not blend), in the UTM
zone most of its frames are in.  Each frame is decoded once, as small as the mosaic's cell
allows (a JPEG straight at 1/2, 1/4 or 1/8 size), resampled through its camera model onto the
cells its footprint covers (:mod:`.warp`: lens and DEM included, projected exactly on a coarse
lattice and interpolated within a checked error) and blended in (:mod:`.blend`).
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from uav.errors import FrameError, InvalidInputError, MosaicError

from .blend import Canvas, Grid
from .cog import write_cog_blocks
from .leftovers import clear_leftovers
from .poses import PlacedFrame
from .seams import MAX_PAIRS, SeamAgreement, SeamMeter
from .warp import FrameWarp, warp_frame

__all__ = ["MosaicFile", "Warped", "mosaic_frames", "match_bands", "pick_resolution", "warped", "DEFAULT_GSD_FACTOR",
           "MAX_CELLS"]

DEFAULT_GSD_FACTOR = 4.0     # default cell: the frames' median GSD x 4 (issue 24)
MAX_CELLS = 1_000_000_000    # a park at 10 cm; the sums go to disk beyond tiles.MEMORY_MB (20 GB here)
BLEND_CELLS = 3.0            # seam cross-fade and edge fade, in cells (see .blend)
# A frame whose pixel at 1/r is at most this much coarser than a cell is decoded at 1/r: the
# median GSD sets the cell, so without it half the frames (GSD a hair above the median) would
# be decoded at twice the size for no visible gain.
REDUCE_SLACK = 1.05
THREADS = 2                  # frames decoded and warped at once, ahead of the blend


@dataclass
class MosaicFile:
    """One written mosaic (one per camera kind) and what went into it."""

    kind: str                  # "colour" or "thermal"
    path: str
    epsg: int
    res_m: float
    size: tuple[int, int]      # width, height (cells)
    bounds: tuple[float, float, float, float]   # UTM
    frames: int = 0
    registered: int = 0
    timings_s: dict = field(default_factory=dict)
    warp_error_cells: float = 0.0   # largest interpolation error of the frames' mappings, checked
    seams: SeamAgreement | None = None


def _reduce_for(p: PlacedFrame, res: float) -> int:
    """Largest JPEG decode reduction that keeps the frame at least as fine as the mosaic."""
    if os.path.splitext(p.path)[1].lower() in (".tif", ".tiff", ".png"):
        return 1  # decoded whole (thermal TIFFs are small); striding would shift the pixels
    r, gsd = 1, p.geo.gsd_m or res
    while r < 8 and gsd * r * 2 <= res * REDUCE_SLACK:
        r *= 2
    return r


def pick_resolution(frames: list[PlacedFrame], resolution: float | None) -> float:
    if resolution is not None:
        if not (resolution > 0 and np.isfinite(resolution)):
            raise InvalidInputError(f"--resolution must be a ground size in metres above 0, got {resolution}")
        return float(resolution)
    gsds = [p.geo.gsd_m for p in frames if p.geo.gsd_m]
    if not gsds:
        raise MosaicError("no frame has a ground resolution (GSD) to size the mosaic from; "
                          "give one with --resolution METRES")
    return float(np.median(gsds)) * DEFAULT_GSD_FACTOR


def mosaic_frames(frames: list[PlacedFrame], out_path, kind: str, resolution: float | None,
                  notes: list[str], seam_pairs: int = MAX_PAIRS) -> MosaicFile | None:
    """Blend ``frames`` (one camera kind) into a COG at ``out_path``; ``None`` when none draws.
    Up to ``seam_pairs`` overlapping pairs are measured for agreement (:mod:`.seams`; 0: none)."""
    clear_leftovers(out_path, notes)
    zones = Counter(p.geo.epsg for p in frames)
    epsg = zones.most_common(1)[0][0]
    for p in frames:
        if p.geo.epsg != epsg:
            notes.append(f"{p.name}: in UTM zone EPSG:{p.geo.epsg}, the {kind} mosaic is in EPSG:{epsg}; left out")
    frames = [p for p in frames if p.geo.epsg == epsg]
    res = pick_resolution(frames, resolution)
    b = np.array([p.geo.footprint_utm.bounds for p in frames])
    bounds = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
    grid = Grid.covering(epsg, bounds, res)
    cells = grid.width * grid.height
    if cells > MAX_CELLS:
        coarser = res * float(np.sqrt(cells / MAX_CELLS)) * 1.01
        if resolution is not None:
            raise MosaicError(f"a {kind} mosaic at {res:g} m would be {grid.width} x {grid.height} cells, more than "
                              f"this computer is asked to draw ({MAX_CELLS:,}); use --resolution {coarser:.2f} or coarser")
        notes.append(f"{kind} mosaic: {res:.3f} m would be {grid.width} x {grid.height} cells; made at {coarser:.3f} m")
        res = coarser
        grid = Grid.covering(epsg, bounds, res)
    with ThreadPoolExecutor(THREADS, thread_name_prefix="mosaic") as pool:
        return _draw(frames, grid, kind, out_path, notes, seam_pairs, pool)


def _draw(frames, grid: Grid, kind: str, out_path, notes: list[str], seam_pairs: int, pool) -> MosaicFile | None:
    t = Counter()
    canvas, used, registered, warp_err = None, 0, 0, 0.0
    meter = SeamMeter(grid, [(p.name, p.geo.footprint_utm) for p in frames], seam_pairs, pool) if seam_pairs else None
    for i, p, window, got in warped(frames, grid, pool):
        if isinstance(got, Exception):
            notes.append(f"{p.name}: cannot be read now ({got}); left out of the {kind} mosaic")
        if not isinstance(got, Warped):
            if meter:
                meter.forget(i)
            continue
        t["decode"] += got.decode_s
        t["orthorectify"] += got.warp_s
        t0 = time.perf_counter()
        if canvas is None:
            canvas = Canvas(grid, 1 if got.warp.pixels.ndim == 2 else got.warp.pixels.shape[2], BLEND_CELLS * grid.res,
                            spill_dir=os.path.dirname(os.path.abspath(out_path)))
        pixels = match_bands(got.warp.pixels, canvas.bands)
        warp_err = max(warp_err, got.warp.max_err_cells)
        canvas.add(pixels, got.warp.valid, window, p.geo.camera.C[:2])
        t1 = time.perf_counter()
        t["blend"] += t1 - t0
        if meter:
            meter.add(i, pixels, got.warp.valid, window)
            t["seams"] += time.perf_counter() - t1
        used += 1
        registered += p.registered
    if canvas is None:
        notes.append(f"no {kind} frame could be drawn: no {kind} mosaic")
        return None
    t0 = time.perf_counter()
    try:
        write_cog_blocks(out_path, lambda *w: canvas.result(w), grid, thermal=canvas.bands == 1)
    finally:
        canvas.close()
    t1 = time.perf_counter()
    t["write"] = t1 - t0
    seams = meter.result() if meter else None      # the last pairs were measured while writing
    t["seams_wait"] = time.perf_counter() - t1
    return MosaicFile(kind, os.fspath(out_path), grid.epsg, grid.res, (grid.width, grid.height),
                      grid.window_bounds(0, 0, grid.width, grid.height), used, registered,
                      {k: round(v, 3) for k, v in t.items()}, warp_err, seams)


@dataclass
class Warped:
    """One frame decoded and warped onto its window, and what that took (in its thread)."""

    warp: FrameWarp
    decode_s: float
    warp_s: float


def _decode_and_warp(p: PlacedFrame, grid: Grid, window) -> Warped:
    from ..frames import decode_frame, read_frame_bytes

    r = _reduce_for(p, grid.res)
    t0 = time.perf_counter()
    img = decode_frame(read_frame_bytes(p.path), p.path, reduce=r)
    t1 = time.perf_counter()
    warp = warp_frame(img, p.geo, grid, window, r)
    return Warped(warp, t1 - t0, time.perf_counter() - t1)


def warped(frames: list[PlacedFrame], grid: Grid, pool):
    """``(index, frame, window, Warped | exception | None)`` in the frames' order; ``None``
    where the frame's footprint misses the grid.  Decoding and warping run up to ``THREADS``
    frames ahead in ``pool``'s threads (libjpeg, cv2.remap and numpy's large loops let go of
    the GIL) while the caller blends, so the blend no longer waits for the next decode."""
    jobs = ((i, p, grid.window(p.geo.footprint_utm.bounds)) for i, p in enumerate(frames))
    ahead: deque = deque()

    def submit():
        for i, p, w in jobs:
            empty = w[2] <= w[0] or w[3] <= w[1]
            ahead.append((i, p, w, None if empty else pool.submit(_decode_and_warp, p, grid, w)))
            if not empty:
                return

    for _ in range(THREADS + 1):
        submit()
    while ahead:
        i, p, w, fut = ahead.popleft()
        if fut is None:
            yield i, p, w, None
            continue
        submit()
        try:
            yield i, p, w, fut.result()
        except (FrameError, OSError) as exc:
            yield i, p, w, exc


def match_bands(img: np.ndarray, bands: int) -> np.ndarray:
    """A frame with the canvas's number of bands (a thermal camera may mix grey and colour files)."""
    import cv2

    n = 1 if img.ndim == 2 else img.shape[2]
    if n == bands:
        return img
    if bands == 1:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8), cv2.COLOR_GRAY2BGR)
