"""DJI Pilot 2 routes: one WPML KMZ per sortie (``wpmz/template.kml`` + ``wpmz/waylines.wpml``).

Written as DJI's published WPML documentation describes it (dji-sdk/Cloud-API-Doc, "DJI
WPML": overview, template.kml, waylines.wpml, common elements) and as DJI Pilot 2's own
exports look (``wpml`` bound to ``http://www.dji.com/wpmz/1.0.6``, a waypoint template with
every placemark's own height, speed, heading and turn).  What each of our mission items
becomes is in :mod:`.wpml_route`.

Why a waypoint template and not ``mapping2d`` for surveys: Pilot 2 regenerates a mapping2d
route from its polygon and overlaps, with its own line placement, over the whole polygon
(one outer ring, no holes, no exclusion zones, no sortie split).  The waypoint template keeps
the legs we planned: cut at exclusion zones, split into sorties that fit the battery, photos
every planned distance (``multipleDistance`` + ``takePhoto``).  See docs/dji.md.

Before anything is written the route is checked against the limits DJI documents (ids and
indices 0..65535, speeds within the aircraft's and 15 m/s for the transitional speed,
take-off security height 1.2..1500 m, coordinates on the globe); a break is refused naming
the waypoint, and no file is written.
"""

from __future__ import annotations

import math
import time
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from uav.errors import PlanFileError, PlanValidationError
from uav.files import write_atomic

from .geoid import ellipsoid_height
from .wpml_route import EGM96, DjiRoute, route_from_sortie

KML_NS = "http://www.opengis.net/kml/2.2"
WPML_NS = "http://www.dji.com/wpmz/1.0.6"
TEMPLATE = "wpmz/template.kml"
WAYLINES = "wpmz/waylines.wpml"
MAX_ID = 65535                       # templateId, waylineId, index, actionGroupId, actionId
TRANSITIONAL_MAX_MS = 15.0           # globalTransitionalSpeed: [0, 15] m/s
SECURITY_HEIGHT_M = (1.2, 1500.0)    # takeOffSecurityHeight with a remote controller
AUTHOR = "amur-uav"


def _k(parent, tag, text=None):
    el = ET.SubElement(parent, f"{{{KML_NS}}}{tag}")
    if text is not None:
        el.text = str(text)
    return el


def _w(parent, tag, text=None):
    el = ET.SubElement(parent, f"{{{WPML_NS}}}{tag}")
    if text is not None:
        el.text = _fmt(text)
    return el


def _fmt(x) -> str:
    if isinstance(x, bool):
        return "1" if x else "0"
    if isinstance(x, float):
        return f"{x:.6f}".rstrip("0").rstrip(".") if not x.is_integer() else str(int(x))
    return str(x)


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def route_problems(route: DjiRoute, max_speed_ms: float) -> list[str]:
    """Every way ``route`` breaks a limit DJI documents, each naming the waypoint."""
    out = []
    if len(route.waypoints) - 1 > MAX_ID:
        out.append(f"{len(route.waypoints)} waypoints: a DJI route holds at most {MAX_ID + 1}")
    if not 0 < route.transit_speed_ms <= TRANSITIONAL_MAX_MS:
        out.append(f"transitional speed {route.transit_speed_ms:g} m/s: DJI allows (0, {TRANSITIONAL_MAX_MS:g}]")
    lo, hi = SECURITY_HEIGHT_M
    if not lo <= route.takeoff_height_m <= hi:
        out.append(f"take-off security height {route.takeoff_height_m:g} m: DJI allows {lo:g} to {hi:g} m")
    for i, w in enumerate(route.waypoints):
        if not (-90 <= w.lat <= 90 and -180 <= w.lon <= 180):
            out.append(f"waypoint {i}: {w.lat},{w.lon} is not a latitude, longitude")
        if not 0 < w.speed_ms <= max_speed_ms:
            out.append(f"waypoint {i}: speed {w.speed_ms:g} m/s, the aircraft flies routes at "
                       f"(0, {max_speed_ms:g}] m/s")
        if not math.isfinite(w.height_m):
            out.append(f"waypoint {i}: height is not a number")
        if w.hover_s < 0:
            out.append(f"waypoint {i}: negative hover time")
    for t in route.triggers:
        if not t.distance_m > 0:
            out.append(f"photos from waypoint {t.start}: trigger distance {t.distance_m:g} m must be > 0")
    return out


