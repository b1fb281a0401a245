"""The ground-truth scene the simulated camera photographs.

A procedural landscape over a lon/lat box (forest of tree crowns, fields, a road, lakes and
clearings), deterministic from a seed, with planted objects at known coordinates: fires, smoke
plumes and vehicles.  The landscape is rasterised once into a georeferenced ground texture in the
area's UTM zone (cached, :mod:`simulators.landscape`); planted objects
(:mod:`simulators.planted`) are kept as separate high-resolution sprites (RGBA,
:mod:`simulators.sprites`) so that a vehicle stays crisp even when the landscape texture is
coarser than the camera's ground sample distance.

Conventions: positions are ``lon, lat`` (degrees); headings are compass bearings (degrees
clockwise from true north).  A vehicle's heading is where its front points; a smoke plume's
heading is the downwind direction it drifts towards (its source is at ``lon, lat``).
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable, Sequence
from functools import cached_property

import numpy as np
import shapely
from shapely.geometry import LineString

from uav.errors import InvalidInputError
from uav.geo import LocalFrame

from .landscape import (
    FIELD,
    FOREST,
    MEADOW,
    Grid,
    LandCover,
    meandering_road,
    paint_land_cover,
    paint_texture,
)
from .planted import KINDS, PlantedObject, Sprite
from .sprites import draw_object


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
        self.grid = Grid.covering(self.x0, self.y0, self.x1, self.y1, resolution_m)
        self.resolution_m = self.grid.resolution_m
        self.width_px, self.height_px = self.grid.width_px, self.grid.height_px
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
        return self.grid.col(x)

    def _row(self, y) -> int:
        return self.grid.row(y)

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
        return self.grid.to_ground

    @cached_property
    def road_metric(self) -> LineString:
        if self.road_lonlat is not None:
            return self.frame.geom_to_metric(self.road_lonlat)
        return meandering_road(self.grid, self.seed)

    def road_metric_lonlat(self) -> LineString:
        return self.road_lonlat if self.road_lonlat is not None else self.frame.geom_to_lonlat(self.road_metric)

    # --- rasters ----------------------------------------------------------------------------
    @cached_property
    def _land(self) -> LandCover:
        return paint_land_cover(self.grid, self.seed, self.grid.pixels(self.road_metric))

    @property
    def land_cover(self) -> np.ndarray:
        """uint8 raster of FOREST/FIELD/WATER/MEADOW/ROAD at the texture resolution."""
        return self._land.cover

    @cached_property
    def texture(self) -> np.ndarray:
        """The ground texture, BGR uint8, north up, ``resolution_m`` per pixel."""
        return paint_texture(self.grid, self.seed, self._land, self.grid.pixels(self.road_metric),
                             self.sun_azimuth_deg, self.sun_elevation_deg)

    # --- sprites ----------------------------------------------------------------------------
    def sprite(self, obj: PlantedObject) -> Sprite:
        """The object's appearance and placement (cached per object)."""
        found = self._sprites.get(obj.id)
        if found is not None and getattr(found, "_obj", None) == obj:
            return found
        rng = np.random.default_rng([self.seed, zlib.crc32(obj.id.encode())])
        rgba, res, anchor, foot = draw_object(obj, rng, self.sun_azimuth_deg, self.sun_elevation_deg)
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
