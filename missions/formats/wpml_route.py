"""A DJI route (WPML) as data, and how one sortie of a plan becomes one, and back.

The writer (:mod:`.wpml`) and the reader (:mod:`.wpml_reader`) meet here: a :class:`DjiRoute`
is what a ``wpmz/waylines.wpml`` file says, in our units.  One sortie = one route = one KMZ.

How our mission items map (and map back on import):

==============================  ==============================================================
ArduPilot item                  DJI route
==============================  ==============================================================
NAV_TAKEOFF alt                 ``takeOffSecurityHeight``
DO_CHANGE_SPEED before the      ``globalTransitionalSpeed`` (flying to the first waypoint)
first waypoint
NAV_WAYPOINT (hold s)           a waypoint (a ``hover`` action for the hold); straight legs,
                                stopping at the point, so the legs flown are the legs planned
DO_CHANGE_SPEED after one       that waypoint's ``waypointSpeed`` (the speed to the next one)
DO_SET_CAM_TRIGG_DIST d .. 0    one action group from the waypoint where it starts to the one
                                where it stops: ``multipleDistance`` every d m, ``takePhoto``
DO_DIGICAM_CONTROL              ``takePhoto`` on arrival (after the hover)
NAV_LOITER_TIME (lookout, r=0)  a waypoint with a ``hover`` of that many seconds
NAV_LOITER_TURNS (orbit)        waypoints every 30 degrees round the circle, clockwise as
                                ArduPilot flies it, nose towards the centre (``towardPOI``),
                                flown through on a curve; the last one ends the turns exactly
NAV_RETURN_TO_LAUNCH / LAND     ``finishAction`` goHome / autoLand
==============================  ==============================================================

Heights: relative to take-off (``relativeToStartPoint``) unless the plan's items are
absolute (``--alt-mode amsl`` or ``--dem --terrain-follow``), then above the EGM96 geoid in
the template and above the WGS84 ellipsoid in the waylines (see :mod:`.geoid`).  A lost
radio link exits the route and flies home (``executeLostAction`` + ``goBack``), the DJI
counterpart of ArduPilot's RTL failsafe; the finish action is the plan's own last item.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from uav.errors import PlanFileError, ProfileError
from uav.geo import bearing_deg, distance_m, offset_lonlat
from uav.items import Cmd, Frame, Home, Mission, MissionItem
from uav.profiles import AIRCRAFT, CAMERAS

ORBIT_STEP_DEG = 30.0        # one waypoint every 30 deg: the chord stays within 3.4 % of r
RELATIVE = "relative"        # heights above the take-off point
EGM96 = "egm96"              # heights above the EGM96 geoid (ellipsoid heights beside them)


@dataclass
class RouteWaypoint:
    """One placemark of a route."""

    lat: float
    lon: float
    height_m: float              # above take-off (relative) or above the EGM96 geoid
    speed_ms: float = 0.0        # towards the next waypoint
    hover_s: float = 0.0         # hover on arrival
    photo: bool = False          # one photo on arrival (after the hover)
    gimbal_pitch_deg: float | None = None   # turn the gimbal on arrival
    poi: tuple[float, float] | None = None  # nose towards (lat, lon): orbit points
    ellipsoid_m: float | None = None        # WGS84 ellipsoid height (EGM96 routes)


@dataclass
class DistanceTrigger:
    """Photos every ``distance_m`` from waypoint ``start`` to waypoint ``end`` (indices)."""

    start: int
    end: int
    distance_m: float


@dataclass
class DjiRoute:
    """What one KMZ holds: the aircraft, the payload and one wayline."""

    name: str
    drone: int
    drone_sub: int
    payload: int
    lens: str                    # "wide", "ir", ... (DJI also writes "visable")
    height_mode: str             # RELATIVE or EGM96
    waypoints: list[RouteWaypoint] = field(default_factory=list)
    triggers: list[DistanceTrigger] = field(default_factory=list)
    takeoff_height_m: float = 20.0          # takeOffSecurityHeight (relative)
    transit_speed_ms: float = 10.0          # globalTransitionalSpeed
    rth_height_m: float = 100.0             # globalRTHHeight (relative)
    finish_action: str = "goHome"
    exit_on_rc_lost: str = "executeLostAction"
    rc_lost_action: str = "goBack"
    home: tuple[float, float, float] | None = None   # lat, lon, height above EGM96 geoid
    home_ellipsoid_m: float | None = None
    distance_m: float | None = None
    duration_s: float | None = None
    notes: list[str] = field(default_factory=list)   # what an import could not carry over

    @property
    def auto_speed_ms(self) -> float:
        """``autoFlightSpeed``: the speed most of the route is flown at."""
        speeds = [w.speed_ms for w in self.waypoints if w.speed_ms > 0]
        return max(set(speeds), key=speeds.count) if speeds else self.transit_speed_ms


# --------------------------------------------------------------------------------------------
# profiles
# --------------------------------------------------------------------------------------------
def dji_aircraft_names() -> list[str]:
    return sorted(a.name for a in AIRCRAFT.values() if a.wpml_drone is not None)


def with_dji_values(profile, presets):
    """``profile`` with the DJI values of the preset of its name, when it has none: a plan
    saved before the presets knew them still exports (user profiles keep their own)."""
    from dataclasses import fields, replace

    preset = presets.get(getattr(profile, "name", None))
    if profile is None or preset is None or profile == preset:
        return profile
    keys = [f.name for f in fields(preset) if f.name.startswith("wpml_") or f.name == "cameras"]
    if all(getattr(profile, k) in (None, (), 0) for k in keys):
        same = {f.name: getattr(profile, f.name) for f in fields(preset) if f.name not in keys}
        if same == {f.name: getattr(preset, f.name) for f in fields(preset) if f.name not in keys}:
            return replace(profile, **{k: getattr(preset, k) for k in keys})
    return profile


def route_profiles(plan):
    """The aircraft and camera a route of ``plan`` is written for, or a clear refusal."""
    aircraft = with_dji_values(plan.aircraft, AIRCRAFT)
    if aircraft is None or aircraft.wpml_drone is None:
        name = aircraft.name if aircraft is not None else "no aircraft"
        raise ProfileError(f"aircraft {name!r} has no DJI route format (WPML): plan with one of "
                           f"{', '.join(dji_aircraft_names())} (--aircraft) to fly it from DJI Pilot 2")
    camera = with_dji_values(plan.camera, CAMERAS)
    if camera is None and aircraft.cameras:
        camera = CAMERAS.get(aircraft.cameras[0])
    if camera is None:
        raise ProfileError(f"aircraft {aircraft.name!r} names no camera; give --camera")
    aircraft.check_camera(camera)
    if camera.wpml_payload is None or not camera.wpml_lens:
        raise ProfileError(f"camera {camera.name!r} has no DJI payload value (wpml_payload, "
                           f"wpml_lens): DJI Pilot 2 cannot fly it")
    return aircraft, camera


# --------------------------------------------------------------------------------------------
# sortie -> route
# --------------------------------------------------------------------------------------------
def orbit_points(center_lat, center_lon, radius_m, turns, start_lat, start_lon):
    """(lat, lon) round a circle, clockwise, from the point nearest ``start``; the last point
    closes ``turns`` exactly (so the reader gets the turns back from the swept angle)."""
    first = float(bearing_deg(center_lon, center_lat, start_lon, start_lat))
    total = 360.0 * float(turns)
    steps = max(1, math.ceil(total / ORBIT_STEP_DEG - 1e-9))
    out = []
    for k in range(steps + 1):
        b = math.radians(first + min(k * ORBIT_STEP_DEG, total))
        lon, lat = offset_lonlat(center_lon, center_lat, radius_m * math.sin(b), radius_m * math.cos(b))
        out.append((float(lat), float(lon)))
    return out


def _name(plan, index: int) -> str:
    base = plan.name or f"{plan.kind.value} plan"
    return f"{base} - sortie {index + 1} of {len(plan.sorties)}" if len(plan.sorties) > 1 else base


def route_from_sortie(plan, index: int) -> DjiRoute:
    """Sortie ``index`` (0-based) of ``plan`` as a DJI route (heights not yet datum-converted).

    Raises
    ------
    ProfileError
        The plan's aircraft or camera has no DJI values.
    PlanFileError
        An item without a DJI counterpart (named with its sortie and seq).
    """
    aircraft, camera = route_profiles(plan)
    mission = plan.sorties[index]
    if not mission.items:
        raise PlanFileError(f"sortie {index + 1} has no items")
    home = mission.items[0]
    absolute = any(int(it.frame) in (Frame.GLOBAL, Frame.GLOBAL_INT) for it in mission.items[1:] if it.is_position)
    route = DjiRoute(name=_name(plan, index), drone=aircraft.wpml_drone, drone_sub=aircraft.wpml_drone_sub,
                     payload=camera.wpml_payload, lens=camera.wpml_lens,
                     height_mode=EGM96 if absolute else RELATIVE,
                     home=(home.lat, home.lon, home.alt))
    stats = plan.stats
    if stats and len(stats.sortie_distances_m) == len(plan.sorties):
        route.distance_m = stats.sortie_distances_m[index]
        route.duration_s = stats.sortie_times_s[index]
    speed = None
    open_trigger: DistanceTrigger | None = None
    wps = route.waypoints

    def height(it: MissionItem) -> float:
        rel = int(it.frame) not in (Frame.GLOBAL, Frame.GLOBAL_INT)
        if route.height_mode == EGM96:
            return it.alt + home.alt if rel else it.alt   # AMSL, taken as above the EGM96 geoid
        return it.alt

    def add(wp: RouteWaypoint):
        if wps and speed is not None:
            wps[-1].speed_ms = speed
        wps.append(wp)

    for seq, it in enumerate(mission.items[1:], start=1):
        cmd = int(it.command)
        where = f"sortie {index + 1}, item {seq} ({Cmd(cmd).name if cmd in Cmd._value2member_map_ else cmd})"
        if cmd == Cmd.NAV_TAKEOFF:
            route.takeoff_height_m = float(it.alt)
        elif cmd == Cmd.DO_CHANGE_SPEED:
            speed = float(it.param2)
            if not wps:
                route.transit_speed_ms = speed
        elif cmd == Cmd.NAV_WAYPOINT:
            add(RouteWaypoint(it.lat, it.lon, height(it), hover_s=float(it.param1)))
        elif cmd == Cmd.NAV_LOITER_TIME:
            add(RouteWaypoint(it.lat, it.lon, height(it), hover_s=float(it.param1)))
        elif cmd == Cmd.NAV_LOITER_TURNS:
            radius, turns = float(it.param3), float(it.param1)
            before = (wps[-1].lat, wps[-1].lon) if wps else (home.lat, home.lon)
            pitch = -math.degrees(math.atan2(max(height(it) - (home.alt if route.height_mode == EGM96 else 0), 0.0),
                                             max(radius, 1e-6)))
            for k, (lat, lon) in enumerate(orbit_points(it.lat, it.lon, radius, turns, *before)):
                add(RouteWaypoint(lat, lon, height(it), poi=(it.lat, it.lon),
                                  gimbal_pitch_deg=round(pitch, 1) if k == 0 else None))
        elif cmd == Cmd.DO_SET_CAM_TRIGG_DIST:
            if not wps:
                raise PlanFileError(f"{where}: camera triggering before the first waypoint")
            if it.param1 > 0:
                open_trigger = DistanceTrigger(len(wps) - 1, len(wps) - 1, float(it.param1))
                route.triggers.append(open_trigger)
            elif open_trigger is not None:
                open_trigger.end = len(wps) - 1
                open_trigger = None
        elif cmd == Cmd.DO_DIGICAM_CONTROL:
            if not wps:
                raise PlanFileError(f"{where}: a photo before the first waypoint")
            wps[-1].photo = True
        elif cmd == Cmd.NAV_RETURN_TO_LAUNCH:
            route.finish_action = "goHome"
        elif cmd == Cmd.NAV_LAND:
            route.finish_action = "autoLand"
        else:
            raise PlanFileError(f"{where} has no DJI route equivalent")
    if not wps:
        raise PlanFileError(f"sortie {index + 1} has no waypoints to fly")
    if speed is not None:
        wps[-1].speed_ms = speed
    for w in wps:
        if w.speed_ms <= 0:
            w.speed_ms = route.transit_speed_ms
    if open_trigger is not None:
        open_trigger.end = len(wps) - 1
    # Nadir photos on survey, corridor and perimeter legs; orbits set their own pitch.
    if wps[0].gimbal_pitch_deg is None:
        wps[0].gimbal_pitch_deg = -90.0
    rel = [w.height_m - (home.alt if route.height_mode == EGM96 else 0.0) for w in wps]
    route.rth_height_m = max(max(rel), route.takeoff_height_m)
    return route


# --------------------------------------------------------------------------------------------
# route -> sortie
# --------------------------------------------------------------------------------------------
def _orbit(points: list[RouteWaypoint]) -> tuple[float, float]:
    """(radius, turns) of consecutive orbit waypoints round their POI."""
    clat, clon = points[0].poi
    radius = sum(float(distance_m(clon, clat, p.lon, p.lat)) for p in points) / len(points)
    b = [float(bearing_deg(clon, clat, p.lon, p.lat)) for p in points]
    swept = sum((b2 - b1) % 360.0 for b1, b2 in zip(b, b[1:]))
    return round(radius, 2), round(swept / 360.0, 2)


def sortie_from_route(route: DjiRoute, home: Home) -> Mission:
    """The ArduPilot items that fly ``route`` from ``home`` (the inverse of
    :func:`route_from_sortie`, orbits included)."""
    frame = Frame.GLOBAL_INT if route.height_mode == EGM96 else Frame.GLOBAL_RELATIVE_ALT_INT
    items = [home.as_item(),
             MissionItem(Cmd.NAV_TAKEOFF, Frame.GLOBAL_RELATIVE_ALT_INT, lat=home.lat, lon=home.lon,
                         alt=round(route.takeoff_height_m, 2)),
             MissionItem(Cmd.DO_CHANGE_SPEED, Frame.MISSION, param1=1.0, param2=route.transit_speed_ms,
                         param3=-1.0)]
    starts = {t.start: t for t in route.triggers}
    ends = {t.end for t in route.triggers}
    current = route.transit_speed_ms
    wps = route.waypoints
    i = 0
    while i < len(wps):
        w = wps[i]
        if w.poi is not None:
            j = i
            while j + 1 < len(wps) and wps[j + 1].poi == w.poi:
                j += 1
            radius, turns = _orbit(wps[i:j + 1])
            items.append(MissionItem(Cmd.NAV_LOITER_TURNS, frame, param1=turns, param3=radius,
                                     lat=w.poi[0], lon=w.poi[1], alt=round(w.height_m, 2)))
            i, w = j, wps[j]
        elif w.hover_s > 0 and not w.photo:
            items.append(MissionItem(Cmd.NAV_LOITER_TIME, frame, param1=w.hover_s, lat=w.lat, lon=w.lon,
                                     alt=round(w.height_m, 2)))
        else:
            items.append(MissionItem(Cmd.NAV_WAYPOINT, frame, param1=w.hover_s, lat=w.lat, lon=w.lon,
                                     alt=round(w.height_m, 2)))
        if i in ends and i not in starts:
            items.append(MissionItem(Cmd.DO_SET_CAM_TRIGG_DIST, Frame.MISSION, param1=0.0))
        if w.speed_ms > 0 and abs(w.speed_ms - current) > 1e-6:
            current = w.speed_ms
            items.append(MissionItem(Cmd.DO_CHANGE_SPEED, Frame.MISSION, param1=1.0, param2=current, param3=-1.0))
        if i in starts:
            items.append(MissionItem(Cmd.DO_SET_CAM_TRIGG_DIST, Frame.MISSION, param1=starts[i].distance_m,
                                     param3=1.0))
            if starts[i].end == i:  # a one-point trigger group: shoot once and stop
                items.append(MissionItem(Cmd.DO_SET_CAM_TRIGG_DIST, Frame.MISSION, param1=0.0))
        if w.photo:
            items.append(MissionItem(Cmd.DO_DIGICAM_CONTROL, Frame.MISSION, lat=1.0))
        i += 1
    if route.finish_action == "autoLand":
        items.append(MissionItem(Cmd.NAV_LAND, Frame.GLOBAL_RELATIVE_ALT_INT, lat=wps[-1].lat, lon=wps[-1].lon))
    elif route.finish_action == "goHome":
        items.append(MissionItem(Cmd.NAV_RETURN_TO_LAUNCH, Frame.MISSION))
    return Mission(items=items, name=route.name)