# --------------------------------------------------------------------------------------------
# XML
# --------------------------------------------------------------------------------------------
def _mission_config(doc, route: DjiRoute, with_ref_point: bool):
    mc = _w(doc, "missionConfig")
    _w(mc, "flyToWaylineMode", "safely")
    _w(mc, "finishAction", route.finish_action)
    _w(mc, "exitOnRCLost", route.exit_on_rc_lost)
    _w(mc, "executeRCLostAction", route.rc_lost_action)
    _w(mc, "takeOffSecurityHeight", round(route.takeoff_height_m, 2))
    if with_ref_point and route.home is not None and route.home_ellipsoid_m is not None:
        lat, lon, _ = route.home
        _w(mc, "takeOffRefPoint", f"{lat:.7f},{lon:.7f},{route.home_ellipsoid_m:.3f}")
        _w(mc, "takeOffRefPointAGLHeight", 0)
    _w(mc, "globalTransitionalSpeed", round(route.transit_speed_ms, 2))
    _w(mc, "globalRTHHeight", round(route.rth_height_m, 1))
    di = _w(mc, "droneInfo")
    _w(di, "droneEnumValue", route.drone)
    _w(di, "droneSubEnumValue", route.drone_sub)
    pi = _w(mc, "payloadInfo")
    _w(pi, "payloadEnumValue", route.payload)
    _w(pi, "payloadPositionIndex", 0)


def _heading(parent, w):
    hp = _w(parent, "waypointHeadingParam")
    if w.poi is not None:
        _w(hp, "waypointHeadingMode", "towardPOI")
        _w(hp, "waypointHeadingAngle", 0)
        _w(hp, "waypointPoiPoint", f"{w.poi[0]:.7f},{w.poi[1]:.7f},0.000000")
    else:
        _w(hp, "waypointHeadingMode", "followWayline")
        _w(hp, "waypointHeadingAngle", 0)
        _w(hp, "waypointPoiPoint", "0.000000,0.000000,0.000000")
    _w(hp, "waypointHeadingAngleEnable", 0)
    _w(hp, "waypointHeadingPathMode", "followBadArc")


def _turn(parent, w):
    tp = _w(parent, "waypointTurnParam")
    # Orbit points are flown through on a curve; every other point is reached and left in a
    # straight line, so the legs flown are the legs planned.
    _w(tp, "waypointTurnMode", "toPointAndPassWithContinuityCurvature" if w.poi is not None
       else "toPointAndStopWithDiscontinuityCurvature")
    _w(tp, "waypointTurnDampingDist", 0)


def _take_photo(group, action_id: int, route: DjiRoute, index: int):
    a = _w(group, "action")
    _w(a, "actionId", action_id)
    _w(a, "actionActuatorFunc", "takePhoto")
    p = _w(a, "actionActuatorFuncParam")
    _w(p, "fileSuffix", f"wp{index}")
    _w(p, "payloadPositionIndex", 0)
    _w(p, "useGlobalPayloadLensIndex", 0)
    _w(p, "payloadLensIndex", route.lens)


