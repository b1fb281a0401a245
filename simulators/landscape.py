"""The landscape raster under a simulated scene: land cover and the ground texture.

A forest of tree crowns with fields, lakes, glades and a gravel road, rasterised north up on a
grid of UTM metres, deterministic from a seed.  The scene (:mod:`simulators.scene`) owns the
grid and the road; this module paints them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from shapely.geometry import LineString

from .noise import value_noise

# Landscape classes in the land-cover raster.
FOREST, FIELD, WATER, MEADOW, ROAD = 0, 1, 2, 3, 4

# Largest ground texture (pixels, both sides together); a bigger area gets a coarser texture.
MAX_TEXTURE_PX = 40_000_000
# cv2.remap/warpPerspective index with signed shorts: keep each side below this.
MAX_TEXTURE_SIDE = 16_000


@dataclass(frozen=True)
class Grid:
    """The texture raster's place on the ground: a north-up box of UTM metres and its pixels."""

    x0: float
    y0: float
    x1: float
    y1: float
    resolution_m: float
    width_px: int
    height_px: int

    @classmethod
    def covering(cls, x0: float, y0: float, x1: float, y1: float, resolution_m: float) -> Grid:
        """A grid over the box at ``resolution_m``, coarsened so the texture stays in memory."""
        w, h = x1 - x0, y1 - y0
        res = max(float(resolution_m), math.sqrt(w * h / MAX_TEXTURE_PX), max(w, h) / MAX_TEXTURE_SIDE)
        return cls(x0, y0, x1, y1, res, int(math.ceil(w / res)), int(math.ceil(h / res)))

    def col(self, x) -> int:
        return int(np.clip((x - self.x0) / self.resolution_m, 0, self.width_px - 1))

    def row(self, y) -> int:
        return int(np.clip((self.y1 - y) / self.resolution_m, 0, self.height_px - 1))

    @property
    def to_ground(self) -> np.ndarray:
        """3x3 matrix: texture pixel (col, row; integer = pixel centre) -> UTM x, y."""
        r = self.resolution_m
        return np.array([[r, 0.0, self.x0 + 0.5 * r],
                         [0.0, -r, self.y1 - 0.5 * r],
                         [0.0, 0.0, 1.0]])

    def pixels(self, line: LineString) -> np.ndarray:
        """A metric line's vertices as integer texture pixels (col, row), for OpenCV drawing."""
        xy = np.asarray(line.coords)
        r = self.resolution_m
        return np.column_stack([(xy[:, 0] - self.x0) / r - 0.5,
                                (self.y1 - xy[:, 1]) / r - 0.5]).round().astype(np.int32)


@dataclass
class LandCover:
    """The land-cover raster (FOREST/FIELD/WATER/MEADOW/ROAD) and the fields drawn on it."""

    cover: np.ndarray
    fields: list = field(default_factory=list)  # (box corners in pixels, angle in degrees)


def meandering_road(grid: Grid, seed: int) -> LineString:
    """A forest road (UTM metres) across the longer side, entering and leaving opposite edges."""
    rng = np.random.default_rng([seed, 3])
    w, h = grid.x1 - grid.x0, grid.y1 - grid.y0
    n = 9
    t = np.linspace(-0.05, 1.05, n)
    wobble = np.cumsum(rng.normal(0, 0.08, n))
    wobble -= np.linspace(wobble[0], wobble[-1], n)
    base = rng.uniform(0.3, 0.7)
    drift = rng.uniform(-0.15, 0.15)
    across = np.clip(base + drift * (t - 0.5) + wobble, 0.12, 0.88)
    if w >= h:
        pts = np.column_stack([grid.x0 + t * w, grid.y0 + across * h])
    else:
        pts = np.column_stack([grid.x0 + across * w, grid.y0 + t * h])
    for _ in range(3):  # Chaikin smoothing: a road bends, it does not kink
        q = 0.75 * pts[:-1] + 0.25 * pts[1:]
        r = 0.25 * pts[:-1] + 0.75 * pts[1:]
        pts = np.vstack([pts[:1], np.column_stack([q, r]).reshape(-1, 2), pts[-1:]])
    return LineString(pts)


