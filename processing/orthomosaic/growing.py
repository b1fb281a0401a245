"""The flight's mosaic grown as its frames come in (``uav process --watch --mosaic``).

A watch never ends, so its mosaic cannot wait for the last frame: after each batch the frames
processed since are warped and blended into canvases (one per camera kind; in tiles, the most
recently drawn in memory and the rest on disk: :class:`~.blend.Canvas`), and the file is
written again, at most every ``write_every_s`` and once more when the watch stops,
so a GIS or the review page shows the sortie so far.  The file is rewritten whole, aside and
renamed into place (:mod:`.cog`): nothing ever opens half of it.

The cell is chosen from the first batch (its median GSD × 4 unless given) and kept: a mosaic
whose cells changed under it would have to be drawn again from every frame.  A canvas's grid
has a margin around its frames and grows (onto a larger grid whose lines fall on the same
multiples of the cell; its tiles stay where they are) when a frame falls outside it; the file
is cut to the frames' own extent.  So, frames added in the same order, the last file is the mosaic
``uav mosaic --resolution`` draws from the same poses.  Not done while growing: the seam check
(it needs both warps of a pair at once); ``uav mosaic`` after the flight measures the seams, and
draws registered frames from their final poses.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from uav.errors import InvalidInputError

from ..store import FlightStore
from .blend import Canvas, Grid
from .build import (
    BLEND_CELLS,
    MAX_CELLS,
    THREADS,
    MosaicFile,
    Warped,
    match_bands,
    pick_resolution,
    warped,
)
from .cog import write_cog_blocks
from .leftovers import clear_leftovers
from .poses import PlacedFrame, flight_ground, placed_frames
from .result import MosaicResult, default_mosaic_path, thermal_path

__all__ = ["GrowingMosaic", "WRITE_EVERY_S"]

WRITE_EVERY_S = 30.0      # a survey frame comes every 2-3 s; rewriting a large COG takes ~1 s
GROW_SHARE = 0.25         # a canvas is allocated this share of its frames' extent wider on each side
GROW_MIN_CELLS = 256      # and at least this many cells: a few grows per flight, not one per frame


@dataclass
class _Layer:
    """One camera kind's mosaic: its file, grid and what is blended in so far."""

    kind: str
    path: str
    epsg: int
    res: float
    grid: Grid | None = None            # the allocated canvas's grid (larger than the frames)
    canvas: Canvas | None = None
    bounds: tuple | None = None         # the drawn frames' footprints, UTM
    frames: int = 0
    registered: int = 0
    warp_err: float = 0.0
    dirty: bool = False


