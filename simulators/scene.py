"""The ground-truth scene the simulated camera photographs.

A procedural landscape over a lon/lat box (forest of tree crowns, fields, a road, lakes and
clearings), deterministic from a seed, with planted objects at known coordinates: fires, smoke
plumes and vehicles.  The landscape is rasterised once into a georeferenced ground texture in the
area's UTM zone (cached); planted objects are kept as separate high-resolution sprites (RGBA) so
that a vehicle stays crisp even when the landscape texture is coarser than the camera's ground
sample distance.

Conventions: positions are ``lon, lat`` (degrees); headings are compass bearings (degrees
clockwise from true north).  A vehicle's heading is where its front points; a smoke plume's
heading is the downwind direction it drifts towards (its source is at ``lon, lat``).
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property

import cv2
import numpy as np
import shapely
from shapely.geometry import LineString

from uav.errors import InvalidInputError
from uav.geo import LocalFrame

KINDS = ("fire", "smoke", "vehicle")

# Landscape classes in the land-cover raster.
FOREST, FIELD, WATER, MEADOW, ROAD = 0, 1, 2, 3, 4

# Largest ground texture (pixels, both sides together); a bigger area gets a coarser texture.
MAX_TEXTURE_PX = 40_000_000
# cv2.remap/warpPerspective index with signed shorts: keep each side below this.
MAX_TEXTURE_SIDE = 16_000

_DEFAULT_SIZE = {"fire": 3.0, "smoke": 40.0, "vehicle": 4.5}

# Car body colours seen from above (BGR), weighted towards what roads actually carry.
_CAR_COLOURS = [
    (235, 235, 235), (228, 230, 232), (190, 192, 195), (160, 160, 160), (35, 35, 38),
    (60, 60, 62), (40, 40, 170), (150, 80, 30), (45, 80, 45), (90, 140, 190), (30, 30, 110),
]


@dataclass(frozen=True)
class PlantedObject:
    """Something placed in the scene on purpose, for detection to find.

    Parameters
    ----------
    id : str
        Unique name within the scene (``"fire-1"``).
    kind : {"fire", "smoke", "vehicle"}
    lon, lat : float
        Position in degrees (a plume's source).
    size_m : float
        Fire: diameter of the burning patch; smoke: plume length downwind; vehicle: length
        (a car is ~4.5 m; 6 m or more draws a truck).
    heading_deg : float
        Vehicle: where its front points; smoke: downwind direction; fire: unused.
    """

    id: str
    kind: str
    lon: float
    lat: float
    size_m: float
    heading_deg: float = 0.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InvalidInputError(
                f"planted object {self.id!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not (-180.0 <= self.lon <= 180.0 and -90.0 <= self.lat <= 90.0):
            raise InvalidInputError(
                f"planted object {self.id!r}: not a lon/lat position: lon={self.lon}, lat={self.lat}")
        if not (math.isfinite(self.size_m) and self.size_m > 0):
            raise InvalidInputError(
                f"planted object {self.id!r}: size_m must be a positive number of metres, got {self.size_m!r}")
        if self.size_m > 500:
            raise InvalidInputError(
                f"planted object {self.id!r}: size_m={self.size_m} m is not a {self.kind} (limit 500 m)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PlantedObject:
        try:
            return cls(id=str(data["id"]), kind=str(data["kind"]), lon=float(data["lon"]),
                       lat=float(data["lat"]), size_m=float(data["size_m"]),
                       heading_deg=float(data.get("heading_deg", 0.0)))
        except KeyError as exc:
            raise InvalidInputError(f"planted object {data!r} lacks field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"planted object {data!r}: {exc}") from None


@dataclass
class Sprite:
    """An object's appearance: premultiplied BGR + alpha, and where it sits on the ground.

    ``rgba`` is float32 (H, W, 4): channels 0-2 are colour already multiplied by alpha (0-255),
    channel 3 is alpha (0-1).  ``to_ground`` maps sprite pixel coordinates (OpenCV convention:
    integer = pixel centre) to UTM metres of the scene's local frame.
    """

    rgba: np.ndarray
    res_m: float
    to_ground: np.ndarray
    footprint_local: np.ndarray  # (N, 2) metres (right, forward) around the object's anchor


class Scene:
    """A procedural landscape with planted objects, deterministic from ``seed``.

    Parameters
    ----------
    bounds_lonlat : (west, south, east, north) or a shapely geometry in lon/lat
        The area the landscape covers.
    seed : int
        Same seed, same landscape (and same default objects).
    ground_alt_amsl : float
        Height of the (flat) ground above mean sea level, metres.
    road : shapely LineString in lon/lat, optional
        A road to draw (e.g. a real forest road); a meandering one is generated when omitted.
    objects : iterable of PlantedObject
    resolution_m : float
        Ground texture resolution, metres per pixel; coarsened automatically for large areas.

    Examples
    --------
    >>> scene = Scene.generate((131.20, 43.10, 131.21, 43.107), seed=3)
    >>> sorted({o.kind for o in scene.objects})
    ['fire', 'smoke', 'vehicle']
    """

    def __init__(self, bounds_lonlat, seed: int = 0, ground_alt_amsl: float = 0.0,
                 road: LineString | None = None, objects: Iterable[PlantedObject] = (),
                 resolution_m: float = 0.25):
        self.bounds_lonlat = _parse_bounds(bounds_lonlat)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidInputError(f"scene seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        if not math.isfinite(ground_alt_amsl):
            raise InvalidInputError(f"ground altitude must be a number of metres, got {ground_alt_amsl!r}")
        self.ground_alt_amsl = float(ground_alt_amsl)
        if not (0.02 <= resolution_m <= 5.0):
            raise InvalidInputError(f"scene resolution must be 0.02-5 m per pixel, got {resolution_m!r}")
        west, south, east, north = self.bounds_lonlat
        self.frame = LocalFrame.around((west + east) / 2, (south + north) / 2)
        xs, ys = self.frame.to_metric(np.array([west, east, east, west, (west + east) / 2, (west + east) / 2]),
                                      np.array([south, south, north, north, south, north]))
        self.x0, self.x1 = float(np.min(xs)), float(np.max(xs))
        self.y0, self.y1 = float(np.min(ys)), float(np.max(ys))
        w, h = self.x1 - self.x0, self.y1 - self.y0
        if w < 20 or h < 20:
            raise InvalidInputError(f"scene area {w:.0f} x {h:.0f} m is too small (at least 20 x 20 m)")
        if w > 20_000 or h > 20_000:
            raise InvalidInputError(
                f"scene area {w / 1000:.1f} x {h / 1000:.1f} km is too large for one scene (limit 20 km a side)")
        res = float(resolution_m)
        res = max(res, math.sqrt(w * h / MAX_TEXTURE_PX), max(w, h) / MAX_TEXTURE_SIDE)
        self.resolution_m = res
        self.width_px = int(math.ceil(w / res))
        self.height_px = int(math.ceil(h / res))
        self.road_lonlat = None if road is None else _check_road(road)
        self._requested_resolution = float(resolution_m)
        self.objects: list[PlantedObject] = []
        self._sprites: dict[str, Sprite] = {}
        for obj in objects:
            self.add(obj)
        rng = np.random.default_rng([self.seed, 7])
        # Afternoon sun in the southern half of the sky, wind from anywhere: shadows and plumes.
        self.sun_azimuth_deg = float(rng.uniform(140.0, 250.0))
        self.sun_elevation_deg = float(rng.uniform(35.0, 60.0))
        self.wind_to_deg = float(rng.uniform(0.0, 360.0))

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def generate(cls, bounds_lonlat, seed: int = 0, ground_alt_amsl: float = 0.0,
                 road: LineString | None = None, n_fire: int = 2, n_smoke: int = 2,
                 n_vehicle: int = 3, resolution_m: float = 0.25) -> Scene:
        """A scene with default planted objects (see :meth:`plant_defaults`)."""
        scene = cls(bounds_lonlat, seed=seed, ground_alt_amsl=ground_alt_amsl, road=road,
                    resolution_m=resolution_m)
        scene.plant_defaults(n_fire, n_smoke, n_vehicle, seed=seed)
        return scene

    def add(self, obj: PlantedObject) -> PlantedObject:
        """Plant one object; it must lie inside the scene and have a new id."""
        if not isinstance(obj, PlantedObject):
            raise InvalidInputError(f"expected a PlantedObject, got {type(obj).__name__}")
        if any(o.id == obj.id for o in self.objects):
            raise InvalidInputError(f"the scene already has an object called {obj.id!r}")
        west, south, east, north = self.bounds_lonlat
        if not (west <= obj.lon <= east and south <= obj.lat <= north):
            raise InvalidInputError(
                f"planted object {obj.id!r} at lon={obj.lon:.6f}, lat={obj.lat:.6f} is outside the "
                f"scene ({west:.6f}..{east:.6f} E, {south:.6f}..{north:.6f} N)")
        self.objects.append(obj)
        return obj

    def plant_defaults(self, n_fire: int = 2, n_smoke: int = 2, n_vehicle: int = 3,
                       seed: int | None = None) -> list[PlantedObject]:
        """Plant fires and smoke off-road on land, vehicles on the road; returns the new objects.

        Objects keep 30 m apart and 25 m inside the scene's edge, so each is whole in the
        frames that see it.  Ids continue the scene's numbering (``fire-3`` after ``fire-2``).
        """
        for name, n in (("n_fire", n_fire), ("n_smoke", n_smoke), ("n_vehicle", n_vehicle)):
            if not isinstance(n, (int, np.integer)) or n < 0:
                raise InvalidInputError(f"{name} must be a non-negative integer, got {n!r}")
        rng = np.random.default_rng([self.seed if seed is None else int(seed), 11])
        cover = self.land_cover
        margin = 25.0
        taken = [self.frame.to_metric(o.lon, o.lat) for o in self.objects]
        new: list[PlantedObject] = []

        def next_id(kind: str) -> str:
            k = 1 + sum(o.kind == kind for o in self.objects)
            while any(o.id == f"{kind}-{k}" for o in self.objects):
                k += 1
            return f"{kind}-{k}"

        def free(x, y, gap=30.0) -> bool:
            return all(math.hypot(x - tx, y - ty) >= gap for tx, ty in taken)

        def inside(x, y) -> bool:
            lon, lat = self.frame.to_lonlat(x, y)
            west, south, east, north = self.bounds_lonlat
            xm, ym = self.frame.to_metric(np.array([lon]), np.array([lat]))
            return (west <= lon <= east and south <= lat <= north
                    and self.x0 + margin <= xm[0] <= self.x1 - margin
                    and self.y0 + margin <= ym[0] <= self.y1 - margin)

        def place(obj_kind, n, picker):
            for _ in range(n):
                for _attempt in range(400):
                    got = picker()
                    if got is None:
                        continue
                    x, y, size, heading = got
                    if inside(x, y) and free(x, y):
                        lon, lat = self.frame.to_lonlat(x, y)
                        obj = self.add(PlantedObject(next_id(obj_kind), obj_kind, float(lon), float(lat),
                                                     round(float(size), 2), round(float(heading) % 360.0, 1)))
                        taken.append((x, y))
                        new.append(obj)
                        break
                else:
                    raise InvalidInputError(
                        f"could not find room for {n} {obj_kind} object(s) in this scene; "
                        "use a larger area or plant fewer")

        def on_land():
            x = rng.uniform(self.x0 + margin, self.x1 - margin)
            y = rng.uniform(self.y0 + margin, self.y1 - margin)
            c = cover[self._row(y), self._col(x)]
            return (x, y) if c in (FOREST, MEADOW, FIELD) else None

        def fire():
            p = on_land()
            return None if p is None else (*p, rng.uniform(2.0, 5.0), 0.0)

        def smoke():
            p = on_land()
            return None if p is None else (*p, rng.uniform(25.0, 60.0),
                                           self.wind_to_deg + rng.uniform(-15, 15))

        road = self.road_metric
        road_len = road.length

        def vehicle():
            d = rng.uniform(0.0, road_len)
            a, b = road.interpolate(max(d - 2, 0)), road.interpolate(min(d + 2, road_len))
            heading = math.degrees(math.atan2(b.x - a.x, b.y - a.y)) - self._convergence_deg(a.x, a.y)
            if rng.random() < 0.5:
                heading += 180.0
            # Keep to the right-hand lane of a two-way forest road.
            p = road.interpolate(d)
            hr = math.radians(heading + self._convergence_deg(p.x, p.y))
            x, y = p.x + 1.3 * math.cos(hr), p.y - 1.3 * math.sin(hr)
            length = rng.choice([4.2, 4.5, 4.7, 4.9, 5.2, 7.5]) if rng.random() < 0.9 else 8.5
            return x, y, length, heading

        place("fire", n_fire, fire)
        place("smoke", n_smoke, smoke)
        place("vehicle", n_vehicle, vehicle)
        return new

    # --- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "bounds_lonlat": list(self.bounds_lonlat),
            "seed": self.seed,
            "ground_alt_amsl": self.ground_alt_amsl,
            "resolution_m": self._requested_resolution,
            "road_lonlat": [list(c) for c in self.road_metric_lonlat().coords],
            "road_given": self.road_lonlat is not None,
            "objects": [o.to_dict() for o in self.objects],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The scene as JSON text; :meth:`from_json` rebuilds the identical scene."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text_or_dict) -> Scene:
        """Rebuild a scene from :meth:`to_json` text (or the parsed dict)."""
        if isinstance(text_or_dict, (str, bytes)):
            try:
                data = json.loads(text_or_dict)
            except ValueError as exc:
                raise InvalidInputError(f"scene JSON is not valid JSON: {exc}") from None
        else:
            data = text_or_dict
        if not isinstance(data, dict) or "bounds_lonlat" not in data:
            raise InvalidInputError("scene JSON must be an object with at least 'bounds_lonlat'")
        road = None
        if data.get("road_given") and data.get("road_lonlat"):
            road = LineString(data["road_lonlat"])
        return cls(data["bounds_lonlat"], seed=int(data.get("seed", 0)),
                   ground_alt_amsl=float(data.get("ground_alt_amsl", 0.0)), road=road,
                   objects=[PlantedObject.from_dict(o) for o in data.get("objects", [])],
                   resolution_m=float(data.get("resolution_m", 0.25)))

    # --- geometry helpers -------------------------------------------------------------------
    def _col(self, x) -> int:
        return int(np.clip((x - self.x0) / self.resolution_m, 0, self.width_px - 1))

    def _row(self, y) -> int:
        return int(np.clip((self.y1 - y) / self.resolution_m, 0, self.height_px - 1))

    def _convergence_deg(self, x: float, y: float) -> float:
        """Grid bearing of true north at a UTM point (meridian convergence), degrees."""
        return float(self.frame.true_north_deg(*self.frame.to_lonlat(x, y)))

    def local_axes(self, lon: float, lat: float) -> tuple[float, float]:
        """(convergence_deg, scale) at a point: true north's grid bearing and UTM scale factor."""
        north, scale = self.frame.north_and_scale(lon, lat)
        return float(north), float(scale)

    @property
    def texture_to_ground(self) -> np.ndarray:
        """3x3 matrix: texture pixel (col, row; integer = pixel centre) -> UTM x, y."""
        r = self.resolution_m
        return np.array([[r, 0.0, self.x0 + 0.5 * r],
                         [0.0, -r, self.y1 - 0.5 * r],
                         [0.0, 0.0, 1.0]])

    @cached_property
    def road_metric(self) -> LineString:
        if self.road_lonlat is not None:
            return self.frame.geom_to_metric(self.road_lonlat)
        return self._generated_road()

    def road_metric_lonlat(self) -> LineString:
        return self.road_lonlat if self.road_lonlat is not None else self.frame.geom_to_lonlat(self.road_metric)

    def _generated_road(self) -> LineString:
        rng = np.random.default_rng([self.seed, 3])
        w, h = self.x1 - self.x0, self.y1 - self.y0
        # Across the longer side, meandering, entering and leaving through opposite edges.
        n = 9
        t = np.linspace(-0.05, 1.05, n)
        wobble = np.cumsum(rng.normal(0, 0.08, n))
        wobble -= np.linspace(wobble[0], wobble[-1], n)
        base = rng.uniform(0.3, 0.7)
        drift = rng.uniform(-0.15, 0.15)
        across = np.clip(base + drift * (t - 0.5) + wobble, 0.12, 0.88)
        if w >= h:
            pts = np.column_stack([self.x0 + t * w, self.y0 + across * h])
        else:
            pts = np.column_stack([self.x0 + across * w, self.y0 + t * h])
        for _ in range(3):  # Chaikin smoothing: a road bends, it does not kink
            q = 0.75 * pts[:-1] + 0.25 * pts[1:]
            r = 0.25 * pts[:-1] + 0.75 * pts[1:]
            pts = np.vstack([pts[:1], np.column_stack([q, r]).reshape(-1, 2), pts[-1:]])
        return LineString(pts)

    # --- rasters ----------------------------------------------------------------------------
    @cached_property
    def land_cover(self) -> np.ndarray:
        """uint8 raster of FOREST/FIELD/WATER/MEADOW/ROAD at the texture resolution."""
        self._fields = []
        h, w, r = self.height_px, self.width_px, self.resolution_m
        rng = np.random.default_rng([self.seed, 1])
        cover = np.full((h, w), FOREST, np.uint8)
        lake = _noise((h, w), 180.0 / r, rng, octaves=3)
        cover[lake < np.quantile(lake[::8, ::8], 0.05)] = WATER
        glade = _noise((h, w), 70.0 / r, rng, octaves=2)
        cover[(glade > np.quantile(glade[::8, ::8], 0.88)) & (cover != WATER)] = MEADOW
        area_km2 = (self.x1 - self.x0) * (self.y1 - self.y0) / 1e6
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
            self._fields.append((box, ang))
        road_px = self._road_pixels()
        cv2.polylines(cover, [road_px], False, MEADOW, max(1, int(round(12.0 / r))), cv2.LINE_8)
        cv2.polylines(cover, [road_px], False, ROAD, max(1, int(round(6.0 / r))), cv2.LINE_8)
        return cover

    def _road_pixels(self) -> np.ndarray:
        xy = np.asarray(self.road_metric.coords)
        r = self.resolution_m
        return np.column_stack([(xy[:, 0] - self.x0) / r - 0.5, (self.y1 - xy[:, 1]) / r - 0.5]).round().astype(np.int32)

    @cached_property
    def texture(self) -> np.ndarray:
        """The ground texture, BGR uint8, north up, ``resolution_m`` per pixel."""
        cover = self.land_cover
        h, w, r = self.height_px, self.width_px, self.resolution_m
        rng = np.random.default_rng([self.seed, 2])
        tone = _noise((h, w), 25.0 / r, rng, octaves=3) - 0.5

        # Forest: a dark canopy of sunlit crowns with shadows on the side away from the sun.
        # Big float images are built once and filled class by class, in place, to keep a
        # square kilometre at a few seconds and a few hundred megabytes.
        tex = np.empty((h, w, 3), np.float32)
        tex[:] = (28, 52, 26)
        tex += tone[..., None] * np.array([10, 22, 10], np.float32)
        self._draw_crowns(tex, cover, rng)

        fine = _noise((h, w), 1.5 / r, rng, octaves=2) - 0.5
        ys, xs = np.nonzero(cover == MEADOW)
        tex[ys, xs] = (np.array([70, 140, 115], np.float32) + tone[ys, xs, None] * np.array([20, 40, 30], np.float32)
                       + fine[ys, xs, None] * 30)

        field_colours = [(60, 150, 160), (70, 110, 140), (50, 140, 110), (80, 170, 180), (55, 95, 120)]
        for box, ang in self._fields:
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
        cv2.polylines(road_img, [self._road_pixels()], False, 255, max(1, int(round(5.0 / r))), cv2.LINE_AA)
        ys, xs = np.nonzero(road_img)
        a = road_img[ys, xs, None].astype(np.float32) / 255.0
        gravel = np.array([118, 128, 134], np.float32) + fine[ys, xs, None] * 25
        tex[ys, xs] = tex[ys, xs] * (1 - a) + gravel * a
        del fine, tone, road_img

        tex += rng.standard_normal((h, w, 1), dtype=np.float32) * 3.0
        cv2.GaussianBlur(tex, (0, 0), 0.6, dst=tex)
        np.clip(tex, 0, 255, out=tex)
        return tex.astype(np.uint8)

    def _draw_crowns(self, canopy: np.ndarray, cover: np.ndarray, rng: np.random.Generator) -> None:
        h, w, r = self.height_px, self.width_px, self.resolution_m
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
        sun = math.radians(self.sun_azimuth_deg)
        # Image offsets (col, row) pointing towards the sun: east = +col, north = -row.
        sx, sy = math.sin(sun), -math.cos(sun)
        off = 1.0 / math.tan(math.radians(self.sun_elevation_deg))
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

    # --- sprites ----------------------------------------------------------------------------
    def sprite(self, obj: PlantedObject) -> Sprite:
        """The object's appearance and placement (cached per object)."""
        found = self._sprites.get(obj.id)
        if found is not None and getattr(found, "_obj", None) == obj:
            return found
        rng = np.random.default_rng([self.seed, zlib.crc32(obj.id.encode())])
        if obj.kind == "vehicle":
            rgba, res, anchor, foot = _vehicle_sprite(obj, rng, self.sun_azimuth_deg, self.sun_elevation_deg)
        elif obj.kind == "fire":
            rgba, res, anchor, foot = _fire_sprite(obj, rng)
        else:
            rgba, res, anchor, foot = _smoke_sprite(obj, rng)
        x, y = self.frame.to_metric(obj.lon, obj.lat)
        conv, _ = self.local_axes(obj.lon, obj.lat)
        hg = math.radians(obj.heading_deg + conv)
        fwd = np.array([math.sin(hg), math.cos(hg)])
        right = np.array([math.cos(hg), -math.sin(hg)])
        u0, v0 = anchor
        # sprite (u, v) -> right = (u - u0) * res, forward = (v0 - v) * res -> grid
        m = np.eye(3)
        m[:2, 0] = right * res
        m[:2, 1] = -fwd * res
        m[:2, 2] = np.array([x, y]) - right * res * u0 + fwd * res * v0
        sp = Sprite(rgba=rgba, res_m=res, to_ground=m, footprint_local=foot)
        sp._obj = obj  # type: ignore[attr-defined]
        self._sprites[obj.id] = sp
        return sp

    def footprint_metric(self, obj: PlantedObject) -> np.ndarray:
        """The object's ground outline (N, 2) in UTM metres: body, burning patch, or plume."""
        sp = self.sprite(obj)
        x, y = self.frame.to_metric(obj.lon, obj.lat)
        conv, _ = self.local_axes(obj.lon, obj.lat)
        hg = math.radians(obj.heading_deg + conv)
        fwd = np.array([math.sin(hg), math.cos(hg)])
        right = np.array([math.cos(hg), -math.sin(hg)])
        f = sp.footprint_local
        return np.array([x, y]) + f[:, :1] * right + f[:, 1:2] * fwd


# --- object appearances ---------------------------------------------------------------------
def _vehicle_sprite(obj: PlantedObject, rng, sun_az: float, sun_el: float):
    res = 0.025
    length = obj.size_m
    truck = length >= 6.0
    width = 2.45 if truck else min(2.0, max(1.6, 0.4 * length))
    margin = 2.5 + length * 0.15
    W = int(math.ceil((width + 2 * margin) / res)) | 1
    H = int(math.ceil((length + 2 * margin) / res)) | 1
    u0, v0 = (W - 1) / 2, (H - 1) / 2
    bgr = np.zeros((H, W, 3), np.float32)
    alpha = np.zeros((H, W), np.float32)

    def px(a, f):  # local metres (right, forward) -> sprite pixel
        return (u0 + a / res, v0 - f / res)

    def rect(a0, f0, a1, f1):
        p0, p1 = px(a0, f1), px(a1, f0)
        return (int(round(p0[0])), int(round(p0[1]))), (int(round(p1[0])), int(round(p1[1])))

    # Shadow on the ground, cast away from the sun, relative to the vehicle's own axes.
    rel = math.radians(sun_az + 180.0 - obj.heading_deg)
    reach = 1.5 / math.tan(math.radians(sun_el))
    sa, sf = math.sin(rel) * reach, math.cos(rel) * reach
    sh = np.zeros((H, W), np.float32)
    p0, p1 = rect(-width / 2 + sa, -length / 2 + sf, width / 2 + sa, length / 2 + sf)
    cv2.rectangle(sh, p0, p1, 1.0, -1)
    p0, p1 = rect(-width / 2, -length / 2, width / 2, length / 2)
    cv2.rectangle(sh, p0, p1, 1.0, -1)
    sh = cv2.GaussianBlur(sh, (0, 0), 0.25 / res)
    bgr[:] = (18, 22, 20)
    alpha[:] = 0.6 * sh

    body = np.array(_CAR_COLOURS[int(rng.integers(len(_CAR_COLOURS)))], np.float32)
    body_mask = np.zeros((H, W), np.float32)
    corner = 0.35 * width
    p0, p1 = rect(-width / 2, -length / 2, width / 2, length / 2)
    _rounded_rect(body_mask, p0, p1, int(corner / res))
    colour = np.zeros((H, W, 3), np.float32)
    colour[:] = body
    # Roof and bonnet catch the light in the middle, edges fall away (a car is rounded).
    xs = (np.arange(W) - u0) * res / (width / 2)
    side = np.clip(1.0 - 0.28 * xs ** 2, 0.6, 1.0)
    colour *= side[None, :, None]

    def paint(a0, f0, a1, f1, col, rounded=0.0):
        m = np.zeros((H, W), np.float32)
        q0, q1 = rect(a0, f0, a1, f1)
        _rounded_rect(m, q0, q1, int(rounded / res))
        colour[m > 0] = col

    glass = (38, 36, 34)
    if truck:
        cab = 2.2
        cargo = np.array([205, 208, 210], np.float32) if rng.random() < 0.6 else body * 0.9
        paint(-width / 2 + 0.05, -length / 2, width / 2 - 0.05, length / 2 - cab - 0.15, cargo, 0.05)
        paint(-width / 2 + 0.2, length / 2 - 0.75, width / 2 - 0.2, length / 2 - 0.3, glass, 0.1)
        paint(-width / 2 + 0.15, length / 2 - cab + 0.1, width / 2 - 0.15, length / 2 - 0.8,
              body * 1.08, 0.1)
    else:
        f_ws0, f_ws1 = length * (0.5 - 0.30), length * (0.5 - 0.12)  # windshield band
        f_rw0, f_rw1 = -length * (0.5 - 0.12), -length * (0.5 - 0.23)  # rear window band
        paint(-width / 2 + 0.18, f_ws0, width / 2 - 0.18, f_ws1, glass, 0.12)
        paint(-width / 2 + 0.22, f_rw0, width / 2 - 0.22, f_rw1, glass, 0.1)
        paint(-width / 2 + 0.16, f_rw1, width / 2 - 0.16, f_ws0, body * 1.06, 0.15)  # roof
        for s in (-1, 1):  # door mirrors stick out just ahead of the front doors
            q0, q1 = rect(s * width / 2, f_ws1 - 0.35, s * (width / 2 + 0.16), f_ws1 - 0.15)
            mirror = np.zeros((H, W), np.float32)
            cv2.rectangle(mirror, q0, q1, 1.0, -1)
            colour[mirror > 0] = body * 0.8
            body_mask = np.maximum(body_mask, mirror)
    # Outline: a dark seam where the body meets the ground.
    edge = body_mask - cv2.erode(body_mask, np.ones((3, 3), np.uint8))
    colour[edge > 0] *= 0.55
    colour = cv2.GaussianBlur(colour, (0, 0), 0.8)
    body_mask = cv2.GaussianBlur(body_mask, (0, 0), 0.6)
    bgr = bgr * (1 - body_mask[..., None]) + colour * body_mask[..., None]
    alpha = np.maximum(alpha, body_mask)
    bgr += rng.normal(0, 2.0, bgr.shape).astype(np.float32)
    foot = np.array([[-width / 2, -length / 2], [width / 2, -length / 2],
                     [width / 2, length / 2], [-width / 2, length / 2]])
    return _premultiply(bgr, alpha), res, (u0, v0), foot


def _fire_sprite(obj: PlantedObject, rng):
    d = obj.size_m
    res = max(0.02, d / 90.0)
    extent = 3.2 * d + 2.0
    n = int(math.ceil(extent / res)) | 1
    c = (n - 1) / 2
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    rr = np.hypot(xx - c, yy - c) * res / (d / 2)  # 1.0 at the burning patch's edge
    wobble = _noise((n, n), max(2.0, 0.25 * d / res), rng, octaves=3)
    rw = rr * (0.8 + 0.45 * wobble)
    bgr = np.zeros((n, n, 3), np.float32)
    alpha = np.zeros((n, n), np.float32)
    # Scorched ground around the fire.
    burnt = np.clip(1.6 - rw, 0, 1) ** 0.7
    bgr[:] = (22, 24, 28)
    alpha[:] = 0.85 * burnt
    # Glow lighting the surroundings.
    glow = np.exp(-(rr / 1.4) ** 2) * 0.75
    glow_col = np.array([40, 140, 255], np.float32)
    bgr = bgr * (1 - glow[..., None]) + glow_col * glow[..., None]
    alpha = np.maximum(alpha, glow)
    # Flames: ragged tongues, hottest (yellow-white) in the core, red at the edges.
    flicker = _noise((n, n), max(1.5, 0.08 * d / res), rng, octaves=2)
    heat = np.clip(1.15 - rw + 0.5 * (flicker - 0.5), 0, 1)
    flame = np.clip(heat * 2.2, 0, 1)
    stops = np.array([0.0, 0.35, 0.7, 1.0], np.float32)
    cols = np.array([[20, 30, 170], [10, 90, 245], [40, 190, 255], [190, 250, 255]], np.float32)
    fcol = np.stack([np.interp(heat, stops, cols[:, k]) for k in range(3)], axis=-1)
    bgr = bgr * (1 - flame[..., None]) + fcol * flame[..., None]
    alpha = np.maximum(alpha, flame)
    foot = np.array([[-d / 2, -d / 2], [d / 2, -d / 2], [d / 2, d / 2], [-d / 2, d / 2]])
    return _premultiply(bgr, alpha), res, (c, c), foot


def _smoke_sprite(obj: PlantedObject, rng):
    length = obj.size_m
    res = max(0.05, length / 500.0)
    spread = 0.4
    half_w = 0.06 * length + spread * length / 2 + 2.0
    back = 0.1 * length + 2.0
    W = int(math.ceil(2 * half_w / res)) | 1
    H = int(math.ceil((length * 1.1 + back) / res))
    u0 = (W - 1) / 2
    v0 = H - 1 - back / res
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    f = (v0 - yy) * res  # metres downwind of the source
    a = (xx - u0) * res
    meander = 0.04 * length * np.sin(f / length * 5.0 + rng.uniform(0, 6.28))
    width = 0.5 + 0.06 * length + spread * np.clip(f, 0, None) / 2
    across = np.exp(-0.5 * ((a - meander) / (0.55 * width)) ** 2)
    along = np.clip((f + 0.6) / 1.5, 0, 1) * np.exp(-np.clip(f, 0, None) / (0.75 * length))
    puffs = _noise((H, W), max(2.0, 0.08 * length / res), rng, octaves=3)
    density = across * along * (0.6 + 0.9 * puffs)
    alpha = np.clip(density * 1.4, 0, 0.93).astype(np.float32)
    shade = 0.78 + 0.22 * np.clip(f / length, 0, 1) + 0.12 * (puffs - 0.5)
    bgr = (np.array([212, 214, 216], np.float32) * shade[..., None]).astype(np.float32)
    foot = np.array([[-0.06 * length - 0.5, -0.5], [0.06 * length + 0.5, -0.5],
                     [0.06 * length + spread * length / 2, 0.8 * length],
                     [-0.06 * length - spread * length / 2, 0.8 * length]])
    return _premultiply(bgr, alpha), res, (u0, v0), foot


# --- small helpers ----------------------------------------------------------------------------
def _poly_region(poly: np.ndarray, h: int, w: int):
    """(row slice, col slice) of a polygon's bounding box clipped to the raster, and its mask."""
    c0, r0 = np.maximum(poly.min(axis=0), 0)
    c1, r1 = np.minimum(poly.max(axis=0) + 1, (w, h))
    if c1 <= c0 or r1 <= r0:
        return None, None
    mask = np.zeros((r1 - r0, c1 - c0), np.uint8)
    cv2.fillPoly(mask, [poly - np.array([c0, r0])], 1)
    return (slice(int(r0), int(r1)), slice(int(c0), int(c1))), mask


def _premultiply(bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    alpha = np.clip(alpha, 0, 1).astype(np.float32)
    out = np.empty(bgr.shape[:2] + (4,), np.float32)
    out[..., :3] = np.clip(bgr, 0, 255) * alpha[..., None]
    out[..., 3] = alpha
    return out


def _rounded_rect(img: np.ndarray, p0, p1, radius: int, value: float = 1.0) -> None:
    (x0, y0), (x1, y1) = p0, p1
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    radius = max(0, min(radius, (x1 - x0) // 2, (y1 - y0) // 2))
    if radius == 0:
        cv2.rectangle(img, (x0, y0), (x1, y1), value, -1)
        return
    cv2.rectangle(img, (x0 + radius, y0), (x1 - radius, y1), value, -1)
    cv2.rectangle(img, (x0, y0 + radius), (x1, y1 - radius), value, -1)
    for cx, cy in ((x0 + radius, y0 + radius), (x1 - radius, y0 + radius),
                   (x0 + radius, y1 - radius), (x1 - radius, y1 - radius)):
        cv2.circle(img, (cx, cy), radius, value, -1, cv2.LINE_AA)


def _noise(shape: tuple[int, int], cell_px: float, rng: np.random.Generator, octaves: int = 1) -> np.ndarray:
    """Smooth value noise in [0, 1] with features ``cell_px`` pixels across (plus finer octaves)."""
    h, w = shape
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    cell = max(cell_px, 1.0)
    for _ in range(octaves):
        gh, gw = int(math.ceil(h / cell)) + 3, int(math.ceil(w / cell)) + 3
        grid = rng.random((gh, gw)).astype(np.float32)
        big = cv2.resize(grid, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
        oy, ox = int(cell), int(cell)
        out += amp * big[oy:oy + h, ox:ox + w]
        total += amp
        amp *= 0.5
        cell = max(cell / 2.0, 1.0)
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / (hi - lo) if hi > lo else np.full_like(out, 0.5)


def _parse_bounds(bounds) -> tuple[float, float, float, float]:
    if isinstance(bounds, shapely.Geometry):
        if bounds.is_empty:
            raise InvalidInputError("scene area is an empty geometry")
        bounds = bounds.bounds
    try:
        west, south, east, north = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"scene bounds must be (west, south, east, north) in degrees, got {bounds!r}") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise InvalidInputError(f"scene bounds must be finite numbers, got {bounds!r}")
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidInputError(
            f"scene bounds (west={west}, south={south}, east={east}, north={north}) are not a lon/lat box "
            "with west < east and south < north")
    return west, south, east, north


def _check_road(road) -> LineString:
    if isinstance(road, Sequence) and not isinstance(road, str):
        try:
            road = LineString(road)
        except (TypeError, ValueError, shapely.errors.ShapelyError):
            raise InvalidInputError("road must be a LineString or a list of (lon, lat) points") from None
    if not isinstance(road, LineString) or road.is_empty or len(road.coords) < 2:
        raise InvalidInputError("road must be a LineString in lon/lat with at least two points")
    xs, ys = road.xy
    if not (all(-180 <= x <= 180 for x in xs) and all(-90 <= y <= 90 for y in ys)):
        raise InvalidInputError("road coordinates must be lon, lat in degrees")
    return road


__all__ = ["KINDS", "PlantedObject", "Scene", "Sprite"]
