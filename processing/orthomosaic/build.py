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
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from uav.errors import FrameError, InvalidInputError, MosaicError

from .blend import Canvas, Grid
from .cog import write_cog
from .poses import PlacedFrame
from .seams import MAX_PAIRS, SeamAgreement, SeamMeter
from .warp import warp_frame

__all__ = ["MosaicFile", "mosaic_frames", "DEFAULT_GSD_FACTOR", "MAX_CELLS"]

DEFAULT_GSD_FACTOR = 4.0     # default cell: the frames' median GSD x 4 (issue 24)
MAX_CELLS = 60_000_000       # about 1.4 GB of float32 sums for colour; coarser beyond this
BLEND_CELLS = 3.0            # seam cross-fade and edge fade, in cells (see .blend)
# A frame whose pixel at 1/r is at most this much coarser than a cell is decoded at 1/r: the
# median GSD sets the cell, so without it half the frames (GSD a hair above the median) would
# be decoded at twice the size for no visible gain.
REDUCE_SLACK = 1.05


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
    from ..frames import decode_frame, read_frame_bytes

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
                              f"this computer is asked to hold ({MAX_CELLS:,}); use --resolution {coarser:.2f} or coarser")
        notes.append(f"{kind} mosaic: {res:.3f} m would be {grid.width} x {grid.height} cells; made at {coarser:.3f} m")
        res = coarser
        grid = Grid.covering(epsg, bounds, res)
    t = Counter()
    canvas, used, registered, warp_err = None, 0, 0, 0.0
    meter = SeamMeter(grid, [(p.name, p.geo.footprint_utm) for p in frames], seam_pairs) if seam_pairs else None
    for i, p in enumerate(frames):
        window = grid.window(p.geo.footprint_utm.bounds)
        if window[2] <= window[0] or window[3] <= window[1]:
            if meter:
                meter.forget(i)
            continue
        r = _reduce_for(p, res)
        t0 = time.perf_counter()
        try:
            img = decode_frame(read_frame_bytes(p.path), p.path, reduce=r)
        except (FrameError, OSError) as exc:
            notes.append(f"{p.name}: cannot be read now ({exc}); left out of the {kind} mosaic")
            if meter:
                meter.forget(i)
            continue
        t1 = time.perf_counter()
        if canvas is None:
            canvas = Canvas(grid, 1 if img.ndim == 2 else img.shape[2], BLEND_CELLS * res)
        img = _match_bands(img, canvas.bands)
        warped = warp_frame(img, p.geo, grid, window, r)
        warp_err = max(warp_err, warped.max_err_cells)
        t2 = time.perf_counter()
        canvas.add(warped.pixels, warped.valid, window, p.geo.camera.C[:2])
        t["decode"] += t1 - t0
        t["orthorectify"] += t2 - t1
        t3 = time.perf_counter()
        t["blend"] += t3 - t2
        if meter:
            meter.add(i, warped.pixels, warped.valid, window)
            t["seams"] += time.perf_counter() - t3
        used += 1
        registered += p.registered
    if canvas is None:
        notes.append(f"no {kind} frame could be drawn: no {kind} mosaic")
        return None
    t0 = time.perf_counter()
    pixels, seen = canvas.result()
    del canvas
    write_cog(out_path, pixels, seen, grid, thermal=pixels.shape[2] == 1)
    t["write"] = time.perf_counter() - t0
    return MosaicFile(kind, os.fspath(out_path), epsg, res, (grid.width, grid.height),
                      grid.window_bounds(0, 0, grid.width, grid.height), used, registered,
                      {k: round(v, 3) for k, v in t.items()}, warp_err, meter.result() if meter else None)


def _match_bands(img: np.ndarray, bands: int) -> np.ndarray:
    """A frame with the canvas's number of bands (a thermal camera may mix grey and colour files)."""
    import cv2

    n = 1 if img.ndim == 2 else img.shape[2]
    if n == bands:
        return img
    if bands == 1:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8), cv2.COLOR_GRAY2BGR)
