"""What a plan looks like on a map: the shared content of the KML and GeoJSON exports.

:func:`plan_shapes` turns a :class:`~missions.model.Plan` into a list of :class:`Shape` s (sector,
exclusion zones, fence, rally points, each sortie's flight path and home, imaging legs, and
optionally the planned photo positions), all lon/lat, with altitudes resolved so that Google
Earth draws them at the right height:

- AMSL items (frame 0/5) are ``absolute``;
- items relative to home (frame 3/6) become ``absolute`` by adding home's AMSL altitude, as the
  autopilot does; when home's altitude is unknown (0) they are drawn ``relativeToGround``;
- terrain-following items (frame 10/11) are ``relativeToGround``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon, shape

from uav.geo import GEOD, LocalFrame
from uav.items import Cmd, Frame, MissionItem, command_name

ABSOLUTE = "absolute"
RELATIVE_TO_GROUND = "relativeToGround"
CLAMP = "clampToGround"

_AMSL_FRAMES = {Frame.GLOBAL, Frame.GLOBAL_INT}
_RELATIVE_FRAMES = {Frame.GLOBAL_RELATIVE_ALT, Frame.GLOBAL_RELATIVE_ALT_INT}
_TERRAIN_FRAMES = {Frame.GLOBAL_TERRAIN_ALT, Frame.GLOBAL_TERRAIN_ALT_INT}


@dataclass
class Shape:
    """One thing to draw. ``geometry`` is lon/lat (z in metres where ``altitude_mode`` says)."""

    role: str                       # sector, exclusion, fence_inclusion, fence_exclusion, rally,
    name: str                       # flight_path, home, waypoint, imaging_leg, photo
    geometry: shapely.Geometry
    altitude_mode: str = CLAMP
    properties: dict = field(default_factory=dict)
    sortie: int | None = None       # 1-based


def _frame(f: int):
    try:
        return Frame(int(f))
    except ValueError:
        return None


def item_altitude(item: MissionItem, home_alt_amsl: float, home_alt_known: bool) -> tuple[float, str]:
    """(altitude, KML altitude mode) for a position item."""
    frame = _frame(item.frame)
    if frame in _AMSL_FRAMES:
        return item.alt, ABSOLUTE
    if frame in _TERRAIN_FRAMES:
        return item.alt, RELATIVE_TO_GROUND
    if home_alt_known:
        return home_alt_amsl + item.alt, ABSOLUTE
    return item.alt, RELATIVE_TO_GROUND


def _has_position(item: MissionItem) -> bool:
    return item.is_position and not (item.lat == 0 and item.lon == 0) \
        and item.mission_type == 0 and not math.isnan(item.lat)


def flight_path(items: list[MissionItem]) -> tuple[list[tuple[float, float, float]], str]:
    """The 3-D path a sortie flies: ``[(lon, lat, alt)]`` and its KML altitude mode.

    Takeoff climbs over home; RTL returns to home at the last altitude; commands without a
    position are skipped.
    """
    if not items:
        return [], CLAMP
    home = items[0]
    known = home.alt != 0.0
    pts: list[tuple[float, float, float, str]] = [(home.lon, home.lat, home.alt if known else 0.0,
                                                   ABSOLUTE if known else RELATIVE_TO_GROUND)]
    last_alt = None
    for it in items[1:]:
        if it.command == Cmd.NAV_TAKEOFF and (it.lat == 0 and it.lon == 0):
            alt, mode = item_altitude(it, home.alt, known)
            pts.append((home.lon, home.lat, alt, mode))
            last_alt = (alt, mode)
        elif it.command == Cmd.NAV_RETURN_TO_LAUNCH:
            if last_alt is not None:
                pts.append((home.lon, home.lat, *last_alt))
            pts.append(pts[0])
        elif _has_position(it):
            alt, mode = item_altitude(it, home.alt, known)
            pts.append((it.lon, it.lat, alt, mode))
            last_alt = (alt, mode)
    modes = {p[3] for p in pts[1:]} or {pts[0][3]}
    if modes == {RELATIVE_TO_GROUND}:
        return [(x, y, (0.0 if i == 0 else z)) for i, (x, y, z, _m) in enumerate(pts)], RELATIVE_TO_GROUND
    if RELATIVE_TO_GROUND in modes:
        # Mixed: draw everything absolute; terrain-relative heights are put over home's level,
        # the best guess without a DEM.
        return [(x, y, z if m == ABSOLUTE else home.alt + z) for x, y, z, m in pts], ABSOLUTE
    return [(x, y, z) for x, y, z, _m in pts], ABSOLUTE


def fence_shapes(fence: list[MissionItem]) -> list[tuple[str, shapely.Geometry]]:
    """(role, lon/lat polygon) for each fence polygon and circle."""
    out = []
    i = 0
    while i < len(fence):
        it = fence[i]
        cmd = int(it.command)
        if cmd in (Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
            n = max(int(it.param1), 1)
            ring = [(v.lon, v.lat) for v in fence[i:i + n]]
            role = "fence_inclusion" if cmd == Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION else "fence_exclusion"
            if len(ring) >= 3:
                out.append((role, Polygon(ring)))
            i += n
            continue
        if cmd in (Cmd.NAV_FENCE_CIRCLE_INCLUSION, Cmd.NAV_FENCE_CIRCLE_EXCLUSION):
            az = np.linspace(0, 360, 73)[:-1]
            lons, lats, _ = GEOD.fwd(np.full(az.shape, it.lon), np.full(az.shape, it.lat), az,
                                     np.full(az.shape, it.param1))
            role = "fence_inclusion" if cmd == Cmd.NAV_FENCE_CIRCLE_INCLUSION else "fence_exclusion"
            out.append((role, Polygon(np.column_stack([lons, lats]))))
        elif cmd == Cmd.NAV_FENCE_RETURN_POINT:
            out.append(("fence_return", Point(it.lon, it.lat)))
        i += 1
    return out


def photo_points(legs, spacing_m: float) -> list[tuple[float, float]]:
    """Planned photo positions every ``spacing_m`` along each imaging leg (lon, lat)."""
    if not legs or not spacing_m or spacing_m <= 0:
        return []
    first = legs[0][0]
    frame = LocalFrame.around(first[0], first[1])
    out = []
    for leg in legs:
        if len(leg) < 2:
            continue
        line = frame.geom_to_metric(LineString(leg))
        n = int(line.length // spacing_m) + 1
        pts = line.interpolate(np.arange(n) * spacing_m)
        ll = frame.geom_to_lonlat(MultiPoint(list(pts)))
        out.extend((p.x, p.y) for p in ll.geoms)
    return out


def plan_shapes(plan, *, photos: bool = False) -> list[Shape]:
    """Everything to draw for ``plan`` (see the module docstring for altitudes)."""
    shapes: list[Shape] = []
    if plan.sector:
        shapes.append(Shape("sector", plan.name or "sector", shape(plan.sector),
                            properties={"description": "area to cover"}))
    for k, ex in enumerate(plan.exclusions, start=1):
        shapes.append(Shape("exclusion", f"exclusion zone {k}", shape(ex),
                            properties={"description": "no imaging, no flying over"}))
    seen_fences: list = []
    for s, m in enumerate(plan.sorties, start=1):
        key = [(int(i.command), i.param1, i.lat, i.lon) for i in m.fence]
        if key and key not in seen_fences:
            seen_fences.append(key)
            for role, g in fence_shapes(m.fence):
                shapes.append(Shape(role, role.replace("_", " "), g, sortie=s if len(plan.sorties) > 1 else None))
    seen_rally = set()
    for m in plan.sorties:
        for r in m.rally:
            if (r.lat, r.lon) in seen_rally:
                continue
            seen_rally.add((r.lat, r.lon))
            alt, mode = item_altitude(r, m.items[0].alt if m.items else 0.0,
                                      bool(m.items and m.items[0].alt != 0.0))
            shapes.append(Shape("rally", f"rally point {len(seen_rally)}", Point(r.lon, r.lat, alt), mode,
                                {"alt_m": r.alt}))
    for s, m in enumerate(plan.sorties, start=1):
        if not m.items:
            continue
        label = f"sortie {s}" if len(plan.sorties) > 1 else "flight path"
        path, mode = flight_path(m.items)
        if len(path) >= 2:
            shapes.append(Shape("flight_path", label, LineString(path), mode,
                                {"items": len(m.items), "name": m.name or label}, sortie=s))
        home = m.items[0]
        shapes.append(Shape("home", f"home (sortie {s})" if len(plan.sorties) > 1 else "home",
                            Point(home.lon, home.lat, home.alt),
                            ABSOLUTE if home.alt != 0.0 else CLAMP,
                            {"alt_amsl_m": home.alt}, sortie=s))
        known = home.alt != 0.0
        for seq, it in enumerate(m.items[1:], start=1):
            if not _has_position(it):
                continue
            alt, amode = item_altitude(it, home.alt, known)
            shapes.append(Shape("waypoint", f"{s}.{seq}", Point(it.lon, it.lat, alt), amode,
                                {"seq": seq, "command": int(it.command),
                                 "command_name": command_name(it.command).removeprefix("MAV_CMD_"),
                                 "frame": int(it.frame), "alt_m": it.alt}, sortie=s))
    for k, leg in enumerate(plan.legs, start=1):
        if len(leg) >= 2:
            shapes.append(Shape("imaging_leg", f"leg {k}", LineString([(x, y) for x, y, *_ in leg])))
    if photos:
        spacing = plan.stats.trigger_distance_m if plan.stats else None
        for k, (x, y) in enumerate(photo_points(plan.legs, spacing or 0.0), start=1):
            shapes.append(Shape("photo", f"photo {k}", Point(x, y)))
    return shapes