def _groups(pm, route: DjiRoute, i: int, next_id: list[int]):
    w = route.waypoints[i]
    actions = []
    if w.gimbal_pitch_deg is not None:
        actions.append("gimbal")
    if w.hover_s > 0:
        actions.append("hover")
    if w.photo:
        actions.append("photo")
    if actions:
        g = _w(pm, "actionGroup")
        _w(g, "actionGroupId", next_id[0])
        next_id[0] += 1
        _w(g, "actionGroupStartIndex", i)
        _w(g, "actionGroupEndIndex", i)
        _w(g, "actionGroupMode", "sequence")
        _w(_w(g, "actionTrigger"), "actionTriggerType", "reachPoint")
        for aid, kind in enumerate(actions):
            if kind == "photo":
                _take_photo(g, aid, route, i)
                continue
            a = _w(g, "action")
            _w(a, "actionId", aid)
            if kind == "gimbal":
                _w(a, "actionActuatorFunc", "gimbalRotate")
                p = _w(a, "actionActuatorFuncParam")
                for tag, val in (("gimbalHeadingYawBase", "aircraft"), ("gimbalRotateMode", "absoluteAngle"),
                                 ("gimbalPitchRotateEnable", 1), ("gimbalPitchRotateAngle", w.gimbal_pitch_deg),
                                 ("gimbalRollRotateEnable", 0), ("gimbalRollRotateAngle", 0),
                                 ("gimbalYawRotateEnable", 0), ("gimbalYawRotateAngle", 0),
                                 ("gimbalRotateTimeEnable", 0), ("gimbalRotateTime", 0),
                                 ("payloadPositionIndex", 0)):
                    _w(p, tag, val)
            else:
                _w(a, "actionActuatorFunc", "hover")
                _w(_w(a, "actionActuatorFuncParam"), "hoverTime", round(w.hover_s, 2))
    for t in route.triggers:
        if t.start != i:
            continue
        g = _w(pm, "actionGroup")
        _w(g, "actionGroupId", next_id[0])
        next_id[0] += 1
        _w(g, "actionGroupStartIndex", t.start)
        _w(g, "actionGroupEndIndex", t.end)
        _w(g, "actionGroupMode", "sequence")
        trig = _w(g, "actionTrigger")
        _w(trig, "actionTriggerType", "multipleDistance")
        _w(trig, "actionTriggerParam", round(t.distance_m, 6))
        _take_photo(g, 0, route, i)


def _placemark(folder, route: DjiRoute, i: int, next_id: list[int], template: bool):
    w = route.waypoints[i]
    pm = _k(folder, "Placemark")
    _k(_k(pm, "Point"), "coordinates", f"{w.lon:.8f},{w.lat:.8f}")
    _w(pm, "index", i)
    if template:
        ellipsoid = w.ellipsoid_m if w.ellipsoid_m is not None else w.height_m
        _w(pm, "ellipsoidHeight", round(ellipsoid, 3))
        _w(pm, "height", round(w.height_m, 3))
        _w(pm, "useGlobalHeight", 0)
        _w(pm, "useGlobalSpeed", 0)
        _w(pm, "useGlobalHeadingParam", 0)
        _w(pm, "useGlobalTurnParam", 0)
    else:
        h = w.ellipsoid_m if route.height_mode == EGM96 else w.height_m
        _w(pm, "executeHeight", round(h, 3))
    _w(pm, "waypointSpeed", round(w.speed_ms, 3))
    _heading(pm, w)
    _turn(pm, w)
    _w(pm, "useStraightLine", 0 if w.poi is not None else 1)
    if template:
        _w(pm, "gimbalPitchAngle", w.gimbal_pitch_deg if w.gimbal_pitch_deg is not None else 0)
    _groups(pm, route, i, next_id)
    _w(pm, "isRisky", 0)


def _root():
    ET.register_namespace("", KML_NS)
    ET.register_namespace("wpml", WPML_NS)
    root = ET.Element(f"{{{KML_NS}}}kml")
    return root, _k(root, "Document")


def template_kml(route: DjiRoute, now_ms: int) -> bytes:
    root, doc = _root()
    _w(doc, "author", AUTHOR)
    _w(doc, "createTime", now_ms)
    _w(doc, "updateTime", now_ms)
    _mission_config(doc, route, with_ref_point=True)
    folder = _k(doc, "Folder")
    _w(folder, "templateType", "waypoint")
    _w(folder, "templateId", 0)
    cs = _w(folder, "waylineCoordinateSysParam")
    _w(cs, "coordinateMode", "WGS84")
    _w(cs, "heightMode", "EGM96" if route.height_mode == EGM96 else "relativeToStartPoint")
    _w(cs, "positioningType", "GPS")
    _w(folder, "autoFlightSpeed", round(route.auto_speed_ms, 3))
    _w(folder, "globalHeight", round(route.waypoints[0].height_m, 3))
    _w(folder, "caliFlightEnable", 0)
    _w(folder, "gimbalPitchMode", "manual")
    gh = _w(folder, "globalWaypointHeadingParam")
    _w(gh, "waypointHeadingMode", "followWayline")
    _w(gh, "waypointHeadingAngle", 0)
    _w(gh, "waypointPoiPoint", "0.000000,0.000000,0.000000")
    _w(gh, "waypointHeadingPathMode", "followBadArc")
    _w(folder, "globalWaypointTurnMode", "toPointAndStopWithDiscontinuityCurvature")
    _w(folder, "globalUseStraightLine", 1)
    next_id = [0]
    for i in range(len(route.waypoints)):
        _placemark(folder, route, i, next_id, template=True)
    pp = _w(folder, "payloadParam")
    _w(pp, "payloadPositionIndex", 0)
    _w(pp, "imageFormat", route.lens)
    return _bytes(root)


