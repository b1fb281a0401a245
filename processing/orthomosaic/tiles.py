"""A mosaic canvas's sums in square tiles: the most recently drawn held in memory, the rest in
files, so a park-wide mosaic takes the memory of a few flight lines (:class:`.blend.Canvas`).

Tiles exist only where a frame was drawn.  Past the memory budget the least recently used one
is written to a hidden folder (under the mosaic's own folder, where there is room for the
mosaic anyway; removed with the canvas) and read back when a frame or the writer needs it.
The folder names the process that owns it, so one a killed run left is removed by the next
(:func:`remove_dead_tiles`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from uav.files import owner_gone, owner_tag

__all__ = ["Tile", "Tiles", "TILE", "MEMORY_MB", "remove_dead_tiles"]

TILE = 512          # cells a side: a tile of colour sums is 5 MB
MEMORY_MB = 512.0   # a canvas's tiles held in memory (about 100 colour tiles, 26 M cells)
PREFIX = ".uav-mosaic-tiles-"
OWNER = "owner"     # in a tile folder: the owner_tag of the process drawing into it


class Tile:
    """One tile's weighted sums, their weights and the largest log-weight per cell (.blend)."""

    __slots__ = ("acc", "wsum", "logmax")

    def __init__(self, bands: int):
        self.acc = np.zeros((TILE, TILE, bands), np.float32)
        self.wsum = np.zeros((TILE, TILE), np.float32)
        self.logmax = np.full((TILE, TILE), -np.inf, np.float32)


class Tiles:
    """A canvas's tiles by (tile row, tile column): the most recently used in memory (at most
    ``memory_mb``), the rest in files in a folder of their own under ``spill_dir``."""

    def __init__(self, bands: int, bytes_per_cell: int, memory_mb: float, spill_dir):
        self.bands = bands
        self.limit = max(1, int(memory_mb * 2**20 // (TILE * TILE * bytes_per_cell)))
        self.spill_dir = spill_dir
        self.held: OrderedDict[tuple[int, int], Tile] = OrderedDict()
        self.on_disk: set[tuple[int, int]] = set()
        self._folder = None

    @property
    def spilled(self) -> int:
        return len(self.on_disk)

    def cover(self, r0: int, c0: int, r1: int, c1: int, create: bool = True):
        """``(tile, (row, col) in it, (row, col) in canvas cells, (rows, cols))`` for each tile
        the cells ``[r0, r1) x [c0, c1)`` fall on; without ``create``, only tiles that exist."""
        for tr in range(r0 // TILE, -(-r1 // TILE)):
            for tc in range(c0 // TILE, -(-c1 // TILE)):
                key = (tr, tc)
                if not create and key not in self.held and key not in self.on_disk:
                    continue
                ar0, ac0 = max(r0, tr * TILE), max(c0, tc * TILE)
                ar1, ac1 = min(r1, (tr + 1) * TILE), min(c1, (tc + 1) * TILE)
                yield self.get(key), (ar0 - tr * TILE, ac0 - tc * TILE), (ar0, ac0), (ar1 - ar0, ac1 - ac0)

    def get(self, key) -> Tile:
        tile = self.held.get(key)
        if tile is not None:
            self.held.move_to_end(key)
            return tile
        if key in self.on_disk:
            tile = Tile.__new__(Tile)
            with np.load(self._path(key)) as f:
                tile.acc, tile.wsum, tile.logmax = f["acc"], f["wsum"], f["logmax"]
            self.on_disk.discard(key)
            os.unlink(self._path(key))
        else:
            tile = Tile(self.bands)
        while len(self.held) >= self.limit:
            self._spill(*self.held.popitem(last=False))
        self.held[key] = tile
        return tile

    def _spill(self, key, tile: Tile) -> None:
        from uav.errors import MosaicError

        try:
            if self._folder is None:
                self._folder = tempfile.TemporaryDirectory(prefix=PREFIX, dir=self.spill_dir)
                Path(self._folder.name, OWNER).write_text(owner_tag())
            np.savez(self._path(key), acc=tile.acc, wsum=tile.wsum, logmax=tile.logmax)
        except OSError as exc:
            raise MosaicError(f"the mosaic is larger than the memory it may take and its tiles cannot be "
                              f"kept on disk ({exc}); free some disk space or use a coarser resolution") from None
        self.on_disk.add(key)

    def close(self) -> None:
        self.held.clear()
        self.on_disk.clear()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def _path(self, key) -> str:
        return os.path.join(self._folder.name, f"{key[0]}_{key[1]}.npz")


def remove_dead_tiles(folder) -> int:
    """Remove the tile folders under ``folder`` whose process has ended without removing them
    (killed outright: the canvas never closed); return the bytes freed.  A folder whose owner
    cannot be told (no mark, another computer's) is left alone."""
    freed = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for d in folder.glob(PREFIX + "*"):
        try:
            tag = (d / OWNER).read_text().strip()
        except OSError:
            continue
        if owner_gone(tag):
            freed += sum(f.stat().st_size for f in d.iterdir() if f.is_file())
            shutil.rmtree(d, ignore_errors=True)
    return freed
