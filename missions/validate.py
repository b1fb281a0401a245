"""Check a plan before it leaves the planner (and again before ``uav plan show`` / upload).

Rules, per sortie, each violation naming the item (seq) and why:

* seq 0 is home (NAV_WAYPOINT, frame GLOBAL);
* the mission has no more items than the vehicle takes (``max_items``; ArduPilot 4.7 SITL
  takes 650);
* every flown segment — home to the first waypoint, waypoint to waypoint, the last waypoint
  back home for RTL, and orbits — stays inside every inclusion fence and outside every
  exclusion fence, both by ``fence_margin_m``; the fence is read back from the plan's own
  FENCE items, i.e. what the vehicle will enforce;
* altitudes are above 0 and not above the aircraft's ``max_altitude_m`` (above ground where
  the plan's DEM is at hand, above home otherwise);
* photos are never asked for faster than the camera's ``min_trigger_interval_s``
  (trigger distance / speed, or time between hover shots);
* the sortie's estimated battery use (the aircraft's energy model, :mod:`uav.energy`: the one
  the built-in copter and the rehearsal use) is within the usable charge, the reserve kept;
* the fence fits the vehicle's fence storage (``max_fence_points``, see
  :data:`DEFAULT_MAX_FENCE_POINTS`).
"""

from __future__ import annotations

import os

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from uav.errors import PlanValidationError
from uav.geo import LocalFrame, distance_m
from uav.items import Cmd, Frame, MissionType
from uav.limits import ARDUPILOT_MAX_FENCE_POINTS, ARDUPILOT_MAX_ITEMS

from .estimate import estimate_mission
from .fence import fence_polygons
from .model import Plan

_ABS_FRAMES = (Frame.GLOBAL, Frame.GLOBAL_INT)
_TERRAIN_FRAMES = (Frame.GLOBAL_TERRAIN_ALT, Frame.GLOBAL_TERRAIN_ALT_INT)
DEFAULT_MAX_FENCE_POINTS = ARDUPILOT_MAX_FENCE_POINTS  # the reason is given in uav/limits.py
_FENCE_POINT_CMDS = (Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
                     Cmd.NAV_FENCE_CIRCLE_INCLUSION, Cmd.NAV_FENCE_CIRCLE_EXCLUSION,
                     Cmd.NAV_FENCE_RETURN_POINT)
_NAV = (Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_TURNS, Cmd.NAV_LOITER_UNLIM, Cmd.NAV_LAND)


def _dem_for(plan: Plan):
    path = (plan.settings or {}).get("dem_path")
    if path and os.path.exists(path):
        from .terrain import Dem

        return Dem(path)
    return None


def _check_fence(label, path, frame: LocalFrame, inc, exc, margin: float, problems: list[str]):
    """path: list of (seq, lon, lat, radius) in flight order, starting at home."""
    if not inc and not exc:
        return
    tol = 0.01  # centimetre rounding of stored coordinates
    inc_m = [frame.geom_to_metric(p) for p in inc]
    exc_m = [frame.geom_to_metric(p) for p in exc]
    inc_check = [p.buffer(-(margin - tol)) if margin > tol else p.buffer(tol) for p in inc_m]
    exc_check = [p.buffer(margin - tol) if margin > tol else p for p in exc_m]
    for g in inc_check + exc_check:
        shapely.prepare(g)
    lon = np.array([p[1] for p in path])
    lat = np.array([p[2] for p in path])
    x, y = frame.to_metric(lon, lat)
    xy = np.column_stack([x, y])
    geoms = []
    for i, (seq, _, _, radius) in enumerate(path):
        if i == 0:
            continue
        seg = LineString([xy[i - 1], xy[i]]) if np.hypot(*(xy[i] - xy[i - 1])) > 1e-6 else Point(xy[i])
        geoms.append((seq, seg))
        if radius:
            geoms.append((seq, Point(xy[i]).buffer(abs(radius), quad_segs=16).exterior))
    if not geoms:
        return
    arr = np.array([g for _, g in geoms], dtype=object)
    for n, (poly, chk) in enumerate(zip(inc_m, inc_check)):
        ok = shapely.covers(chk, arr)
        for idx in np.flatnonzero(~ok):
            seq, g = geoms[idx]
            if poly.covers(g):
                why = f"comes within {g.distance(poly.exterior):.1f} m of the inclusion fence (margin {margin:g} m)"
            else:
                why = f"leaves inclusion fence {n + 1} by {g.difference(poly).length:.1f} m of path"
            problems.append(f"{label}item {seq}: path to it {why}")
    for n, (poly, chk) in enumerate(zip(exc_m, exc_check)):
        hit = shapely.intersects(chk, arr)
        for idx in np.flatnonzero(hit):
            seq, g = geoms[idx]
            if g.intersects(poly):
                why = f"enters exclusion fence {n + 1}"
            else:
                why = f"passes {g.distance(poly):.1f} m from exclusion fence {n + 1} (margin {margin:g} m)"
            problems.append(f"{label}item {seq}: path to it {why}")


