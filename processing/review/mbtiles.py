"""An MBTiles file (SQLite of PNG/JPEG web-map tiles) as one georeferenced picture of an area.

A park's offline map often comes as MBTiles (QGIS, MOBAC, TileMill write them): tiles in Web
Mercator, rows counted from the south (TMS), one table per zoom level.  For the review page we
need only the tiles around one flight, at one zoom: sharp enough that the flight spans a useful
number of pixels, not so sharp that thousands of tiles are decoded.  They are pasted into one
RGBA array in EPSG:3857; the caller reprojects it like any GeoTIFF.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uav.errors import BaseMapError

__all__ = ["MbtilesPicture", "is_mbtiles", "read_mbtiles", "MIN_FLIGHT_PX", "MAX_TILES"]

R = 6378137.0            # the sphere of Web Mercator
MIN_FLIGHT_PX = 64       # coarser than this, the flight is a smudge: the zoom is no use
MAX_TILES = 1024         # about 8000 px square: more is slow to decode and too big to send
RASTER_FORMATS = {"png", "jpg", "jpeg", "webp"}


@dataclass(frozen=True)
class MbtilesPicture:
    rgba: np.ndarray                                     # (4, h, w) uint8
    bounds_3857: tuple[float, float, float, float]       # west, south, east, north (metres)
    zoom: int
    tiles: int


def is_mbtiles(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def _tile_xy(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Fractional tile column and row (counted from the north, as on the web) at zoom z."""
    n = 2 ** z
    lat = max(min(lat, 85.0511), -85.0511)
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2
    return (lon + 180.0) / 360.0 * n, y * n


def _tile_range(area, z: int) -> tuple[int, int, int, int]:
    west, south, east, north = area
    x0, y0 = _tile_xy(west, north, z)
    x1, y1 = _tile_xy(east, south, z)
    top = 2 ** z - 1
    return (max(0, int(x0)), max(0, int(y0)), min(top, int(x1)), min(top, int(y1)))


def _span_px(area, z: int, tile_px: int) -> float:
    x0, y0 = _tile_xy(area[0], area[3], z)
    x1, y1 = _tile_xy(area[2], area[1], z)
    return max(x1 - x0, y1 - y0) * tile_px


def _connect(path: Path) -> sqlite3.Connection:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    except sqlite3.DatabaseError as exc:
        raise BaseMapError(f"the base map {path} is not a readable MBTiles file ({exc})") from None
    if "tiles" not in names:
        con.close()
        raise BaseMapError(f"the base map {path} is an SQLite file but not MBTiles (it has no 'tiles' table)")
    return con


def _check_format(con, path: Path) -> None:
    try:
        fmt = con.execute("SELECT value FROM metadata WHERE name = 'format'").fetchone()
    except sqlite3.DatabaseError:
        fmt = None
    fmt = (fmt[0] or "").strip().lower() if fmt else ""
    if fmt and fmt not in RASTER_FORMATS:
        raise BaseMapError(f"the base map {path} holds {fmt} tiles (vector data?); the review map can draw "
                           "only picture tiles (PNG or JPEG): export the map as raster MBTiles")


def _decode(blob: bytes, path: Path, where: str) -> np.ndarray:
    import cv2

    im = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
    if im is None:
        raise BaseMapError(f"the base map {path} has a tile ({where}) that is not a PNG or JPEG picture")
    if im.ndim == 2:
        im = cv2.cvtColor(im, cv2.COLOR_GRAY2BGRA)
    elif im.shape[2] == 3:
        im = cv2.cvtColor(im, cv2.COLOR_BGR2BGRA)
    if im.dtype != np.uint8:
        im = (im / 257).astype(np.uint8)
    return im[..., [2, 1, 0, 3]]          # RGBA


