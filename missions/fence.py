"""Geofence and rally points.

* The **inclusion fence** is the sector grown by a buffer (its outer boundary only), joined
  to the home point and — for a sector of several pieces — joined into one polygon by
  buffered corridors, because ArduPilot requires the vehicle to be inside *every* inclusion
  polygon at once.
* **Exclusion fences** are the exclusion zones and the holes of the sector (enclaves are not
  flown over), slightly grown by the simplification tolerance so the fence never lies inside
  the zone it protects.
* **Rally points** are where RTL may go instead of home.

Fence items are NAV_FENCE_POLYGON_VERTEX_INCLUSION / _EXCLUSION with ``param1`` = vertex
count of their polygon, mission type FENCE; rally items are NAV_RALLY_POINT, mission type
RALLY.  :func:`fence_polygons` reads the polygons back from items (lon/lat), which is what
validation checks flights against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from uav.errors import PlanningError, PlanValidationError
from uav.geo import LocalFrame
from uav.items import Cmd, Frame, MissionItem, MissionType

from .geometry import polygonal, polygons_of


@dataclass
class FenceGeometry:
    """Fence polygons in the metric frame."""

    inclusion: Polygon
    exclusions: list[Polygon] = field(default_factory=list)

    def flight_area(self, margin_m: float) -> BaseGeometry:
        """Where paths may go: inside the inclusion fence and outside every exclusion fence,
        both by ``margin_m``."""
        # Mitred corners both ways: at a corner a mitre keeps *farther* from the fence than a
        # round join (the mitre inset lies inside the round one), and it adds one vertex where
        # a round join adds a dozen -- every one of them a node the router would have to visit
        # (a park-sized fence: ~4,600 route nodes round, ~550 mitred; routing 5x faster).
        inside = self.inclusion.buffer(-margin_m, join_style="mitre")
        if self.exclusions:
            keepout = shapely.union_all([e.buffer(margin_m, join_style="mitre") for e in self.exclusions])
            inside = inside.difference(keepout)
        return polygonal(inside)


def _connect_parts(parts: list[Polygon], width_m: float) -> list[BaseGeometry]:
    """Corridors joining polygons into one (Prim's tree over nearest points)."""
    corridors = []
    joined = [parts[0]]
    rest = parts[1:]
    while rest:
        best = None
        for i, p in enumerate(rest):
            for q in joined:
                d = p.distance(q)
                if best is None or d < best[0]:
                    best = (d, i, p, q)
        _, i, p, q = best
        a, b = nearest_points(p, q)
        corridors.append(LineString([a, b]).buffer(width_m))
        joined.append(rest.pop(i))
    return corridors


def build_fence_geometry(sector_m: BaseGeometry, exclusions_m: BaseGeometry | None, *,
                         buffer_m: float, home_xy=None, extra_m: BaseGeometry | None = None,
                         tolerance_m: float | None = None) -> FenceGeometry:
    """Inclusion and exclusion fence polygons for a sector (metric frame).

    Parameters
    ----------
    sector_m : Polygon or MultiPolygon
        The area to fly, metres.
    exclusions_m : geometry or None
        No-fly zones, metres.
    buffer_m : float
        How far outside the sector the inclusion fence lies.
    home_xy : (x, y), optional
        Launch point; the fence is extended to contain it (ArduPilot will not arm outside).
    extra_m : geometry, optional
        Anything else the fence must contain (e.g. a lookout's orbits).
    tolerance_m : float, optional
        Vertex simplification tolerance (default ``buffer_m / 5``): fewer fence points,
        never bringing the fence closer to the sector than ``buffer_m - tolerance_m``.
    """
    if buffer_m <= 0:
        raise PlanningError(f"fence buffer must be positive, got {buffer_m} m")
    tol = buffer_m / 5.0 if tolerance_m is None else tolerance_m
    parts = [Polygon(p.exterior) for p in polygons_of(sector_m)]
    if extra_m is not None and not extra_m.is_empty:
        parts.append(extra_m.convex_hull if extra_m.area == 0 else polygonal(extra_m))
    if home_xy is not None:
        home = Point(home_xy)
        base = shapely.union_all(parts)
        if not base.buffer(buffer_m).covers(home):
            a, _ = nearest_points(base, home)
            parts.append(LineString([a, home]).buffer(buffer_m / 2))
    grown = polygons_of(shapely.union_all([p.buffer(buffer_m) for p in parts if not p.is_empty]))
    if not grown:
        raise PlanningError("cannot build a geofence around an empty area")
    if len(grown) > 1:
        grown = polygons_of(shapely.union_all(grown + _connect_parts(grown, buffer_m)))
    inclusion = Polygon(grown[0].exterior).simplify(tol, preserve_topology=True)
    excl = []
    zones = polygons_of(exclusions_m) if exclusions_m is not None else []
    holes = [Polygon(r) for p in polygons_of(sector_m) for r in p.interiors]
    if zones or holes:
        merged = polygons_of(shapely.union_all(zones + holes))
        for z in merged:
            # Grow by the tolerance before simplifying so the fence contains the whole zone.
            g = Polygon(z.buffer(tol, join_style="mitre").exterior).simplify(tol / 2, preserve_topology=True)
            excl.append(g.buffer(0) if not g.is_valid else g)
    return FenceGeometry(inclusion, excl)


def _polygon_items(poly: Polygon, frame: LocalFrame, command: int) -> list[MissionItem]:
    coords = np.asarray(shapely.geometry.polygon.orient(poly, 1.0).exterior.coords)[:-1]
    lon, lat = frame.to_lonlat(coords[:, 0], coords[:, 1])
    n = len(coords)
    return [MissionItem(command, Frame.GLOBAL_INT, param1=float(n), lat=float(la), lon=float(lo),
                        mission_type=MissionType.FENCE) for lo, la in zip(np.atleast_1d(lon), np.atleast_1d(lat))]


def fence_items(fence: FenceGeometry, frame: LocalFrame) -> list[MissionItem]:
    """FENCE mission items: the inclusion polygon then each exclusion polygon."""
    items = _polygon_items(fence.inclusion, frame, Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION)
    for e in fence.exclusions:
        items += _polygon_items(e, frame, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION)
    return items


def rally_items(points_latlon, *, default_alt_m: float) -> list[MissionItem]:
    """RALLY items from ``(lat, lon[, alt_above_home])`` tuples."""
    out = []
    for i, p in enumerate(points_latlon or []):
        if len(p) < 2:
            raise PlanningError(f"rally point {i + 1} needs at least a latitude and a longitude, got {p!r}")
        lat, lon = float(p[0]), float(p[1])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise PlanningError(f"rally point {i + 1} ({lat}, {lon}) is not a latitude,longitude pair")
        alt = float(p[2]) if len(p) > 2 else default_alt_m
        out.append(MissionItem(Cmd.NAV_RALLY_POINT, Frame.GLOBAL_RELATIVE_ALT_INT, lat=lat, lon=lon,
                               alt=alt, mission_type=MissionType.RALLY))
    return out


def fence_polygons(items: list[MissionItem]) -> tuple[list[Polygon], list[Polygon]]:
    """Read fence items back into (inclusion, exclusion) polygons in lon/lat.

    Raises
    ------
    PlanValidationError
        When a polygon's vertex count (param1) does not match its run of items.
    """
    inc, exc = [], []
    i = 0
    while i < len(items):
        it = items[i]
        if it.command not in (Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
            i += 1  # circles and return points are not polygons
            continue
        n = int(it.param1)
        run = items[i:i + n]
        if n < 3 or len(run) < n or any(r.command != it.command or int(r.param1) != n for r in run):
            msg = f"fence item {i}: polygon of {n} vertices is not followed by {n} matching vertex items"
            raise PlanValidationError(msg, [msg])
        poly = Polygon([(r.lon, r.lat) for r in run])
        (inc if it.command == Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION else exc).append(poly)
        i += n
    return inc, exc
