"""Lookouts (orbit or hover at watch points) and perimeter patrols.

* :func:`plan_lookout` visits a list of points (salt licks, watch points) in nearest-neighbour
  order from home; at each it orbits (NAV_LOITER_TURNS, radius ``radius_m``, the fewest whole
  turns that last ``time_s`` at the speed a copter keeps on that circle) or, with radius 0,
  hovers (NAV_LOITER_TIME).  The time on station is at least ``time_s``, give or take the
  copter's own circle controller.
* :func:`plan_perimeter` flies the sector boundary moved ``inset_m`` inwards, starting at the
  corner nearest home, for ``laps`` laps.

Transits are routed inside the fence and around exclusion zones; long plans are cut into
sorties as surveys are.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point

from uav.errors import InvalidInputError, PlanningError
from uav.geo import LocalFrame
from uav.limits import ARDUPILOT_MAX_FENCE_POINTS, ARDUPILOT_MAX_ITEMS, VehicleLimits
from uav.profiles import AircraftProfile, CameraProfile

from .assemble import (
    DEFAULT_FENCE_MARGIN_M,
    finish_plan,
    make_planner,
    prepare_area,
    resolve_home,
    resolve_mode,
)
from .estimate import orbit_speed_ms
from .fence import build_fence_geometry
from .geometry import polygonal, polygons_of
from .imaging import (
    resolve_speed,
)
from .items_builder import FlightSettings, Leg, Vertex, build_sortie
from .model import Plan, PlanKind, PlanStats
from .sorties import split_sorties


def _check_altitude(altitude_m, aircraft):
    if altitude_m is None or not altitude_m > 0:
        raise PlanningError(f"give a flight altitude above 0 m, got {altitude_m}")
    if altitude_m > aircraft.max_altitude_m:
        raise PlanningError(f"altitude {altitude_m:.0f} m is above the {aircraft.name!r} ceiling "
                            f"of {aircraft.max_altitude_m:.0f} m")


def _parse_points(points) -> list[tuple[float, float, str]]:
    out = []
    for i, p in enumerate(points or []):
        if len(p) < 2:
            raise InvalidInputError(f"lookout point {i + 1} needs a longitude and a latitude, got {p!r}")
        lon, lat = float(p[0]), float(p[1])
        name = str(p[2]) if len(p) > 2 and p[2] else f"point {i + 1}"
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInputError(f"lookout {name!r}: ({lon}, {lat}) is not a longitude,latitude pair")
        out.append((lon, lat, name))
    if not out:
        raise InvalidInputError("no lookout points given")
    return out


def plan_lookout(points, *, aircraft: AircraftProfile, radius_m: float = 0.0, time_s: float = 60.0,
                 altitude_m: float | None = None, home=None, exclusions=(), sector=None,
                 camera: CameraProfile | None = None, home_alt_amsl: float = 0.0,
                 altitude_mode: str = "relative", dem_path=None, terrain_follow: bool = False,
                 speed_ms: float | None = None, fence_buffer_m: float = 50.0,
                 fence_margin_m: float = DEFAULT_FENCE_MARGIN_M, rally_points=None,
                 max_items: int = ARDUPILOT_MAX_ITEMS,
                 max_fence_points: int | None = ARDUPILOT_MAX_FENCE_POINTS, order: str = "nearest", name: str = "",
                 validate: bool = True) -> Plan:
    """Plan a flight that watches each of ``points`` for ``time_s``.

    Parameters
    ----------
    points : sequence of (lon, lat[, name])
    radius_m : float
        Orbit radius; 0 hovers over the point.
    time_s : float
        Time on station at each point.
    altitude_m : float
        Height above home (or above ground when terrain-following).
    home : (lat, lon), optional
        Launch point; default the first point.
    sector : shapely polygon, optional
        Area the fence should also enclose.
    order : {"nearest", "given"}
        Visit order: nearest-neighbour from home, or as given.

    Returns
    -------
    Plan
    """
    pts = _parse_points(points)
    _check_altitude(altitude_m, aircraft)
    if radius_m < 0 or time_s < 0:
        raise PlanningError(f"orbit radius and time must not be negative (got {radius_m} m, {time_s} s)")
    if order not in ("nearest", "given"):
        raise PlanningError(f"visit order must be 'nearest' or 'given', got {order!r}")
    speed = resolve_speed(aircraft, speed_ms)
    mode, dem = resolve_mode(altitude_mode, dem_path, terrain_follow)
    mp = MultiPoint([(p[0], p[1]) for p in pts] + ([(home[1], home[0])] if home else []))
    frame = LocalFrame.for_geometry(mp)
    xy = np.array([frame.to_metric(p[0], p[1]) for p in pts], dtype=float)
    reach = shapely.MultiPoint(xy).buffer(radius_m + fence_margin_m + 5.0)
    base = reach.convex_hull if len(pts) > 1 else reach
    if sector is not None:
        base = shapely.union(base, frame.geom_to_metric(sector))
    zones = [frame.geom_to_metric(e) for e in (exclusions or ()) if e is not None and not e.is_empty]
    for (lon, lat, nm), p in zip(pts, xy):
        if any(z.distance(Point(p)) <= radius_m + fence_margin_m for z in zones):
            raise PlanningError(f"lookout {nm!r} at {lat:.6f},{lon:.6f}: its orbit would come within "
                                f"{fence_margin_m:g} m of an exclusion zone")
    area = prepare_area(frame.geom_to_lonlat(polygonal(base)), exclusions)
    frame = area.frame
    xy = np.array([frame.to_metric(p[0], p[1]) for p in pts], dtype=float)
    margin = float(fence_margin_m)
    if home is None:
        home = (pts[0][1], pts[0][0])
    home_latlon, home_xy, home_alt = resolve_home(home, area, margin, fence_buffer_m, dem, home_alt_amsl)
    fence = build_fence_geometry(area.sector_m, area.exclusions_m, buffer_m=fence_buffer_m, home_xy=home_xy)
    flight = FlightSettings(frame, aircraft, home_latlon, home_xy, home_alt, altitude_m, speed, mode, dem)
    planner = make_planner(flight, fence=fence, margin_m=margin, camera=camera,
                           limits=VehicleLimits(max_items, max_fence_points), rally_points=rally_points)
    # Visit order.
    idx = list(range(len(pts)))
    if order == "nearest":
        left, cur, idx = set(idx), home_xy, []
        while left:
            k = min(left, key=lambda i: float(np.hypot(*(xy[i] - cur))))
            idx.append(k)
            left.remove(k)
            cur = xy[k]
    orbit_v = orbit_speed_ms(radius_m, speed, aircraft.acceleration_ms2)
    if radius_m > 0:
        # Turns at the speed the copter really keeps on this orbit, so the watch lasts time_s;
        # whole turns, rounded up: ArduPilot keeps LOITER_TURNS as a whole number and cuts a
        # fraction off (1.6 turns flown as 1: 25 of 40 s watched, on SITL and the built-in).
        turns = max(1, math.ceil(time_s * orbit_v / (2 * math.pi * radius_m) - 1e-6))
        loiter = ("turns", float(turns), float(radius_m))
    else:
        loiter = ("time", float(time_s), 0.0)
    stations = [xy[k] for k in idx]
    links = [planner.link(stations[i], stations[i + 1]) for i in range(len(stations) - 1)]

    def vertices(i, j):
        v = [Vertex(*p) for p in planner.link(home_xy, stations[i])[1:-1]]
        for k in range(i, j + 1):
            if k > i:
                v += [Vertex(*p) for p in links[k - 1][1:-1]]
            v.append(Vertex(*stations[k], loiter=loiter))
        v += [Vertex(*p) for p in planner.link(stations[j], home_xy)[1:-1]]
        return v

    cache = {}

    # Cut on battery charge (uav.energy), counted as seconds of cruise that cost the same.
    energy = aircraft.energy
    p_cruise = float(energy.level_power_w(aircraft.cruise_speed_ms))

    def exact(i, j):
        b = build_sortie(vertices(i, j), planner.settings)
        cache[(i, j)] = b
        return b.estimate.energy_wh * 3600.0 / p_cruise, len(b.items)

    # cheap estimates: stays at hover power, links at cruise power, climb and descent
    stay = (time_s if radius_m == 0 else 2 * math.pi * radius_m * loiter[1] / orbit_v) * energy.hover_w / p_cruise
    vertical = (altitude_m / aircraft.climb_rate_ms * float(energy.power_w(0.0, aircraft.climb_rate_ms))
                + altitude_m / aircraft.descent_rate_ms * float(energy.power_w(0.0, -aircraft.descent_rate_ms))) / p_cruise
    ranges = split_sorties([stay] * len(stations), [float(np.hypot(*np.diff(p, axis=0).T).sum()) / speed for p in links],
                           budget_s=aircraft.usable_endurance_s,
                           overhead_s=lambda i, j: vertical + (np.hypot(*(stations[i] - home_xy)) + np.hypot(*(stations[j] - home_xy))) / speed,
                           exact=exact, item_budget=max_items - 4, overlap=0,
                           describe=lambda i: (f"lookout {pts[idx[i]][2]!r} at {pts[idx[i]][1]:.5f},"
                                               f"{pts[idx[i]][0]:.5f}"))
    built = [cache[r] for r in ranges]
    legs = [Leg(np.vstack([s, s])) for s in stations]
    settings = dict(points=[list(p) for p in pts], order=[pts[k][2] for k in idx], radius_m=radius_m,
                    time_s=time_s, altitude_m=altitude_m, home=list(home_latlon), home_alt_amsl=home_alt,
                    altitude_mode=mode.value, dem_path=str(dem_path) if dem_path else None,
                    speed_ms=speed, fence_buffer_m=fence_buffer_m, fence_margin_m=margin,
                    max_items=max_items, max_fence_points=max_fence_points, aircraft=aircraft.name)
    return finish_plan(PlanKind.LOOKOUT, planner, built, name=name, area=None, legs=legs,
                       altitude_m=altitude_m, settings=settings, stats=PlanStats(), validate=validate,
                       margin_m=margin)


def plan_perimeter(sector, *, inset_m: float, altitude_m: float, aircraft: AircraftProfile,
                   camera: CameraProfile | None = None, exclusions=(), home=None,
                   home_alt_amsl: float = 0.0, altitude_mode: str = "relative", dem_path=None,
                   terrain_follow: bool = False, speed_ms: float | None = None, laps: int = 1,
                   fence_buffer_m: float = 50.0, fence_margin_m: float = DEFAULT_FENCE_MARGIN_M,
                   rally_points=None, max_items: int = ARDUPILOT_MAX_ITEMS,
                   max_fence_points: int | None = ARDUPILOT_MAX_FENCE_POINTS, name: str = "",
                   validate: bool = True) -> Plan:
    """Plan a patrol along the sector boundary, ``inset_m`` inside it.

    Parameters
    ----------
    sector : shapely Polygon or MultiPolygon, lon/lat
        Its largest piece's outer boundary is patrolled.
    inset_m : float
        Distance inside the boundary.
    laps : int
        Times around.

    Returns
    -------
    Plan
    """
    _check_altitude(altitude_m, aircraft)
    if inset_m < 0:
        raise PlanningError(f"perimeter inset must not be negative, got {inset_m} m")
    if laps < 1:
        raise PlanningError(f"laps must be at least 1, got {laps}")
    speed = resolve_speed(aircraft, speed_ms)
    mode, dem = resolve_mode(altitude_mode, dem_path, terrain_follow)
    area = prepare_area(sector, exclusions)
    margin = float(fence_margin_m)
    home_latlon, home_xy, home_alt = resolve_home(home, area, margin, fence_buffer_m, dem, home_alt_amsl)
    fence = build_fence_geometry(area.sector_m, area.exclusions_m, buffer_m=fence_buffer_m, home_xy=home_xy)
    flight = FlightSettings(area.frame, aircraft, home_latlon, home_xy, home_alt, altitude_m, speed, mode, dem)
    planner = make_planner(flight, fence=fence, margin_m=margin, camera=camera,
                           limits=VehicleLimits(max_items, max_fence_points), rally_points=rally_points)
    inner = polygons_of(area.sector_m.buffer(-inset_m))
    if not inner:
        raise PlanningError(f"an inset of {inset_m:g} m leaves nothing of the sector")
    ring = np.asarray(max(inner, key=lambda p: p.area).exterior.simplify(1.0).coords)[:-1, :2]
    start = int(np.argmin(np.hypot(*(ring - home_xy).T)))
    ring = np.roll(ring, -start, axis=0)
    loop = np.vstack([ring] * laps + [ring[:1]])
    # Each boundary edge is a leg; edges crossing an exclusion zone are routed around it.
    ok = planner.router.covers(loop[:-1], loop[1:])
    legs = []
    for k in range(len(loop) - 1):
        xy = np.vstack([loop[k], loop[k + 1]]) if ok[k] else planner.link(loop[k], loop[k + 1])
        legs.append(Leg(xy, line=k, continues=k > 0))
    links = [np.vstack([legs[k].exit, legs[k + 1].entry]) for k in range(len(legs) - 1)]
    built, _ = planner.make_sorties(legs, links)
    settings = dict(inset_m=inset_m, laps=laps, altitude_m=altitude_m, home=list(home_latlon),
                    home_alt_amsl=home_alt, altitude_mode=mode.value,
                    dem_path=str(dem_path) if dem_path else None, speed_ms=speed,
                    fence_buffer_m=fence_buffer_m, fence_margin_m=margin, max_items=max_items, max_fence_points=max_fence_points,
                    aircraft=aircraft.name)
    plan = finish_plan(PlanKind.PERIMETER, planner, built, name=name, area=area, legs=[Leg(loop)],
                       altitude_m=altitude_m, settings=settings, stats=PlanStats(), validate=validate,
                       margin_m=margin)
    return plan