def _choose_zoom(con, path: Path, area, flight, tile_px: int) -> int:
    """The most detailed zoom with tiles in the area that stays under MAX_TILES."""
    zooms = [r[0] for r in con.execute("SELECT DISTINCT zoom_level FROM tiles ORDER BY zoom_level")]
    covering = []
    for z in zooms:
        x0, y0, x1, y1 = _tile_range(area, z)
        # MBTiles rows count from the south
        n = con.execute("SELECT count(*) FROM tiles WHERE zoom_level = ? AND tile_column BETWEEN ? AND ? "
                        "AND tile_row BETWEEN ? AND ?", (z, x0, x1, 2 ** z - 1 - y1, 2 ** z - 1 - y0)).fetchone()[0]
        if n:
            covering.append((z, (x1 - x0 + 1) * (y1 - y0 + 1)))
    if not covering:
        raise BaseMapError(f"the base map {path} does not cover the flight: it has no tile near "
                           f"{(flight[1] + flight[3]) / 2:.4f}, {(flight[0] + flight[2]) / 2:.4f} (lat, lon) at any zoom")
    useful = [(z, n) for z, n in covering if _span_px(flight, z, tile_px) >= MIN_FLIGHT_PX]
    if not useful:
        z = covering[-1][0]
        need = next(k for k in range(z, 25) if _span_px(flight, k, tile_px) >= MIN_FLIGHT_PX)
        raise BaseMapError(
            f"the base map {path} has no tiles at the flight's zoom: near the flight its most detailed tiles "
            f"are zoom {z}, where the whole flight is {_span_px(flight, z, tile_px):.0f} pixels across; "
            f"it needs tiles of zoom {need} or more")
    fitting = [z for z, n in useful if n <= MAX_TILES]
    if not fitting:
        z, n = useful[0]
        raise BaseMapError(f"the base map {path} has tiles near the flight only at zoom {z} and finer, "
                           f"{n} tiles to draw the flight's area; add coarser zoom levels to it "
                           f"(at most {MAX_TILES} tiles around the flight)")
    return fitting[-1]


def read_mbtiles(path, area, flight) -> MbtilesPicture:
    """The tiles of ``path`` over ``area`` (lon/lat bounds) pasted into one RGBA picture.

    ``flight`` (the footprints' bounds) decides which zoom is sharp enough.  Errors name the
    file and what is wrong: not MBTiles, vector tiles, nothing near the flight, too coarse.
    """
    path = Path(path)
    con = _connect(path)
    try:
        _check_format(con, path)
        first = con.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
        if first is None:
            raise BaseMapError(f"the base map {path} is an MBTiles file with no tiles in it")
        tile_px = _decode(first[0], path, "the first one").shape[0]
        z = _choose_zoom(con, path, area, flight, tile_px)
        x0, y0, x1, y1 = _tile_range(area, z)
        rgba = np.zeros((4, (y1 - y0 + 1) * tile_px, (x1 - x0 + 1) * tile_px), np.uint8)
        n = 0
        for col, row, blob in con.execute(
                "SELECT tile_column, tile_row, tile_data FROM tiles WHERE zoom_level = ? AND tile_column "
                "BETWEEN ? AND ? AND tile_row BETWEEN ? AND ?", (z, x0, x1, 2 ** z - 1 - y1, 2 ** z - 1 - y0)):
            y = 2 ** z - 1 - row
            im = _decode(blob, path, f"zoom {z}, column {col}, row {row}")
            if im.shape[:2] != (tile_px, tile_px):
                raise BaseMapError(f"the base map {path} mixes tile sizes ({im.shape[1]} and {tile_px} pixels)")
            r, c = (y - y0) * tile_px, (col - x0) * tile_px
            rgba[:, r:r + tile_px, c:c + tile_px] = np.moveaxis(im, 2, 0)
            n += 1
    except sqlite3.DatabaseError as exc:
        raise BaseMapError(f"the base map {path} cannot be read as MBTiles ({exc})") from None
    finally:
        con.close()
    world = 2 * math.pi * R
    n_world = 2 ** z
    bounds = (x0 / n_world * world - world / 2, world / 2 - (y1 + 1) / n_world * world,
              (x1 + 1) / n_world * world - world / 2, world / 2 - y0 / n_world * world)
    return MbtilesPicture(rgba, bounds, z, n)