def _union(a, b):
    return b if a is None else (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _inside(grid: Grid, bounds) -> bool:
    gx0, gy0, gx1, gy1 = grid.window_bounds(0, 0, grid.width, grid.height)
    return gx0 <= bounds[0] and gy0 <= bounds[1] and bounds[2] <= gx1 and bounds[3] <= gy1


def _cells(grid: Grid) -> int:
    return grid.width * grid.height


class GrowingMosaic:
    """A flight's mosaic kept in memory and grown batch by batch (see the module's text).

    ``update()`` after each batch draws the frames processed since and rewrites the file when
    due; ``finish()`` writes what is not yet on disk.  Parameters are those of
    :func:`~processing.orthomosaic.build_mosaic`, plus ``write_every_s``.
    """

    def __init__(self, gpkg, out=None, *, resolution: float | None = None, dem=None,
                 ground_elevation: float | None = None, camera=None, write_every_s: float = WRITE_EVERY_S):
        if resolution is not None and not (resolution > 0 and np.isfinite(resolution)):
            raise InvalidInputError(f"--mosaic-resolution must be a ground size in metres above 0, got {resolution}")
        self.gpkg = os.fspath(gpkg)
        self.out = os.fspath(out) if out else default_mosaic_path(gpkg)
        self.resolution, self.dem, self.ground_elevation, self.camera = resolution, dem, ground_elevation, camera
        self.write_every_s = float(write_every_s)
        self.notes: list[str] = []
        self._layers: dict[str, _Layer] = {}
        self._seen: set[int] = set()
        self._ground = None
        self._last_write = -np.inf
        self._said = 0

    @property
    def frames(self) -> int:
        return sum(layer.frames for layer in self._layers.values())

    @property
    def cell_m(self) -> float | None:
        """The cell chosen for the flight (the colour mosaic's when there are two); None before
        the first frame."""
        layer = self._layers.get("colour") or next(iter(self._layers.values()), None)
        return None if layer is None else layer.res

    @property
    def grids(self) -> dict[str, Grid]:
        """Each camera kind's canvas grid so far (it has a margin around the frames)."""
        return {kind: layer.grid for kind, layer in self._layers.items() if layer.grid is not None}

    def update(self) -> MosaicResult | None:
        """Draw the frames written as done since the last call; rewrite the file(s) when
        ``write_every_s`` has passed since the last write (the first batch at once).  Returns
        what was written, or None."""
        with FlightStore.open(self.gpkg) as store:
            if self._ground is None:
                self._ground = flight_ground(store, self.dem, self.ground_elevation)
            new = [f for f in store.frames("done") if f.fid not in self._seen]
            frames, notes = placed_frames(store, self._ground, self.camera, frames=new)
        self._seen.update(f.fid for f in new)
        self.notes += notes
        for kind in ("colour", "thermal"):
            group = [p for p in frames if p.thermal == (kind == "thermal")]
            if group:
                self._draw(kind, group)
        if time.monotonic() - self._last_write >= self.write_every_s:
            return self.write()
        return None

    def finish(self) -> MosaicResult | None:
        """Write whatever was drawn since the last write (the watch stopping); None if nothing."""
        return self.write()

    def write(self) -> MosaicResult | None:
        """Write every layer with frames not yet on disk and record the file for ``uav review``;
        what was written and the notes not yet said (None: neither)."""
        t0 = time.perf_counter()
        written = []
        for layer in self._layers.values():
            if not layer.dirty or layer.canvas is None:
                continue
            grid = Grid.covering(layer.epsg, layer.bounds, layer.res)
            a = layer.grid
            c0, r0 = round((grid.x0 - a.x0) / a.res), round((a.y1 - grid.y1) / a.res)

            def read(a, b, c, d, canvas=layer.canvas, dc=c0, dr=r0):     # file blocks -> canvas cells
                return canvas.result((a + dc, b + dr, c + dc, d + dr))

            write_cog_blocks(layer.path, read, grid, thermal=layer.canvas.bands == 1)
            layer.dirty = False
            written.append(MosaicFile(layer.kind, layer.path, grid.epsg, grid.res, (grid.width, grid.height),
                                      grid.window_bounds(0, 0, grid.width, grid.height), layer.frames,
                                      layer.registered, {"write": round(time.perf_counter() - t0, 3)},
                                      layer.warp_err))
        self._last_write = time.monotonic()
        if written:
            with FlightStore.open(self.gpkg) as store:
                first = self._layers.get("colour") or next(iter(self._layers.values()))
                store.set_meta("mosaic", os.path.abspath(first.path))
                store.set_meta("mosaic_seams", None)    # not measured while growing
        notes, self._said = self.notes[self._said:], len(self.notes)
        if not (written or notes):
            return None
        return MosaicResult(written, notes, time.perf_counter() - t0)

    def _layer(self, kind: str, group: list[PlacedFrame]) -> _Layer:
        layer = self._layers.get(kind)
        if layer is None:
            epsg = Counter(p.geo.epsg for p in group).most_common(1)[0][0]
            res = pick_resolution([p for p in group if p.geo.epsg == epsg], self.resolution)
            path = self.out
            if self._layers:        # the other kind came first and holds OUT
                stem, ext = os.path.splitext(self.out)
                path = thermal_path(self.out) if kind == "thermal" else f"{stem}_colour{ext or '.tif'}"
            layer = self._layers[kind] = _Layer(kind, path, epsg, res)
            clear_leftovers(path, self.notes)
        return layer

    def _draw(self, kind: str, group: list[PlacedFrame]) -> None:
        layer = self._layer(kind, group)
        keep = []
        for p in group:
            if p.geo.epsg != layer.epsg:
                self.notes.append(f"{p.name}: in UTM zone EPSG:{p.geo.epsg}, the {kind} mosaic is in "
                                  f"EPSG:{layer.epsg}; left out")
                continue
            grown = _union(layer.bounds, p.geo.footprint_utm.bounds)
            if _cells(Grid.covering(layer.epsg, grown, layer.res)) > MAX_CELLS:
                self.notes.append(f"{p.name}: the {kind} mosaic would grow past {MAX_CELLS:,} cells at "
                                  f"{layer.res:.3f} m; left out (after the flight, `uav mosaic` with a "
                                  "coarser --resolution draws every frame)")
                continue
            layer.bounds = grown
            keep.append(p)
        if not keep:
            return
        self._allocate(layer)
        with ThreadPoolExecutor(THREADS, thread_name_prefix="mosaic") as pool:
            for _, p, window, got in warped(keep, layer.grid, pool):
                if isinstance(got, Exception):
                    self.notes.append(f"{p.name}: cannot be read now ({got}); left out of the {kind} mosaic")
                if not isinstance(got, Warped):
                    continue
                if layer.canvas is None:
                    bands = 1 if got.warp.pixels.ndim == 2 else got.warp.pixels.shape[2]
                    layer.canvas = Canvas(layer.grid, bands, BLEND_CELLS * layer.res,
                                          spill_dir=os.path.dirname(os.path.abspath(layer.path)))
                pixels = match_bands(got.warp.pixels, layer.canvas.bands)
                layer.canvas.add(pixels, got.warp.valid, window, p.geo.camera.C[:2])
                layer.warp_err = max(layer.warp_err, got.warp.max_err_cells)
                layer.frames += 1
                layer.registered += p.registered
                layer.dirty = True

    def _allocate(self, layer: _Layer) -> None:
        """Make the layer's canvas cover its frames: as it is, or grown with a margin."""
        if layer.grid is not None and _inside(layer.grid, layer.bounds):
            return
        x0, y0, x1, y1 = layer.bounds
        m = max(GROW_SHARE * max(x1 - x0, y1 - y0), GROW_MIN_CELLS * layer.res)
        grid = Grid.covering(layer.epsg, (x0 - m, y0 - m, x1 + m, y1 + m), layer.res)
        if layer.grid is not None:      # keep the margin already there where it fits
            grid = Grid.covering(layer.epsg, _union(grid.window_bounds(0, 0, grid.width, grid.height),
                                                    layer.grid.window_bounds(0, 0, layer.grid.width,
                                                                             layer.grid.height)), layer.res)
        if _cells(grid) > MAX_CELLS:     # no room for a margin: exactly the frames
            grid = Grid.covering(layer.epsg, layer.bounds, layer.res)
        if layer.canvas is not None:
            layer.canvas = layer.canvas.moved(grid)
        layer.grid = grid
