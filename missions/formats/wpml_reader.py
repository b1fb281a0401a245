"""Read a DJI Pilot 2 / FlightHub 2 route (WPML KMZ) back into a plan.

Ours or one drawn in Pilot 2: ``wpmz/waylines.wpml`` says what the aircraft flies (each
``Folder`` a wayline; each wayline becomes a sortie), ``wpmz/template.kml`` adds the take-off
reference point and the lens.  Both must be there (FlightHub 2 refuses a KMZ without the
template, and so does this reader).  The aircraft is found from ``wpml:droneInfo`` among our
profiles; an unknown one is refused, naming the element.  Actions we cannot fly on ArduPilot
(zoom, focus, panoramas, ...) are left out and listed in the plan's ``import_notes``.

Any ``http://www.dji.com/wpmz/<version>`` namespace is read (DJI has written 1.0.2 to 1.0.6).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from uav.errors import PlanFileError
from uav.items import Home
from uav.profiles import AIRCRAFT, CAMERAS

from .geoid import egm96_height
from .wpml_route import EGM96, RELATIVE, DistanceTrigger, DjiRoute, RouteWaypoint, sortie_from_route

KML_NS = "http://www.opengis.net/kml/2.2"
WPML_PREFIX = "http://www.dji.com/wpmz/"
TEMPLATE = "wpmz/template.kml"
WAYLINES = "wpmz/waylines.wpml"
LENS_ALIASES = {"visable": "wide", "visible": "wide"}   # DJI's own spelling, and the right one


class _Doc:
    """One parsed file: finds ``wpml:`` children whatever the WPML version, and says where."""

    def __init__(self, data: bytes, where: str):
        self.where = where
        try:
            self.root = ET.fromstring(data)
        except ET.ParseError as exc:
            raise PlanFileError(f"{where} is not well-formed XML ({exc}); nothing was imported") from None
        ns = {el.tag[1:].split("}")[0] for el in self.root.iter() if el.tag.startswith("{" + WPML_PREFIX)}
        if not ns:
            raise PlanFileError(f"{where} has no wpml: elements (namespace {WPML_PREFIX}...): not a DJI route")
        self.ns = sorted(ns)[-1]

    def w(self, el, tag):
        return el.find(f"{{{self.ns}}}{tag}")

    def ws(self, el, tag):
        return el.findall(f"{{{self.ns}}}{tag}")

    def k(self, el, tag):
        return el.findall(f"{{{KML_NS}}}{tag}")

    def text(self, el, tag, default=None, *, required=False, kind=str, context=""):
        found = self.w(el, tag) if el is not None else None
        if found is None or found.text is None or not found.text.strip():
            if required:
                raise PlanFileError(f"{self.where}: {context}wpml:{tag} is missing")
            return default
        raw = found.text.strip()
        try:
            return kind(float(raw)) if kind in (int, float) else kind(raw)
        except ValueError:
            raise PlanFileError(f"{self.where}: {context}wpml:{tag} is {raw!r}, not a number") from None


def _open(path: Path) -> tuple[bytes, bytes]:
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise PlanFileError(f"route file not found: {path}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise PlanFileError(f"{path} is not a KMZ (zip) file: {exc}") from None
    with zf:
        names = set(zf.namelist())
        if WAYLINES not in names and TEMPLATE not in names:
            kind = "a Google Earth KMZ (doc.kml), " if "doc.kml" in names else ""
            raise PlanFileError(f"{path} is {kind}not a DJI route: it has no {TEMPLATE} and no {WAYLINES}")
        for need in (TEMPLATE, WAYLINES):
            if need not in names:
                raise PlanFileError(f"{path} has no {need}: a DJI route needs both {TEMPLATE} and "
                                    f"{WAYLINES}; nothing was imported")
        return zf.read(TEMPLATE), zf.read(WAYLINES)


def _aircraft(drone: int, sub: int, where: str):
    for a in AIRCRAFT.values():
        if a.wpml_drone == drone and a.wpml_drone_sub == sub:
            return a
    known = ", ".join(f"{a.wpml_drone}/{a.wpml_drone_sub} {a.name}" for a in AIRCRAFT.values()
                      if a.wpml_drone is not None)
    raise PlanFileError(f"{where}: wpml:droneInfo says drone {drone}/{sub}, an aircraft amur-uav has no "
                        f"profile for (known: {known}); nothing was imported")


def _camera(aircraft, payload: int | None, lens: str, notes: list[str]):
    fits = [CAMERAS[c] for c in aircraft.cameras if c in CAMERAS]
    for c in fits:
        if c.wpml_payload == payload and c.wpml_lens == lens:
            return c
    for c in fits:
        if c.wpml_payload == payload:
            return c
    if fits:
        notes.append(f"payload {payload} is not one of {aircraft.name}'s cameras; photos planned as {fits[0].name}")
        return fits[0]
    return None


def _lens(text: str | None) -> str | None:
    if not text:
        return None
    first = text.split(",")[0].strip()
    return LENS_ALIASES.get(first, first)


def _placemark(doc: _Doc, pm, k: int, mode: str, auto_speed: float, notes: list[str], ctx: str):
    here = f"{ctx}Placemark {k}: "
    coords = pm.find(f"{{{KML_NS}}}Point/{{{KML_NS}}}coordinates")
    try:
        lon, lat = (float(v) for v in coords.text.strip().split(",")[:2])
    except (AttributeError, ValueError):
        raise PlanFileError(f"{doc.where}: {here}Point/coordinates must be 'longitude,latitude'") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PlanFileError(f"{doc.where}: {here}coordinates {lon},{lat} are not longitude,latitude")
    index = doc.text(pm, "index", required=True, kind=int, context=here)
    height = doc.text(pm, "executeHeight", required=True, kind=float, context=here)
    if mode == EGM96:
        height = egm96_height(lat, lon, height)
    speed = doc.text(pm, "waypointSpeed", auto_speed, kind=float, context=here)
    w = RouteWaypoint(lat, lon, height, speed_ms=speed)
    hp = doc.w(pm, "waypointHeadingParam")
    if hp is not None and doc.text(hp, "waypointHeadingMode") == "towardPOI":
        poi = doc.text(hp, "waypointPoiPoint", "")
        try:
            plat, plon = (float(v) for v in poi.split(",")[:2])
            w.poi = (plat, plon)
        except ValueError:
            raise PlanFileError(f"{doc.where}: {here}wpml:waypointPoiPoint must be 'lat,lon,alt'") from None
    return index, w


def _actions(doc: _Doc, group, route: DjiRoute, speeds: list[float], notes: list[str], ctx: str):
    here = f"{ctx}action group {doc.text(group, 'actionGroupId', '?')}: "
    start = doc.text(group, "actionGroupStartIndex", required=True, kind=int, context=here)
    end = doc.text(group, "actionGroupEndIndex", required=True, kind=int, context=here)
    n = len(route.waypoints)
    if not (0 <= start <= end < n):
        raise PlanFileError(f"{doc.where}: {here}waypoints {start}..{end} are not within 0..{n - 1}")
    trig = doc.w(group, "actionTrigger")
    kind = doc.text(trig, "actionTriggerType", "reachPoint") if trig is not None else "reachPoint"
    param = doc.text(trig, "actionTriggerParam", None, kind=float, context=here) if trig is not None else None
    w = route.waypoints[start]
    for action in doc.ws(group, "action"):
        func = doc.text(action, "actionActuatorFunc", "")
        p = doc.w(action, "actionActuatorFuncParam")
        shoots = func in ("takePhoto", "startTimeLapse")
        if kind == "multipleDistance" and shoots:
            if not param or param <= 0:
                raise PlanFileError(f"{doc.where}: {here}multipleDistance needs a positive actionTriggerParam")
            route.triggers.append(DistanceTrigger(start, end, param))
        elif kind == "multipleTiming" and shoots:
            if not param or param <= 0:
                raise PlanFileError(f"{doc.where}: {here}multipleTiming needs a positive actionTriggerParam")
            d = param * (speeds[start] or route.transit_speed_ms)
            route.triggers.append(DistanceTrigger(start, end, round(d, 2)))
            notes.append(f"photos every {param:g} s from waypoint {start} planned as every {d:.1f} m "
                         f"(ArduPilot triggers by distance)")
        elif kind == "reachPoint" and func == "takePhoto":
            w.photo = True
        elif kind == "reachPoint" and func == "hover":
            w.hover_s += doc.text(p, "hoverTime", 0.0, kind=float, context=here)
        elif kind == "reachPoint" and func == "gimbalRotate":
            w.gimbal_pitch_deg = doc.text(p, "gimbalPitchRotateAngle", None, kind=float, context=here)
        else:
            notes.append(f"{func or 'an action'} ({kind}) at waypoint {start} left out: no ArduPilot counterpart")
        lens = _lens(doc.text(p, "payloadLensIndex")) if p is not None else None
        if shoots and lens:
            route.lens = lens


def _wayline(doc: _Doc, folder, base: DjiRoute, k: int) -> DjiRoute:
    ctx = f"wayline {k}, " if k else ""
    mode_text = doc.text(folder, "executeHeightMode", required=True, context=ctx)
    if mode_text not in ("relativeToStartPoint", "WGS84", "realTimeFollowSurface"):
        raise PlanFileError(f"{doc.where}: {ctx}wpml:executeHeightMode {mode_text!r} is not one DJI documents")
    mode = EGM96 if mode_text == "WGS84" else RELATIVE
    if mode_text == "realTimeFollowSurface":
        base.notes.append("real-time surface following: heights read as above the take-off point")
    auto = doc.text(folder, "autoFlightSpeed", base.transit_speed_ms, kind=float, context=ctx)
    route = DjiRoute(**{**base.__dict__, "waypoints": [], "triggers": [], "height_mode": mode,
                        "notes": base.notes})
    placemarks = doc.k(folder, "Placemark")
    if not placemarks:
        raise PlanFileError(f"{doc.where}: {ctx}the wayline has no Placemark (no waypoints)")
    read = [_placemark(doc, pm, i, mode, auto, route.notes, ctx) for i, pm in enumerate(placemarks)]
    indices = [i for i, _ in read]
    if indices != list(range(len(read))):
        bad = next(n for n, i in enumerate(indices) if i != n)
        raise PlanFileError(f"{doc.where}: {ctx}Placemark {bad} has wpml:index {indices[bad]}; DJI numbers "
                            f"waypoints 0, 1, 2 ... in order")
    route.waypoints = [w for _, w in read]
    speeds = [w.speed_ms for w in route.waypoints]
    for pm in placemarks:
        for group in doc.ws(pm, "actionGroup"):
            _actions(doc, group, route, speeds, route.notes, ctx)
    return route


def read_wpml_routes(path) -> tuple[list[DjiRoute], list[str]]:
    """The routes (one per wayline) of a DJI KMZ, heights above take-off or the EGM96 geoid."""
    path = Path(path)
    template_data, waylines_data = _open(path)
    tpl = _Doc(template_data, f"{path}: {TEMPLATE}")
    wl = _Doc(waylines_data, f"{path}: {WAYLINES}")
    mc = wl.w(wl.root.find(f"{{{KML_NS}}}Document") or wl.root, "missionConfig")
    tmc = tpl.w(tpl.root.find(f"{{{KML_NS}}}Document") or tpl.root, "missionConfig")
    if mc is None:
        mc, wl = tmc, tpl
    if mc is None:
        raise PlanFileError(f"{path}: {WAYLINES} has no wpml:missionConfig")
    di = wl.w(mc, "droneInfo")
    if di is None:
        raise PlanFileError(f"{wl.where}: wpml:missionConfig has no wpml:droneInfo (which aircraft?)")
    drone = wl.text(di, "droneEnumValue", required=True, kind=int, context="droneInfo: ")
    sub = wl.text(di, "droneSubEnumValue", 0, kind=int, context="droneInfo: ")
    aircraft = _aircraft(drone, sub, f"{wl.where}")
    pi = wl.w(mc, "payloadInfo")
    payload = wl.text(pi, "payloadEnumValue", None, kind=int) if pi is not None else None
    notes: list[str] = []
    base = DjiRoute(name=path.stem, drone=drone, drone_sub=sub, payload=payload if payload is not None else -1,
                    lens="wide", height_mode=RELATIVE, notes=notes)
    base.takeoff_height_m = wl.text(mc, "takeOffSecurityHeight", 20.0, kind=float)
    base.transit_speed_ms = wl.text(mc, "globalTransitionalSpeed", aircraft.cruise_speed_ms, kind=float)
    base.finish_action = wl.text(mc, "finishAction", "goHome")
    base.exit_on_rc_lost = wl.text(mc, "exitOnRCLost", "executeLostAction")
    base.rc_lost_action = wl.text(mc, "executeRCLostAction", "goBack")
    ref = tpl.text(tmc, "takeOffRefPoint") if tmc is not None else None
    if ref:
        try:
            lat, lon, h = (float(v) for v in ref.split(",")[:3])
        except ValueError:
            raise PlanFileError(f"{tpl.where}: wpml:takeOffRefPoint must be 'lat,lon,height'") from None
        try:
            base.home = (lat, lon, round(egm96_height(lat, lon, h), 3))
        except PlanFileError:
            base.home = (lat, lon, 0.0)
            notes.append("no EGM96 geoid on this machine: the take-off point's height is taken as 0 m")
    lens = None
    folder = tpl.root.find(f".//{{{KML_NS}}}Folder")
    if folder is not None and tpl.w(folder, "payloadParam") is not None:
        lens = _lens(tpl.text(tpl.w(folder, "payloadParam"), "imageFormat"))
    base.lens = lens or "wide"
    folders = wl.root.findall(f".//{{{KML_NS}}}Folder")
    if not folders:
        raise PlanFileError(f"{wl.where}: no Folder (wayline) in the file")
    routes = [_wayline(wl, f, base, k) for k, f in enumerate(folders)]
    return routes, aircraft


def read_wpml_plan(path):
    """A :class:`~missions.model.Plan` (kind ``imported``) from a DJI route KMZ; one sortie per
    wayline.  Raises :class:`PlanFileError` naming the file and the element when it cannot."""
    from ..model import AltitudeMode, Plan, PlanKind

    routes, aircraft = read_wpml_routes(path)
    first = routes[0]
    notes = first.notes
    camera = _camera(aircraft, first.payload, first.lens, notes)
    if first.home is not None:
        home = Home(*first.home)
    else:
        w0 = first.waypoints[0]
        home = Home(w0.lat, w0.lon, 0.0)
        notes.append("the route has no take-off reference point: home taken under its first waypoint, "
                     "ground height 0 m")
    sorties = [sortie_from_route(r, home) for r in routes]
    if len(sorties) > 1:
        for k, s in enumerate(sorties, start=1):
            s.name = f"{Path(path).stem} wayline {k}"
    return Plan(kind=PlanKind.IMPORTED, sorties=sorties,
                altitude_mode=AltitudeMode.AMSL if first.height_mode == EGM96 else AltitudeMode.RELATIVE,
                camera=camera, aircraft=aircraft,
                settings={"source": str(path), "import_notes": list(dict.fromkeys(notes)),
                          "speed_ms": first.auto_speed_ms,
                          "dji": {"drone": first.drone, "drone_sub": first.drone_sub, "payload": first.payload,
                                  "lens": first.lens, "finish_action": first.finish_action,
                                  "rc_lost_action": first.rc_lost_action}},
                name=Path(path).stem)
