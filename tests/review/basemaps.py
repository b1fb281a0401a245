"""Small real base maps for the review tests: a GeoTIFF in UTM written with rasterio and an
MBTiles SQLite file of PNG tiles, both drawn as a chequer of known colours so a test can tell
the base map's pixels from the empty map and from the mosaic."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import cv2
import numpy as np

BASE_RGB = (40, 160, 60)     # a green no mosaic or empty map has
CHEQUER = (200, 220, 90)     # the other square: the map has texture, as a real one


def chequer(h: int, w: int, cell: int = 16) -> np.ndarray:
    """(3, h, w) uint8 of the two colours in squares of ``cell`` pixels."""
    yy, xx = np.mgrid[0:h, 0:w]
    odd = ((yy // cell + xx // cell) % 2).astype(bool)
    return np.stack([np.where(odd, b, a) for a, b in zip(BASE_RGB, CHEQUER)]).astype(np.uint8)


def write_utm_geotiff(path: Path, lat: float, lon: float, half_m: float = 1000.0, cell_m: float = 5.0,
                      east_shift_m: float = 0.0) -> Path:
    """A three-band GeoTIFF in UTM zone 52N (the park's zone), ``half_m`` around lat/lon."""
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    x, y = Transformer.from_crs(4326, 32652, always_xy=True).transform(lon, lat)
    n = int(2 * half_m / cell_m)
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=3, dtype="uint8", crs="EPSG:32652",
                       transform=from_origin(x + east_shift_m - half_m, y + half_m, cell_m, cell_m)) as ds:
        ds.write(chequer(n, n))
    return path


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2
    return int((lon + 180) / 360 * n), int(y * n)


def write_mbtiles(path: Path, lat: float, lon: float, zooms=(16, 17), around: int = 3,
                  fmt: str = "png") -> Path:
    """An MBTiles file of 256 px tiles, ``around`` tiles each side of lat/lon at each zoom."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    con.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "park"), ("format", fmt)])
    ext = ".png" if fmt != "jpg" else ".jpg"
    for z in zooms:
        cx, cy = _tile_xy(lon, lat, z)
        for x in range(cx - around, cx + around + 1):
            for y in range(cy - around, cy + around + 1):
                rgb = chequer(256, 256, 32)
                ok, buf = cv2.imencode(ext, np.moveaxis(rgb, 0, 2)[..., ::-1].copy())
                con.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, 2 ** z - 1 - y, buf.tobytes()))
    con.commit()
    con.close()
    return path
