"""Corridor surveys along a route (a road through the park, a river, a border strip).

The corridor is the route buffered by half its width (flat ends).  Imaging lines are copies of
the route offset sideways at the survey's line spacing — as few as cover the width with the
footprint — and flown back and forth; they are clipped to the corridor minus exclusion zones,
so no imaging leg leaves it.  Camera, overlap, altitude, fence and sorties work as for
:func:`missions.survey.plan_survey`.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString
from shapely.ops import linemerge

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
from .fence import build_fence_geometry
from .geometry import polygonal
from .imaging import (
    add_turnarounds,
    photo_count,
    resolve_imaging,
    split_long_legs,
)
from .items_builder import FlightSettings, Leg
from .model import Plan, PlanKind, PlanStats


def _route_line(route) -> LineString:
    if route is None or route.is_empty:
        raise InvalidInputError("the corridor route is empty")
    if isinstance(route, MultiLineString):
        merged = linemerge(route)
        if not isinstance(merged, LineString):
            raise InvalidInputError("the corridor route has gaps: give one continuous line")
        route = merged
    if not isinstance(route, LineString):
        raise InvalidInputError(f"the corridor route must be a line, got a {route.geom_type}")
    if len(route.coords) < 2:
        raise InvalidInputError("the corridor route needs at least two points")
    return route


def corridor_lines(route_m: LineString, width_m: float, spacing_m: float, footprint_across_m: float) -> list[LineString]:
    """Offset copies of the route that cover ``width_m`` with the footprint (left to right)."""
    n = 1 if width_m <= footprint_across_m else int(math.ceil((width_m - footprint_across_m) / spacing_m)) + 1
    offsets = (np.arange(n) - (n - 1) / 2.0) * spacing_m
    lines = []
    for d in offsets[::-1]:  # positive offsets are to the left
        off = route_m if abs(d) < 1e-9 else shapely.offset_curve(route_m, float(d), join_style="round")
        lines.append(off)
    return lines


def plan_corridor(route, *, width_m: float, camera: CameraProfile, aircraft: AircraftProfile,
                  exclusions=(), altitude_m: float | None = None, gsd_m: float | None = None,
                  front_overlap: float = 0.75, side_overlap: float = 0.65, home=None,
                  home_alt_amsl: float = 0.0, altitude_mode: str = "relative", dem_path=None,
                  terrain_follow: bool = False, trigger: str = "distance",
                  speed_ms: float | None = None, turnaround_m: float | None = None,
                  fence_buffer_m: float = 50.0, fence_margin_m: float = DEFAULT_FENCE_MARGIN_M,
                  rally_points=None, max_items: int = ARDUPILOT_MAX_ITEMS,
                  max_fence_points: int | None = ARDUPILOT_MAX_FENCE_POINTS, name: str = "",
                  terrain_tolerance_m: float = 5.0, validate: bool = True) -> Plan:
    """Plan an imaging corridor along a route.

    Parameters
    ----------
    route : shapely LineString (or continuous MultiLineString), lon/lat
    width_m : float
        Corridor width, centred on the route.
    Other parameters
        As :func:`missions.survey.plan_survey`.

    Returns
    -------
    Plan
    """
    route = _route_line(route)
    if not width_m or width_m <= 0:
        raise PlanningError(f"corridor width must be positive, got {width_m} m")
    run = resolve_imaging(camera, aircraft, altitude_m=altitude_m, gsd_m=gsd_m, speed_ms=speed_ms,
                          front_overlap=front_overlap, side_overlap=side_overlap, trigger=trigger,
                          turnaround_m=turnaround_m)
    altitude, speed, cruise, spacing, trig = (run.altitude_m, run.speed_ms, run.transit_ms,
                                              run.spacing_m, run.trigger_distance_m)
    turn, speed_note = run.turnaround_m, run.speed_note
    mode, dem = resolve_mode(altitude_mode, dem_path, terrain_follow)
    frame0 = LocalFrame.for_geometry(route)
    route0 = frame0.geom_to_metric(route)
    corridor_ll = frame0.geom_to_lonlat(route0.buffer(width_m / 2.0, cap_style="flat"))
    area = prepare_area(corridor_ll, exclusions)
    route_m = area.frame.geom_to_metric(route)
    margin = float(fence_margin_m)
    home_latlon, home_xy, home_alt = resolve_home(home, area, margin, fence_buffer_m, dem, home_alt_amsl)
    fence = build_fence_geometry(area.sector_m, area.exclusions_m, buffer_m=fence_buffer_m, home_xy=home_xy)
    flight = FlightSettings(area.frame, aircraft, home_latlon, home_xy, home_alt, altitude, speed, mode,
                            dem, terrain_tolerance_m, transit_speed_ms=cruise)
    planner = make_planner(flight, fence=fence, margin_m=margin, camera=camera,
                           shutter=run.shutter,
                           limits=VehicleLimits(max_items, max_fence_points), rally_points=rally_points)
    imaging = polygonal(area.allowed_m.intersection(planner.router.area))
    if imaging.is_empty:
        raise PlanningError("nothing left to image in the corridor once exclusions and fence margins are kept")
    across, _ = camera.footprint_m(altitude)
    legs: list[Leg] = []
    for j, line in enumerate(corridor_lines(route_m, width_m, spacing, across)):
        pieces = [g for g in shapely.get_parts(shapely.intersection(line, imaging))
                  if g.geom_type == "LineString" and g.length > 1e-3]
        keyed = []
        for g in pieces:
            c = np.asarray(g.coords)[:, :2]
            a, b = line.project(shapely.Point(c[0])), line.project(shapely.Point(c[-1]))
            if b < a:
                c = c[::-1]
                a, b = b, a
            keyed.append((a, c))
        keyed.sort(key=lambda t: t[0])
        if j % 2 == 1:  # fly every other line back
            keyed = [(a, c[::-1]) for a, c in keyed[::-1]]
        legs += [Leg(c, line=j) for _, c in keyed]
    if not legs:
        raise PlanningError("no imaging line fits in the corridor")
    # Start from the end nearer home.
    if np.hypot(*(legs[-1].xy[-1] - home_xy)) < np.hypot(*(legs[0].xy[0] - home_xy)):
        legs = [Leg(leg.xy[::-1].copy(), line=leg.line) for leg in legs[::-1]]
    add_turnarounds(legs, planner.router, turn)
    legs = split_long_legs(legs, 0.3 * aircraft.usable_endurance_s * speed)
    legs = planner.fit_legs(legs)
    links = planner.links(legs)
    built, ranges = planner.make_sorties(legs, links)
    flown = [legs[k] for a, b in ranges for k in range(a, b + 1)]
    stats = PlanStats(gsd_m=camera.gsd_m(altitude), line_spacing_m=spacing, trigger_distance_m=trig,
                      transect_count=sum(1 for leg in legs if not leg.continues),
                      photo_count=photo_count(flown, trigger, trig))
    settings = dict(width_m=width_m, altitude_m=altitude, gsd_m=gsd_m, front_overlap=front_overlap,
                    side_overlap=side_overlap, home=list(home_latlon), home_alt_amsl=home_alt,
                    altitude_mode=mode.value, dem_path=str(dem_path) if dem_path else None,
                    trigger=trigger, speed_ms=speed, transit_speed_ms=cruise, turnaround_m=turn, fence_buffer_m=fence_buffer_m,
                    fence_margin_m=margin, max_items=max_items, max_fence_points=max_fence_points, line_spacing_m=spacing,
                    trigger_distance_m=trig, camera=camera.name, aircraft=aircraft.name,
                    route=shapely.geometry.mapping(route))
    if speed_note:
        settings["speed_note"] = speed_note
    return finish_plan(PlanKind.CORRIDOR, planner, built, name=name, area=area, legs=legs,
                       altitude_m=altitude, settings=settings, stats=stats, validate=validate,
                       margin_m=margin)