def fence_point_count(fence: list) -> tuple[int, int]:
    """(points, polygons) of a list of FENCE items: what the vehicle has to store."""
    points = [it for it in fence if it.command in _FENCE_POINT_CMDS]
    polygons = 0
    i = 0
    while i < len(fence):
        it = fence[i]
        if it.command in (Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
            polygons += 1
            i += max(int(it.param1), 1)
        else:
            i += 1
    return len(points), polygons


def _check_fence_size(label: str, fence: list, max_points: int, problems: list[str]) -> None:
    n, polygons = fence_point_count(fence)
    if n > max_points:
        problems.append(
            f"{label}fence item {max_points}: the fence has {n} points in {polygons} polygon(s), the "
            f"vehicle stores {max_points}; widen the fence buffer (the fence is simplified more), merge "
            "or drop exclusion zones, or raise the limit for a board that keeps the fence on its SD "
            "card (BRD_SD_FENCE)")


def validate_plan(plan: Plan, *, max_items: int = ARDUPILOT_MAX_ITEMS, fence_margin_m: float = 5.0,
                  max_fence_points: int | None = DEFAULT_MAX_FENCE_POINTS,
                  raise_on_error: bool = True) -> list[str]:
    """Check a plan against the vehicle's and the law's limits.

    Parameters
    ----------
    plan : Plan
    max_items : int
        Most mission items (home included) one sortie may hold.
    fence_margin_m : float
        How far every flown segment must keep from every fence.
    max_fence_points : int or None
        Most fence points (polygon vertices, circles, return point) the vehicle stores;
        ``None`` skips the check.
    raise_on_error : bool
        Raise :class:`uav.errors.PlanValidationError` listing every problem found.

    Returns
    -------
    list of str
        The problems found (empty when the plan is fine).
    """
    problems: list[str] = []
    if not plan.sorties:
        problems.append("the plan has no sorties")
    aircraft, camera = plan.aircraft, plan.camera
    dem = None
    multi = len(plan.sorties) > 1
    checked_fences: list = []
    for si, m in enumerate(plan.sorties):
        label = f"sortie {si + 1}, " if multi else ""
        items = m.items
        if not items:
            problems.append(f"{label}mission has no items")
            continue
        home = items[0]
        if home.command != Cmd.NAV_WAYPOINT or home.frame != Frame.GLOBAL:
            problems.append(f"{label}item 0: must be the home position (NAV_WAYPOINT, frame GLOBAL), "
                            f"got {home.describe()}")
        if len(items) > max_items:
            problems.append(f"{label}mission has {len(items)} items, the vehicle takes {max_items}; "
                            "split it into more sorties")
        for seq, it in enumerate(items):
            if it.mission_type != MissionType.MISSION:
                problems.append(f"{label}item {seq}: mission item has mission type {it.mission_type}")
        if max_fence_points is not None and m.fence and m.fence not in checked_fences:
            # Sorties share one fence: report it once, not once per sortie.
            checked_fences.append(m.fence)
            _check_fence_size(label if multi and len(checked_fences) > 1 else "", m.fence,
                              max_fence_points, problems)
        for seq, it in enumerate(m.fence):
            if it.mission_type != MissionType.FENCE:
                problems.append(f"{label}fence item {seq}: has mission type {it.mission_type}, not FENCE")
        for seq, it in enumerate(m.rally):
            if it.mission_type != MissionType.RALLY or it.command != Cmd.NAV_RALLY_POINT:
                problems.append(f"{label}rally item {seq}: must be NAV_RALLY_POINT of mission type RALLY")
        frame = LocalFrame.around(home.lon, home.lat) if -180 <= home.lon <= 180 and -90 <= home.lat <= 90 else None
        # --- path and altitudes ------------------------------------------------------
        path = [(0, home.lon, home.lat, 0.0)]
        speed = aircraft.cruise_speed_ms if aircraft else None
        trig_d = 0.0
        last_shot = None  # (lon, lat) of the previous hover shot
        travel_since_shot = 0.0
        hold_since_shot = 0.0
        abs_alts = []
        for seq, it in enumerate(items[1:], start=1):
            cmd = it.command
            if cmd == Cmd.DO_CHANGE_SPEED and it.param2 > 0:
                speed = it.param2
                if camera and trig_d > 0 and trig_d / speed < camera.min_trigger_interval_s:
                    problems.append(f"{label}item {seq}: speed {speed:g} m/s with photos every {trig_d:g} m is "
                                    f"one photo per {trig_d / speed:.2f} s; camera {camera.name!r} needs "
                                    f"{camera.min_trigger_interval_s:g} s")
            elif cmd == Cmd.DO_SET_CAM_TRIGG_DIST:
                trig_d = it.param1
                if camera and trig_d > 0 and speed and trig_d / speed < camera.min_trigger_interval_s:
                    problems.append(f"{label}item {seq}: photos every {trig_d:g} m at {speed:g} m/s is one "
                                    f"photo per {trig_d / speed:.2f} s; camera {camera.name!r} needs "
                                    f"{camera.min_trigger_interval_s:g} s (lower the speed or the overlap)")
            elif cmd == Cmd.DO_DIGICAM_CONTROL:
                here = (path[-1][1], path[-1][2])
                if last_shot is not None and camera and speed:
                    dt = travel_since_shot / speed + hold_since_shot
                    if dt < camera.min_trigger_interval_s - 1e-6:
                        problems.append(f"{label}item {seq}: hover shot {dt:.2f} s after the previous one; "
                                        f"camera {camera.name!r} needs {camera.min_trigger_interval_s:g} s")
                last_shot = here
                travel_since_shot = hold_since_shot = 0.0
            elif cmd == Cmd.NAV_TAKEOFF:
                if it.frame in _ABS_FRAMES:
                    rel = it.alt - home.alt
                else:
                    rel = it.alt
                if aircraft and rel > aircraft.max_altitude_m + 0.01:
                    problems.append(f"{label}item {seq}: takeoff to {rel:.1f} m, above the aircraft ceiling "
                                    f"{aircraft.max_altitude_m:g} m")
            elif cmd in _NAV:
                prev = path[-1]
                radius = it.param3 if cmd == Cmd.NAV_LOITER_TURNS else 0.0
                path.append((seq, it.lon, it.lat, radius))
                d = float(distance_m(prev[1], prev[2], it.lon, it.lat))
                travel_since_shot += d
                if cmd == Cmd.NAV_WAYPOINT:
                    hold_since_shot += it.param1
                if it.frame in _ABS_FRAMES:
                    abs_alts.append((seq, it))
                    rel = it.alt - home.alt
                else:
                    rel = it.alt
                # Absolute altitudes over a DEM are checked above ground further down.
                if it.frame not in _ABS_FRAMES or not (plan.settings or {}).get("dem_path"):
                    if rel <= 0:
                        problems.append(f"{label}item {seq}: altitude {rel:.1f} m is not above "
                                        f"{'ground' if it.frame in _TERRAIN_FRAMES else 'home'}")
                    elif aircraft and rel > aircraft.max_altitude_m + 0.01:
                        problems.append(f"{label}item {seq}: altitude {rel:.1f} m above "
                                        f"{'ground' if it.frame in _TERRAIN_FRAMES else 'home'} is over "
                                        f"the aircraft ceiling {aircraft.max_altitude_m:g} m")
            elif cmd == Cmd.NAV_RETURN_TO_LAUNCH:
                path.append((seq, home.lon, home.lat, 0.0))
        if abs_alts and aircraft and (plan.settings or {}).get("dem_path"):
            if dem is None:
                dem = _dem_for(plan)
            if dem is not None:
                lon = np.array([it.lon for _, it in abs_alts])
                lat = np.array([it.lat for _, it in abs_alts])
                try:
                    ground = dem.sample(lon, lat)
                except Exception as exc:  # noqa: BLE001 - reported as a problem, not a crash
                    problems.append(f"{label}cannot check heights above ground: {exc}")
                    ground = None
                if ground is not None:
                    for (seq, it), g in zip(abs_alts, ground):
                        agl = it.alt - g
                        if agl > aircraft.max_altitude_m + 0.01:
                            problems.append(f"{label}item {seq}: {agl:.1f} m above ground (DEM), over the "
                                            f"aircraft ceiling {aircraft.max_altitude_m:g} m")
                        elif agl <= 0:
                            problems.append(f"{label}item {seq}: {agl:.1f} m above ground (DEM): "
                                            "below the terrain")
        if frame is not None:
            try:
                inc, exc = fence_polygons(m.fence)
            except PlanValidationError as err:
                problems.extend(f"{label}{p}" for p in err.problems)
                inc, exc = [], []
            _check_fence(label, path, frame, inc, exc, fence_margin_m, problems)
        # --- endurance -----------------------------------------------------------------
        if aircraft is not None:
            est = estimate_mission(m, aircraft)
            energy = aircraft.energy
            if est.charge_mah > energy.usable_mah * (1 + 1e-9):
                problems.append(
                    f"{label}estimated flight time {est.time_s / 60:.1f} min needs {est.charge_mah:,.0f} mAh, "
                    f"over the usable endurance of {aircraft.name!r}: {energy.usable_mah:,.0f} of "
                    f"{energy.capacity_mah:,.0f} mAh ({aircraft.reserve_fraction:.0%} reserve kept; "
                    f"{aircraft.usable_endurance_s / 60:.1f} min at cruise speed)")
    if problems and raise_on_error:
        head = problems[0] if len(problems) == 1 else f"{problems[0]} (and {len(problems) - 1} more)"
        raise PlanValidationError(f"plan {plan.name or ''} fails validation: {head}".replace("plan  ", "plan "), problems)
    return problems


__all__ = ["DEFAULT_MAX_FENCE_POINTS", "fence_point_count", "validate_plan"]
