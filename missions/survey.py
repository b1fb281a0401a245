"""Survey grids: parallel imaging lines over a sector, clipped exactly to the allowed area.

Geometry (nadir camera, flat ground at the flight height ``h``):

* footprint = ``sensor_width · h / f`` across track by ``sensor_height · h / f`` along track —
  the image's **long side is flown across track** (fewer lines, the usual choice);
* line spacing = footprint width · (1 − side overlap);
* trigger distance = footprint height · (1 − front overlap);
* GSD = ``h · sensor_width / (f · image_width)``.

Lines are laid at a bearing (degrees clockwise from **true** north at the centre of the area)
chosen by the ranger or automatically.  Planning happens in the UTM zone, whose grid north is
off true north by the meridian convergence (about 1.5 degrees over the Land of the Leopard,
up to 3 at a zone's edge): :func:`plan_survey` converts at the edge, the metric core
(:func:`survey_grid`, :func:`best_angle`) works in grid bearings.  The automatic choice is the
bearing that minimises the number of boundary crossings (so turns, the only part of the flight
time that depends on the angle — the line length over an area is nearly constant).  Lines are clipped to *sector minus exclusion zones minus the fence
margins*, so no imaging leg leaves the allowed area, notches and holes included; pieces are
ordered boustrophedon-style cell by cell, and transits between pieces are routed inside the
flight area (shortest path around obstacles), never across an exclusion zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from uav.errors import PlanningError
from uav.limits import ARDUPILOT_MAX_FENCE_POINTS, ARDUPILOT_MAX_ITEMS, VehicleLimits
from uav.profiles import AircraftProfile, CameraProfile

from .assemble import (
    DEFAULT_FENCE_MARGIN_M,
    Area,
    finish_plan,
    make_planner,
    prepare_area,
    resolve_home,
    resolve_mode,
)
from .fence import build_fence_geometry
from .geometry import (
    Router,
    bearing_rotation,
    edges_of,
    line_offsets,
    polygonal,
    rotate_geom,
    rotate_xy,
    scanline_segments,
)
from .imaging import (
    add_turnarounds,
    parse_bearing,
    photo_count,
    resolve_imaging,
    split_long_legs,
    true_north_grid_bearing,
)
from .items_builder import FlightSettings, Leg
from .model import Plan, PlanKind, PlanStats
from .sorties import split_among_drones


def crossing_measure(area: BaseGeometry, bearings_deg: np.ndarray) -> np.ndarray:
    """Total boundary length projected across lines of each bearing.

    Divided by the spacing it is the number of times lines cross the boundary: twice the
    number of legs, hence of turns.
    """
    e = edges_of(area)
    d = e[:, 2:] - e[:, :2]
    b = np.radians(np.asarray(bearings_deg, dtype=float))
    # Normal of a line with direction (sin b, cos b) is (cos b, -sin b).
    return np.abs(np.outer(d[:, 0], np.cos(b)) - np.outer(d[:, 1], np.sin(b))).sum(axis=0)


def best_angle(area: BaseGeometry, spacing_m: float) -> float:
    """Grid bearing (0-180 degrees) that gives the fewest legs, hence turns.

    A 1-degree sweep of :func:`crossing_measure` picks candidates; the best few are clipped
    exactly and the one with the fewest pieces (then the least crossing length) wins.
    """
    cand = np.arange(0.0, 180.0, 1.0)
    m = crossing_measure(area, cand)
    best = cand[np.argsort(m)[:5]]
    scored = []
    c = area.centroid
    for b in best:
        rot = rotate_geom(area, bearing_rotation(b), (c.x, c.y))
        x0, y0, x1, y1 = rot.bounds
        k, _, _ = scanline_segments(rot, line_offsets(y0, y1, spacing_m))
        scored.append((len(k), float(crossing_measure(area, [b])[0]), float(b)))
    return min(scored)[2]


def order_segments(k: np.ndarray, x0: np.ndarray, x1: np.ndarray, ys: np.ndarray,
                   start_xy) -> list[tuple[int, bool]]:
    """Fly order of clipped segments: boustrophedon within cells, nearest jump between cells.

    From the current segment the next is an unvisited one on the adjacent line that overlaps
    it in x (the same cell); when there is none the aircraft jumps to the nearest unvisited
    segment end.  Returns ``(segment index, reversed)`` pairs.
    """
    n = len(k)
    if n == 0:
        return []
    by_line: dict[int, list[int]] = {}
    for s in range(n):
        by_line.setdefault(int(k[s]), []).append(s)
    e0 = np.column_stack([x0, ys[k]])
    e1 = np.column_stack([x1, ys[k]])
    visited = np.zeros(n, bool)
    pos = np.asarray(start_xy, dtype=float)
    order = []
    cur, dk = None, 1
    for _ in range(n):
        nxt = None
        if cur is not None:
            for d in (dk, -dk):
                cands = [s for s in by_line.get(int(k[cur]) + d, ())
                         if not visited[s] and x0[s] <= x1[cur] and x1[s] >= x0[cur]]
                if cands:
                    nxt = min(cands, key=lambda s: min(abs(x0[s] - pos[0]), abs(x1[s] - pos[0])))
                    dk = d
                    break
        if nxt is None:
            d0 = np.hypot(*(e0 - pos).T)
            d1 = np.hypot(*(e1 - pos).T)
            d = np.minimum(d0, d1)
            d[visited] = np.inf
            nxt = int(np.argmin(d))
            if cur is not None:
                dk = 1 if k[nxt] >= k[cur] else -1
        rev = bool(np.hypot(*(e1[nxt] - pos)) < np.hypot(*(e0[nxt] - pos)))
        order.append((nxt, rev))
        visited[nxt] = True
        pos = e0[nxt] if rev else e1[nxt]
        cur = nxt
    return order


@dataclass
class Grid:
    """The imaging legs of a survey, ordered, in the metric frame."""

    bearing_deg: float
    spacing_m: float
    legs: list[Leg] = field(default_factory=list)
    line_count: int = 0


def grid_legs(area: BaseGeometry, *, spacing_m: float, bearing_deg: float, start_xy,
              origin=None, anchor: float | None = None, line_base: int = 0) -> tuple[list[Leg], int]:
    """Clip lines of one bearing to ``area`` and order them (no turnarounds yet).

    ``origin``/``anchor`` fix the line grid so that sub-areas (drone bands) keep the lines of
    the whole.
    """
    if origin is None:
        c = area.centroid
        origin = (c.x, c.y)
    rot_deg = bearing_rotation(bearing_deg)
    rot = rotate_geom(area, rot_deg, origin)
    x0b, y0b, x1b, y1b = rot.bounds
    ys = line_offsets(y0b, y1b, spacing_m, anchor)
    k, x0, x1 = scanline_segments(rot, ys)
    start_r = rotate_xy(np.asarray(start_xy, dtype=float)[None], rot_deg, origin)[0]
    order = order_segments(k, x0, x1, ys, start_r)
    legs = []
    for s, rev in order:
        seg = np.array([[x0[s], ys[k[s]]], [x1[s], ys[k[s]]]])
        if rev:
            seg = seg[::-1]
        legs.append(Leg(rotate_xy(seg, -rot_deg, origin), line=line_base + int(k[s])))
    return legs, len(np.unique(k))


def survey_grid(area: BaseGeometry, router: Router, *, spacing_m: float, angle_deg="auto",
                crosshatch: bool = False, start_xy=None, turnaround_m: float = 0.0,
                max_leg_m: float | None = None, origin=None, anchor: float | None = None) -> Grid:
    """Ordered imaging legs over a metric area, with turnarounds (the planner's geometry core).

    Parameters
    ----------
    area : Polygon or MultiPolygon
        Where imaging legs may lie (metric).
    router : Router
        The flight area (turnarounds must stay inside it).
    angle_deg : float or "auto"
        Grid bearing, degrees clockwise from grid north.
    """
    if area.is_empty:
        raise PlanningError("nothing to survey: the allowed area is empty")
    if angle_deg == "auto" or angle_deg is None:
        bearing = best_angle(area, spacing_m)
    else:
        try:
            bearing = float(angle_deg) % 180.0
        except (TypeError, ValueError):
            raise PlanningError(f"grid angle must be degrees or 'auto', got {angle_deg!r}") from None
    c = area.centroid
    origin = origin or (c.x, c.y)
    start = start_xy if start_xy is not None else np.array(area.exterior.coords[0] if hasattr(area, "exterior") else (c.x, c.y))
    legs, nlines = grid_legs(area, spacing_m=spacing_m, bearing_deg=bearing, start_xy=start,
                             origin=origin, anchor=anchor)
    if crosshatch and legs:
        more, n2 = grid_legs(area, spacing_m=spacing_m, bearing_deg=(bearing + 90.0) % 180.0,
                             start_xy=legs[-1].xy[-1], origin=origin, anchor=None,
                             line_base=100000)
        legs += more
        nlines += n2
    if not legs:
        raise PlanningError(f"no flight line fits in the allowed area at {spacing_m:.0f} m spacing; "
                            "the area is too small or too narrow for this camera and altitude")
    add_turnarounds(legs, router, turnaround_m)
    if max_leg_m:
        legs = split_long_legs(legs, max_leg_m)
    return Grid(bearing, spacing_m, legs, nlines)


def _band_areas(area: BaseGeometry, *, spacing_m: float, bearing: float, origin, n: int,
                speed: float, accel: float) -> list[BaseGeometry]:
    """Cut an area into ``n`` strips of whole lines with balanced estimated flight time."""
    rot_deg = bearing_rotation(bearing)
    rot = rotate_geom(area, rot_deg, origin)
    x0b, y0b, x1b, y1b = rot.bounds
    ys = line_offsets(y0b, y1b, spacing_m, anchor=origin[1])
    k, x0, x1 = scanline_segments(rot, ys)
    if len(k) == 0:
        raise PlanningError("no flight line fits in the allowed area")
    lines = np.unique(k)
    t = np.zeros(len(ys))
    np.add.at(t, k, (x1 - x0) / speed + speed / accel)
    bands = split_among_drones(t[lines], n)
    out = []
    for a, b in bands:
        ylo = ys[lines[a]] - spacing_m / 2
        yhi = ys[lines[b]] + spacing_m / 2
        strip = rotate_geom(box(x0b - 10, ylo, x1b + 10, yhi), -rot_deg, origin)
        out.append(polygonal(area.intersection(strip)))
    return out


def plan_survey(sector, *, camera: CameraProfile, aircraft: AircraftProfile, exclusions=(),
                altitude_m: float | None = None, gsd_m: float | None = None,
                front_overlap: float = 0.75, side_overlap: float = 0.65, angle_deg="auto",
                crosshatch: bool = False, home=None, home_alt_amsl: float = 0.0,
                altitude_mode: str = "relative", dem_path=None, terrain_follow: bool = False,
                trigger: str = "distance", speed_ms: float | None = None,
                turnaround_m: float | None = None, fence_buffer_m: float = 50.0,
                fence_margin_m: float = DEFAULT_FENCE_MARGIN_M, rally_points=None,
                max_items: int = ARDUPILOT_MAX_ITEMS,
                max_fence_points: int | None = ARDUPILOT_MAX_FENCE_POINTS, drones: int = 1, homes=None, name: str = "",
                terrain_tolerance_m: float = 5.0, validate: bool = True) -> Plan | list[Plan]:
    """Plan a photo survey over a sector.

    Parameters
    ----------
    sector : shapely Polygon or MultiPolygon
        The area, lon/lat (WGS84); holes are neither imaged nor flown over.
    camera, aircraft : CameraProfile, AircraftProfile
    exclusions : sequence of shapely polygons
        No-fly zones (villages, border zone), lon/lat.
    altitude_m, gsd_m : float
        Flight height above home (or above ground when terrain-following), or the target
        ground sample distance in metres per pixel; exactly one.
    front_overlap, side_overlap : float
        Fractions (0.75 = 75 %).
    angle_deg : float or "auto"
        Line bearing, degrees clockwise from true north (at the centre of the area; lines are
        straight in the UTM zone); ``"auto"`` minimises turns.  ``stats.grid_angle_deg`` reports
        the bearing flown, also from true north.
    crosshatch : bool
        Add a second pass at right angles.
    home : (lat, lon), optional
        Launch point; default: inside the allowed area near the sector's centroid.
    altitude_mode : {"relative", "amsl", "terrain"}
        Frame of the waypoint altitudes; ``terrain_follow=True`` means ``"terrain"``.
    dem_path : path, optional
        DEM GeoTIFF for terrain following (and the home elevation).
    trigger : {"distance", "hover", "none"}
        Camera by DO_SET_CAM_TRIGG_DIST per leg, by hover-and-capture, or not at all.
    speed_ms : float, optional
        Survey speed (default the aircraft's cruise speed); lowered when the camera cannot
        take photos that fast.
    turnaround_m : float, optional
        Lead-in/lead-out beyond each leg (default the distance to reach speed, v²/2a).
    fence_buffer_m, fence_margin_m : float
        Inclusion fence distance outside the sector; how far paths keep from every fence.
    rally_points : sequence of (lat, lon[, alt]), optional
    max_items : int
        Vehicle mission storage (ArduPilot 4.7 SITL: 650); sorties are cut to fit.
    drones : int
        Share the sector among this many drones: returns one plan per drone.
    homes : sequence of (lat, lon), optional
        One launch point per drone (default: ``home`` for all).

    Returns
    -------
    Plan, or list of Plan when ``drones > 1``.

    Raises
    ------
    PlanningError
        Altitude above the ceiling, unreachable GSD, nothing left after exclusions, a leg no
        battery can fly, a plan that fails validation.
    """
    if not isinstance(drones, int) or drones < 1:
        raise PlanningError(f"number of drones must be a whole number >= 1, got {drones!r}")
    run = resolve_imaging(camera, aircraft, altitude_m=altitude_m, gsd_m=gsd_m, speed_ms=speed_ms,
                          front_overlap=front_overlap, side_overlap=side_overlap, trigger=trigger,
                          turnaround_m=turnaround_m)
    altitude, speed, cruise, spacing, trig = (run.altitude_m, run.speed_ms, run.transit_ms,
                                              run.spacing_m, run.trigger_distance_m)
    turn, shutter, speed_note = run.turnaround_m, run.shutter, run.speed_note
    mode, dem = resolve_mode(altitude_mode, dem_path, terrain_follow)
    area = prepare_area(sector, exclusions)
    true_bearing = parse_bearing(angle_deg)
    mid = area.allowed_m.centroid
    north = true_north_grid_bearing(area.frame, (mid.x, mid.y))
    grid_angle = "auto" if true_bearing == "auto" else (true_bearing + north) % 180.0
    margin = float(fence_margin_m)
    home_latlon, home_xy, home_alt = resolve_home(home, area, margin, fence_buffer_m, dem, home_alt_amsl)
    drone_homes = [(home_latlon, home_xy)]
    if homes:
        drone_homes = [resolve_home(h, area, margin, fence_buffer_m, None, 0.0)[:2] for h in homes]
    fence = build_fence_geometry(area.sector_m, area.exclusions_m, buffer_m=fence_buffer_m,
                                 home_xy=[h[1] for h in drone_homes][0] if len(drone_homes) == 1 else None,
                                 extra_m=shapely.multipoints([h[1] for h in drone_homes]) if len(drone_homes) > 1 else None)
    limits = VehicleLimits(max_items, max_fence_points)
    settings = dict(altitude_m=altitude, gsd_m=gsd_m, front_overlap=front_overlap,
                    side_overlap=side_overlap, angle_deg=angle_deg, crosshatch=crosshatch,
                    transit_speed_ms=cruise,
                    home=list(home_latlon), home_alt_amsl=home_alt, altitude_mode=mode.value,
                    dem_path=str(dem_path) if dem_path else None, trigger=trigger, speed_ms=speed,
                    turnaround_m=turn, fence_buffer_m=fence_buffer_m, fence_margin_m=margin,
                    max_items=max_items, max_fence_points=max_fence_points, line_spacing_m=spacing, trigger_distance_m=trig,
                    camera=camera.name, aircraft=aircraft.name)
    if speed_note:
        settings["speed_note"] = speed_note

    def one(sub_area, hl, hx, label, origin, anchor, angle):
        flight = FlightSettings(area.frame, aircraft, hl, hx, home_alt, altitude, speed, mode, dem,
                                terrain_tolerance_m, transit_speed_ms=cruise)
        planner = make_planner(flight, fence=fence, margin_m=margin, camera=camera, shutter=shutter,
                               limits=limits, rally_points=rally_points)
        imaging = polygonal(sub_area.intersection(planner.router.area))
        if imaging.is_empty:
            raise PlanningError("nothing left to image once the fence margins are kept "
                                f"({margin:g} m from every fence)")
        grid = survey_grid(imaging, planner.router, spacing_m=spacing, angle_deg=angle,
                           crosshatch=crosshatch, start_xy=hx, turnaround_m=turn,
                           max_leg_m=0.3 * aircraft.usable_endurance_s * speed,
                           origin=origin, anchor=anchor)
        grid.legs = planner.fit_legs(grid.legs)
        links = planner.links(grid.legs)
        built, ranges = planner.make_sorties(grid.legs, links)
        flown = [grid.legs[k] for a, b in ranges for k in range(a, b + 1)]
        stats = PlanStats(gsd_m=camera.gsd_m(altitude), line_spacing_m=spacing,
                          trigger_distance_m=trig, grid_angle_deg=(grid.bearing_deg - north) % 180.0,
                          transect_count=sum(1 for leg in grid.legs if not leg.continues),
                          photo_count=photo_count(flown, trigger, trig))
        s = dict(settings, grid_angle_deg=(grid.bearing_deg - north) % 180.0,
                 grid_north_offset_deg=north)
        sub = area if sub_area is area.allowed_m else Area(area.frame, area.sector_ll, area.exclusions_ll,
                                                           area.sector_m, area.exclusions_m, sub_area)
        return finish_plan(PlanKind.SURVEY, planner, built, name=label, area=sub, legs=grid.legs,
                           altitude_m=altitude, settings=s, stats=stats, validate=validate,
                           margin_m=margin)

    if drones == 1:
        return one(area.allowed_m, home_latlon, home_xy, name, None, None, grid_angle)
    # Shared grid: all bands use the lines of the whole area.
    flight = fence.flight_area(margin)
    imaging = polygonal(area.allowed_m.intersection(flight))
    bearing = best_angle(imaging, spacing) if grid_angle == "auto" else grid_angle
    c = imaging.centroid
    origin = (c.x, c.y)
    bands = _band_areas(imaging, spacing_m=spacing, bearing=bearing, origin=origin, n=drones,
                        speed=speed, accel=aircraft.acceleration_ms2)
    plans = []
    for i, band in enumerate(bands):
        hl, hx = drone_homes[i % len(drone_homes)]
        label = f"{name} drone {i + 1}/{drones}".strip()
        p = one(band, hl, hx, label, origin, origin[1], bearing)
        p.settings["drone"] = i + 1
        p.settings["drones"] = drones
        p.settings["angle_deg"] = (bearing - north) % 180.0
        plans.append(p)
    return plans