def waylines_wpml(route: DjiRoute) -> bytes:
    root, doc = _root()
    _mission_config(doc, route, with_ref_point=False)
    folder = _k(doc, "Folder")
    _w(folder, "templateId", 0)
    _w(folder, "executeHeightMode", "WGS84" if route.height_mode == EGM96 else "relativeToStartPoint")
    _w(folder, "waylineId", 0)
    if route.distance_m is not None:
        _w(folder, "distance", round(route.distance_m, 1))
        _w(folder, "duration", round(route.duration_s, 1))
    _w(folder, "autoFlightSpeed", round(route.auto_speed_ms, 3))
    next_id = [0]
    for i in range(len(route.waypoints)):
        _placemark(folder, route, i, next_id, template=False)
    return _bytes(root)


def _bytes(root) -> bytes:
    ET.indent(root, space="  ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------
def apply_datums(route: DjiRoute) -> DjiRoute:
    """Fill the ellipsoid heights of an EGM96 route (and the take-off point's, always when the
    geoid is at hand) from NGA's EGM96 grid."""
    if route.height_mode == EGM96:
        for w in route.waypoints:
            w.ellipsoid_m = ellipsoid_height(w.lat, w.lon, w.height_m)
    if route.home is not None:
        lat, lon, alt = route.home
        if route.height_mode != EGM96 and alt == 0.0:
            # a relative route from a plan that never learnt its home's altitude (no DEM, no
            # --home ALT): a reference point at sea level would be wrong, so it is left out
            route.home_ellipsoid_m = None
            return route
        try:
            route.home_ellipsoid_m = ellipsoid_height(lat, lon, alt)
        except PlanFileError:
            if route.height_mode == EGM96:
                raise
            route.home_ellipsoid_m = None   # reference only in DJI's words; left out
    return route


def plan_routes(plan) -> list[DjiRoute]:
    """One checked route per sortie, heights in the datums DJI asks for.

    Raises
    ------
    ProfileError
        No DJI values for the plan's aircraft or camera.
    PlanValidationError
        A route breaks a documented limit (every problem listed, each naming the waypoint).
    """
    routes = [apply_datums(route_from_sortie(plan, k)) for k in range(len(plan.sorties))]
    problems = []
    for k, r in enumerate(routes, start=1):
        problems += [f"sortie {k}: {p}" for p in route_problems(r, plan.aircraft.max_speed_ms)]
    if problems:
        raise PlanValidationError(f"the plan cannot be a DJI route: {len(problems)} problem(s)", problems)
    return routes


def kmz_bytes(route: DjiRoute, now_ms: int | None = None) -> bytes:
    import io

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(TEMPLATE, template_kml(route, now_ms))
        zf.writestr(WAYLINES, waylines_wpml(route))
    return buf.getvalue()


def write_wpml(plan, path) -> list[Path]:
    """``OUT.kmz`` for one sortie, ``OUT-sortie1.kmz`` ... for several; returns the paths.

    DJI takes a route's name from its file name, so each sortie's file name is its own.
    Every route is built and checked before the first file is written.
    """
    path = Path(path)
    if path.suffix.lower() != ".kmz":
        path = path.with_suffix(".kmz")
    routes = plan_routes(plan)
    if len(routes) == 1:
        targets = [path]
    else:
        targets = [path.with_name(f"{path.stem}-sortie{k}.kmz") for k in range(1, len(routes) + 1)]
    return [write_atomic(t, kmz_bytes(r), error=PlanFileError) for t, r in zip(targets, routes)]