def paint_land_cover(grid: Grid, seed: int, road_px: np.ndarray) -> LandCover:
    """Forest with lakes, glades and ploughed fields, and the road with its verges."""
    h, w, r = grid.height_px, grid.width_px, grid.resolution_m
    rng = np.random.default_rng([seed, 1])
    cover = np.full((h, w), FOREST, np.uint8)
    lake = value_noise((h, w), 180.0 / r, rng, octaves=3)
    cover[lake < np.quantile(lake[::8, ::8], 0.05)] = WATER
    glade = value_noise((h, w), 70.0 / r, rng, octaves=2)
    cover[(glade > np.quantile(glade[::8, ::8], 0.88)) & (cover != WATER)] = MEADOW
    fields = []
    area_km2 = (grid.x1 - grid.x0) * (grid.y1 - grid.y0) / 1e6
    for _ in range(int(np.clip(round(area_km2 * 4), 1, 60))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        a, b = rng.uniform(60, 240) / r, rng.uniform(40, 160) / r
        ang = rng.uniform(0, 180)
        box = cv2.boxPoints(((cx, cy), (a, b), ang)).astype(np.int32)
        region, mask = _poly_region(box, h, w)
        if mask is None:
            continue
        sub = cover[region]
        sub[(mask == 1) & (sub != WATER)] = FIELD
        fields.append((box, ang))
    cv2.polylines(cover, [road_px], False, MEADOW, max(1, int(round(12.0 / r))), cv2.LINE_8)
    cv2.polylines(cover, [road_px], False, ROAD, max(1, int(round(6.0 / r))), cv2.LINE_8)
    return LandCover(cover, fields)


def paint_texture(grid: Grid, seed: int, land: LandCover, road_px: np.ndarray,
                  sun_azimuth_deg: float, sun_elevation_deg: float) -> np.ndarray:
    """The ground texture, BGR uint8, north up, ``grid.resolution_m`` per pixel."""
    cover = land.cover
    h, w, r = grid.height_px, grid.width_px, grid.resolution_m
    rng = np.random.default_rng([seed, 2])
    tone = value_noise((h, w), 25.0 / r, rng, octaves=3) - 0.5

    # Forest: a dark canopy of sunlit crowns with shadows on the side away from the sun.
    # Big float images are built once and filled class by class, in place, to keep a
    # square kilometre at a few seconds and a few hundred megabytes.
    tex = np.empty((h, w, 3), np.float32)
    tex[:] = (28, 52, 26)
    tex += tone[..., None] * np.array([10, 22, 10], np.float32)
    _draw_crowns(tex, cover, rng, r, sun_azimuth_deg, sun_elevation_deg)

    fine = value_noise((h, w), 1.5 / r, rng, octaves=2) - 0.5
    ys, xs = np.nonzero(cover == MEADOW)
    tex[ys, xs] = (np.array([70, 140, 115], np.float32) + tone[ys, xs, None] * np.array([20, 40, 30], np.float32)
                   + fine[ys, xs, None] * 30)

    field_colours = [(60, 150, 160), (70, 110, 140), (50, 140, 110), (80, 170, 180), (55, 95, 120)]
    for box, ang in land.fields:
        colour = np.array(field_colours[int(rng.integers(len(field_colours)))], np.float32)
        period = rng.uniform(1.2, 3.0) / r  # plough or crop rows
        region, mask = _poly_region(box, h, w)
        if mask is None:
            continue
        ys, xs = np.nonzero((mask == 1) & (cover[region] == FIELD))
        ys, xs = ys + region[0].start, xs + region[1].start
        t = np.radians(ang)
        stripes = 0.5 + 0.5 * np.sin((xs * np.cos(t) + ys * np.sin(t)) * (2 * np.pi / period))
        tex[ys, xs] = colour * (0.85 + 0.25 * stripes[:, None]) + tone[ys, xs, None] * 25

    wet = (cover == WATER).astype(np.uint8)
    ys, xs = np.nonzero(wet)
    tex[ys, xs] = np.array([72, 62, 38], np.float32) + tone[ys, xs, None] * np.array([10, 8, 4], np.float32)
    shore = cv2.dilate(wet, np.ones((5, 5), np.uint8)) & (1 - wet)
    tex[shore.astype(bool)] = (80, 110, 105)

    # The road: a gravel track drawn over everything, anti-aliased at its edges.
    road_img = np.zeros((h, w), np.uint8)
    cv2.polylines(road_img, [road_px], False, 255, max(1, int(round(5.0 / r))), cv2.LINE_AA)
    ys, xs = np.nonzero(road_img)
    a = road_img[ys, xs, None].astype(np.float32) / 255.0
    gravel = np.array([118, 128, 134], np.float32) + fine[ys, xs, None] * 25
    tex[ys, xs] = tex[ys, xs] * (1 - a) + gravel * a
    del fine, tone, road_img

    tex += rng.standard_normal((h, w, 1), dtype=np.float32) * 3.0
    cv2.GaussianBlur(tex, (0, 0), 0.6, dst=tex)
    np.clip(tex, 0, 255, out=tex)
    return tex.astype(np.uint8)


def _draw_crowns(canopy: np.ndarray, cover: np.ndarray, rng: np.random.Generator, r: float,
                 sun_azimuth_deg: float, sun_elevation_deg: float) -> None:
    h, w = cover.shape
    spacing = 4.2 / r
    gx = np.arange(0, w + spacing, spacing)
    gy = np.arange(0, h + spacing, spacing)
    px, py = np.meshgrid(gx, gy)
    px = (px + rng.uniform(-0.5, 0.5, px.shape) * spacing).ravel()
    py = (py + rng.uniform(-0.5, 0.5, py.shape) * spacing).ravel()
    keep = cover[np.clip(py.astype(int), 0, h - 1), np.clip(px.astype(int), 0, w - 1)] == FOREST
    px, py = px[keep], py[keep]
    rad = rng.uniform(1.4, 3.2, px.shape) / r
    shade = rng.uniform(0.75, 1.25, px.shape)
    hue = rng.uniform(-1, 1, px.shape)
    sun = math.radians(sun_azimuth_deg)
    # Image offsets (col, row) pointing towards the sun: east = +col, north = -row.
    sx, sy = math.sin(sun), -math.cos(sun)
    off = 1.0 / math.tan(math.radians(sun_elevation_deg))
    for x, y, rr in zip(px, py, rad, strict=True):
        cv2.circle(canopy, (int(x - sx * rr * off * 0.6), int(y - sy * rr * off * 0.6)),
                   int(rr * 1.05), (12, 24, 12), -1, cv2.LINE_8)
    cv2.GaussianBlur(canopy, (0, 0), 0.8, dst=canopy)
    for x, y, rr, s, hh in zip(px, py, rad, shade, hue, strict=True):
        base = (34 * s + 6 * hh, 70 * s + 8 * hh, 34 * s - 4 * hh)
        cv2.circle(canopy, (int(x), int(y)), int(rr), base, -1, cv2.LINE_AA)
        lit = (base[0] * 1.25 + 6, base[1] * 1.3 + 10, base[2] * 1.25 + 6)
        cv2.circle(canopy, (int(x + sx * rr * 0.3), int(y + sy * rr * 0.3)), max(1, int(rr * 0.55)),
                   lit, -1, cv2.LINE_AA)


def _poly_region(poly: np.ndarray, h: int, w: int):
    """(row slice, col slice) of a polygon's bounding box clipped to the raster, and its mask."""
    c0, r0 = np.maximum(poly.min(axis=0), 0)
    c1, r1 = np.minimum(poly.max(axis=0) + 1, (w, h))
    if c1 <= c0 or r1 <= r0:
        return None, None
    mask = np.zeros((r1 - r0, c1 - c0), np.uint8)
    cv2.fillPoly(mask, [poly - np.array([c0, r0])], 1)
    return (slice(int(r0), int(r1)), slice(int(c0), int(c1))), mask


__all__ = ["FIELD", "FOREST", "MEADOW", "ROAD", "WATER", "Grid", "LandCover", "meandering_road",
           "paint_land_cover", "paint_texture"]
