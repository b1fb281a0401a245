"""Turn metric flight paths into ArduPilot mission items.

A planner describes a sortie as a list of :class:`Vertex` (metric positions with what to do on
arrival); :func:`build_sortie` gives them altitudes (relative, AMSL or terrain-following),
converts them to lat/lon and writes the items:

=====  ==========================================================================
seq 0  home (NAV_WAYPOINT, frame GLOBAL, altitude AMSL) — ArduPilot's convention
1      NAV_TAKEOFF to the first altitude (relative to home)
2      DO_CHANGE_SPEED (ground speed)
…      NAV_WAYPOINT per vertex (GLOBAL_RELATIVE_ALT_INT, or GLOBAL_INT for AMSL and
       terrain modes), each followed by its camera commands: DO_SET_CAM_TRIGG_DIST
       ``d`` at a leg's start (param3 = 1: first photo at once) and ``0`` at its end, or a
       waypoint hold + DO_DIGICAM_CONTROL (param5 = 1: shoot) for hover-and-capture;
       NAV_LOITER_TIME / NAV_LOITER_TURNS for lookouts
last   NAV_RETURN_TO_LAUNCH
=====  ==========================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from uav.errors import PlanningError
from uav.geo import LocalFrame
from uav.items import Cmd, Frame, Home, MissionItem
from uav.profiles import AircraftProfile

from .estimate import FlightEstimate, estimate_path, orbit_speed_ms
from .model import AltitudeMode
from .terrain import Dem, follow_terrain

MIN_TAKEOFF_ALT_M = 5.0


@dataclass
class Leg:
    """One imaging leg in the metric frame, in the direction it is flown."""

    xy: np.ndarray                    # (n, 2) imaging path
    line: int = 0                     # transect number (for sortie cuts and drone splits)
    lead_in: np.ndarray | None = None   # turnaround point flown before xy[0], camera off
    lead_out: np.ndarray | None = None  # turnaround point flown after xy[-1], camera off
    continues: bool = False           # a piece of the previous leg's line, cut for length

    @property
    def entry(self) -> np.ndarray:
        return self.xy[0] if self.lead_in is None else self.lead_in

    @property
    def exit(self) -> np.ndarray:
        return self.xy[-1] if self.lead_out is None else self.lead_out

    @property
    def length_m(self) -> float:
        return float(np.hypot(*np.diff(self.xy, axis=0).T).sum())


@dataclass
class Vertex:
    """A place the aircraft flies to, and what it does there."""

    x: float
    y: float
    events: list = field(default_factory=list)  # ("cam_on", dist) | ("cam_off",) | ("shot",)
    hold_s: float = 0.0
    loiter: tuple | None = None  # ("time", seconds, radius_m) | ("turns", turns, radius_m)


@dataclass
class FlightSettings:
    """Everything :func:`build_sortie` needs besides the path."""

    frame: LocalFrame
    aircraft: AircraftProfile
    home_latlon: tuple[float, float]
    home_xy: np.ndarray
    home_alt_amsl: float
    altitude_m: float                 # above home (relative, AMSL) or above ground (terrain)
    speed_ms: float
    altitude_mode: AltitudeMode = AltitudeMode.RELATIVE
    dem: Dem | None = None
    terrain_tolerance_m: float = 5.0
    transit_speed_ms: float | None = None  # between legs, when faster than ``speed_ms``

    @property
    def transit_ms(self) -> float:
        return self.speed_ms if self.transit_speed_ms is None else float(self.transit_speed_ms)


@dataclass
class BuiltSortie:
    items: list[MissionItem]
    estimate: FlightEstimate
    xy: np.ndarray          # metric path, home to home
    z_rel: np.ndarray       # height above home along it
    max_agl_m: float | None = None


def leg_vertices(leg: Leg, *, trigger: str, trigger_distance_m: float | None, hover_s: float,
                 cam_on: bool = True, cam_off: bool = True,
                 speeds: tuple[float, float] | None = None) -> list[Vertex]:
    """The vertices of one leg: lead-in, imaging path with camera commands, lead-out.

    ``speeds = (survey, transit)``: slow down to the survey speed at the leg's first vertex
    (the lead-in, so the aircraft is at speed before the first photo) and speed up again at its
    last, when the camera forces a survey speed below the transit speed.
    """
    out = _leg_vertices(leg, trigger=trigger, trigger_distance_m=trigger_distance_m, hover_s=hover_s,
                        cam_on=cam_on, cam_off=cam_off)
    if speeds is not None and out and speeds[0] < speeds[1]:
        if cam_on:
            out[0].events.insert(0, ("speed", float(speeds[0])))
        if cam_off:
            out[-1].events.append(("speed", float(speeds[1])))
    return out


def _leg_vertices(leg: Leg, *, trigger: str, trigger_distance_m: float | None, hover_s: float,
                  cam_on: bool, cam_off: bool) -> list[Vertex]:
    out = []
    if leg.lead_in is not None:
        out.append(Vertex(*leg.lead_in))
    if trigger == "hover" and trigger_distance_m:
        # Photo positions every trigger distance along the leg, ends included.
        xy = leg.xy
        s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(xy, axis=0).T))]
        n = max(1, int(math.ceil(s[-1] / trigger_distance_m - 1e-9)))
        at = np.linspace(0.0, s[-1], n + 1)
        px = np.interp(at, s, xy[:, 0])
        py = np.interp(at, s, xy[:, 1])
        out += [Vertex(float(x), float(y), [("shot",)], hold_s=hover_s) for x, y in zip(px, py)]
    else:
        for i, (x, y) in enumerate(leg.xy):
            v = Vertex(float(x), float(y))
            if trigger == "distance" and trigger_distance_m:
                if i == 0 and cam_on:
                    v.events.append(("cam_on", trigger_distance_m))
                if i == len(leg.xy) - 1 and cam_off:
                    v.events.append(("cam_off",))
            out.append(v)
    if leg.lead_out is not None:
        out.append(Vertex(*leg.lead_out))
    return out


def _event_items(events) -> list[MissionItem]:
    out = []
    for ev in events:
        if ev[0] == "cam_on":
            out.append(MissionItem(Cmd.DO_SET_CAM_TRIGG_DIST, Frame.MISSION, param1=float(ev[1]), param3=1.0))
        elif ev[0] == "cam_off":
            out.append(MissionItem(Cmd.DO_SET_CAM_TRIGG_DIST, Frame.MISSION, param1=0.0))
        elif ev[0] == "shot":
            out.append(MissionItem(Cmd.DO_DIGICAM_CONTROL, Frame.MISSION, lat=1.0))
        elif ev[0] == "speed":
            out.append(MissionItem(Cmd.DO_CHANGE_SPEED, Frame.MISSION, param1=1.0, param2=float(ev[1]),
                                   param3=-1.0))
        else:  # pragma: no cover - planners only make the events above
            raise PlanningError(f"unknown camera event {ev!r}")
    return out


def count_items(vertices: list[Vertex]) -> int:
    """Mission items the vertices will become (without home/takeoff/speed/RTL)."""
    return len(vertices) + sum(len(v.events) for v in vertices)


def build_sortie(vertices: list[Vertex], s: FlightSettings) -> BuiltSortie:
    """Mission items for one sortie flying ``vertices`` from and back to home.

    ``vertices`` must not include home; the path is home → vertices → home, home being
    reached by NAV_RETURN_TO_LAUNCH (so the last vertex must see home in a straight line
    inside the allowed area — planners route there first).
    """
    if not vertices:
        raise PlanningError("a sortie needs at least one waypoint")
    hx, hy = float(s.home_xy[0]), float(s.home_xy[1])
    path = [Vertex(hx, hy)] + list(vertices) + [Vertex(hx, hy)]
    xy = np.array([(v.x, v.y) for v in path])
    max_agl = None
    if s.altitude_mode == AltitudeMode.TERRAIN:
        if s.dem is None:
            raise PlanningError("terrain-following needs a DEM (give dem_path)")
        climb = s.aircraft.climb_rate_ms / s.speed_ms
        desc = s.aircraft.descent_rate_ms / s.speed_ms
        prof = follow_terrain(xy, s.frame, s.dem, agl_m=s.altitude_m, climb_gradient=climb,
                              descent_gradient=desc, tolerance_m=s.terrain_tolerance_m)
        # Rebuild the vertex list: kept dense points are plain waypoints.
        new_path, alts = [], []
        for (x, y), z, src in zip(prof.xy, prof.alt_amsl, prof.source_index):
            new_path.append(path[src] if src >= 0 else Vertex(float(x), float(y)))
            alts.append(float(z))
        path = new_path
        xy = prof.xy
        alt_amsl = np.asarray(alts)
        z_rel = alt_amsl - s.home_alt_amsl
        max_agl = prof.max_agl_m
        item_frame = Frame.GLOBAL_INT
        item_alt = alt_amsl
    elif s.altitude_mode == AltitudeMode.AMSL:
        z_rel = np.full(len(path), s.altitude_m)
        item_frame = Frame.GLOBAL_INT
        item_alt = z_rel + s.home_alt_amsl
    else:
        z_rel = np.full(len(path), s.altitude_m)
        item_frame = Frame.GLOBAL_RELATIVE_ALT_INT
        item_alt = z_rel
    takeoff_alt = max(float(z_rel[0]), MIN_TAKEOFF_ALT_M)
    z_rel = z_rel.copy()
    z_rel[0] = takeoff_alt
    lon, lat = s.frame.to_lonlat(xy[:, 0], xy[:, 1])
    lon, lat = np.atleast_1d(lon), np.atleast_1d(lat)
    home = Home(s.home_latlon[0], s.home_latlon[1], s.home_alt_amsl)
    items = [home.as_item(),
             MissionItem(Cmd.NAV_TAKEOFF, Frame.GLOBAL_RELATIVE_ALT_INT, lat=home.lat, lon=home.lon,
                         alt=round(takeoff_alt, 2)),
             MissionItem(Cmd.DO_CHANGE_SPEED, Frame.MISSION, param1=1.0, param2=float(s.transit_ms), param3=-1.0)]
    hover = 0.0
    # Commanded speed on each segment: from home at the transit speed, changed by speed events.
    seg_speed = np.empty(len(path) - 1)
    current = s.transit_ms
    seg_speed[0] = current
    for i in range(1, len(path) - 1):
        for ev in path[i].events:
            if ev[0] == "speed":
                current = float(ev[1])
        seg_speed[i] = current
    for i in range(1, len(path) - 1):
        v = path[i]
        alt = round(float(item_alt[i]), 2)
        if v.loiter is not None:
            kind, amount, radius = v.loiter
            if kind == "time":
                items.append(MissionItem(Cmd.NAV_LOITER_TIME, item_frame, param1=float(amount),
                                         param3=float(radius), lat=float(lat[i]), lon=float(lon[i]), alt=alt))
                hover += amount
            else:
                items.append(MissionItem(Cmd.NAV_LOITER_TURNS, item_frame, param1=float(amount),
                                         param3=float(radius), lat=float(lat[i]), lon=float(lon[i]), alt=alt))
                hover += 2 * math.pi * radius * amount / orbit_speed_ms(radius, seg_speed[i - 1],
                                                                        s.aircraft.acceleration_ms2)
        else:
            items.append(MissionItem(Cmd.NAV_WAYPOINT, item_frame, param1=float(v.hold_s),
                                     lat=float(lat[i]), lon=float(lon[i]), alt=alt))
            hover += v.hold_s
        items.extend(_event_items(v.events))
    items.append(MissionItem(Cmd.NAV_RETURN_TO_LAUNCH, Frame.MISSION))
    est = estimate_path(xy, z_rel, speed_ms=seg_speed, aircraft=s.aircraft, hover_s=hover)
    for v in path:
        if v.loiter is not None and v.loiter[0] == "turns":
            est.distance_m += 2 * math.pi * v.loiter[2] * v.loiter[1]
    return BuiltSortie(items, est, xy, z_rel, max_agl)
