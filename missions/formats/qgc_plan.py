"""QGroundControl ``.plan`` files (JSON), read and written.

The structure is the one QGroundControl documents and loads (file ``version`` 1, ``mission``
version 2, ``geoFence`` version 2, ``rallyPoints`` version 2).  Every mission item is written
as a ``SimpleItem`` with its seven MAVLink parameters, so Mission Planner, MAVSDK's importer
and other tools get the whole flight without knowing how it was planned.  Positions in
``.plan`` are **lat, lon** (MAVLink order); GeoJSON-style geometry kept for people is lon, lat
and says so in its key names.

QGroundControl shows one mission per file: the first sortie goes in ``mission``, ``geoFence``
and ``rallyPoints``.  Everything else the planner knows (all sorties, statistics, settings,
camera and aircraft, imaging legs, sector geometry) goes under one extra top-level key,
``"amur"``, which QGroundControl ignores; :func:`read_plan` uses it to give back the same
:class:`~missions.model.Plan`.  A rehearsal or upload per sortie uses :func:`write_plan` with
``split_sorties=True`` (``OUT-sortie1.plan`` ... ``OUT-sortieN.plan``).

QGroundControl uses the float frames (3 = relative, 0 = AMSL, 10 = terrain) in its files and
turns them into the ``_INT`` frames when it uploads; so do these files.  The ``_INT`` frames
the planner chose are kept in ``"amur"`` and restored on reading.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, fields
from enum import Enum
from pathlib import Path

from uav.errors import PlanFileError
from uav.files import write_atomic
from uav.items import Cmd, Frame, Mission, MissionItem, MissionType, float_frame
from uav.profiles import AircraftProfile, CameraProfile

from ..model import AltitudeMode, Plan, PlanKind, PlanStats

FILE_VERSION = 1
MISSION_VERSION = 2
GEOFENCE_VERSION = 2
RALLY_VERSION = 2
FENCE_SHAPE_VERSION = 1
FIRMWARE_ARDUPILOT = 3      # MAV_AUTOPILOT_ARDUPILOTMEGA
VEHICLE_QUADROTOR = 2       # MAV_TYPE_QUADROTOR
AMUR_KEY = "amur"
AMUR_VERSION = 1
GROUND_STATION = "amur-uav"

_VERTEX_CMDS = {Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION: True,
                Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION: False}
_CIRCLE_CMDS = {Cmd.NAV_FENCE_CIRCLE_INCLUSION: True, Cmd.NAV_FENCE_CIRCLE_EXCLUSION: False}


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def _num(x: float):
    """A JSON number; QGroundControl writes NaN parameters as ``null``."""
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return None
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def _float(x) -> float:
    return math.nan if x is None else float(x)


def json_safe(obj):
    """JSON-safe copy: NaN/inf -> None, tuples -> lists, enums/paths -> str."""
    if isinstance(obj, Enum):
        return json_safe(obj.value)
    if isinstance(obj, float):
        return None if (math.isnan(obj) or math.isinf(obj)) else obj
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, str | int | bool) or obj is None:
        return obj
    if hasattr(obj, "item"):  # numpy scalar
        return json_safe(obj.item())
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "__geo_interface__"):
        return json_safe(obj.__geo_interface__)
    return str(obj)


def simple_item_json(item: MissionItem, jump_id: int) -> dict:
    """One QGroundControl ``SimpleItem`` (keys and types as QGroundControl saves them)."""
    return {
        "autoContinue": bool(item.autocontinue),
        "command": int(item.command),
        "doJumpId": int(jump_id),
        "frame": float_frame(item.frame),  # QGC writes the non-INT frame
        "params": [_num(p) for p in item.params],
        "type": "SimpleItem",
    }


def _item_from_json(obj: dict, where: str, mission_type: int = MissionType.MISSION) -> MissionItem:
    if not isinstance(obj, dict):
        raise PlanFileError(f"{where} must be a JSON object")
    for key, kind in (("command", (int, float)), ("frame", (int, float)), ("params", list),
                      ("autoContinue", bool)):
        if key not in obj:
            raise PlanFileError(f"{where} has no {key!r}")
        if not isinstance(obj[key], kind) or (kind is not bool and isinstance(obj[key], bool)):
            raise PlanFileError(f"{where}: {key!r} has the wrong type")
    params = obj["params"]
    if len(params) != 7:
        raise PlanFileError(f"{where} needs 7 params, has {len(params)}")
    try:
        p = [_float(v) for v in params]
    except (TypeError, ValueError):
        raise PlanFileError(f"{where}: params must be numbers or null") from None
    return MissionItem(int(obj["command"]), int(obj["frame"]), *p,
                       autocontinue=bool(obj["autoContinue"]), mission_type=mission_type)


def _compact(item: MissionItem) -> list:
    """``[command, frame, p1, p2, p3, p4, lat, lon, alt, autocontinue]`` (MAVLink order)."""
    return [int(item.command), int(item.frame), *(_num(p) for p in item.params),
            1 if item.autocontinue else 0]


def _uncompact(row: list, mission_type: int, where: str) -> MissionItem:
    if not isinstance(row, list) or len(row) != 10:
        raise PlanFileError(f"{where}: a stored item must be a list of 10 numbers")
    try:
        return MissionItem(int(row[0]), int(row[1]), *(_float(v) for v in row[2:9]),
                           autocontinue=bool(row[9]), mission_type=mission_type)
    except (TypeError, ValueError):
        raise PlanFileError(f"{where}: a stored item holds something that is not a number") from None


# --------------------------------------------------------------------------------------------
# fence and rally
# --------------------------------------------------------------------------------------------
def geofence_json(fence: list[MissionItem], where: str = "fence") -> dict:
    """QGroundControl ``geoFence`` (version 2) from fence mission items."""
    polygons, circles = [], []
    breach = None
    i = 0
    while i < len(fence):
        item = fence[i]
        cmd = int(item.command)
        if cmd in _VERTEX_CMDS:
            count = int(item.param1)
            group = fence[i:i + count]
            if count < 3 or len(group) != count or any(int(g.command) != cmd for g in group):
                raise PlanFileError(f"{where}: fence polygon at item {i} says {count} vertices "
                                    f"but {len(group)} matching items follow")
            polygons.append({
                "inclusion": _VERTEX_CMDS[cmd],
                "polygon": [[g.lat, g.lon] for g in group],   # lat, lon
                "version": FENCE_SHAPE_VERSION,
            })
            i += count
            continue
        if cmd in _CIRCLE_CMDS:
            circles.append({"circle": {"center": [item.lat, item.lon], "radius": item.param1},
                            "inclusion": _CIRCLE_CMDS[cmd], "version": FENCE_SHAPE_VERSION})
        elif cmd == Cmd.NAV_FENCE_RETURN_POINT:
            breach = [item.lat, item.lon, item.alt]
        else:
            raise PlanFileError(f"{where}: item {i} (command {cmd}) is not a fence item")
        i += 1
    out = {"circles": circles, "polygons": polygons, "version": GEOFENCE_VERSION}
    if breach is not None:
        out["breachReturn"] = breach
    return out


def fence_items_from_json(geofence: dict, where: str) -> list[MissionItem]:
    """Fence mission items from a QGroundControl ``geoFence`` object (frame GLOBAL)."""
    if not geofence:
        return []
    if not isinstance(geofence, dict):
        raise PlanFileError(f"{where}: geoFence must be an object")
    version = geofence.get("version")
    if version in (None, 1):
        return []  # QGroundControl itself ignores version-1 fences
    if version != GEOFENCE_VERSION:
        raise PlanFileError(f"{where}: geoFence version {version} is not supported (expected 2)")
    items: list[MissionItem] = []
    fence_type = MissionType.FENCE
    for k, poly in enumerate(geofence.get("polygons", []), start=1):
        try:
            vertices = poly["polygon"]
            inclusion = bool(poly["inclusion"])
            cmd = Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION if inclusion else Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
            for lat, lon, *_ in vertices:
                items.append(MissionItem(cmd, Frame.GLOBAL, float(len(vertices)), lat=float(lat),
                                         lon=float(lon), mission_type=fence_type))
        except (KeyError, TypeError, ValueError):
            raise PlanFileError(f"{where}: geoFence polygon {k} is malformed") from None
    for k, circ in enumerate(geofence.get("circles", []), start=1):
        try:
            lat, lon = circ["circle"]["center"][:2]
            cmd = Cmd.NAV_FENCE_CIRCLE_INCLUSION if circ["inclusion"] else Cmd.NAV_FENCE_CIRCLE_EXCLUSION
            items.append(MissionItem(cmd, Frame.GLOBAL, float(circ["circle"]["radius"]),
                                     lat=float(lat), lon=float(lon), mission_type=fence_type))
        except (KeyError, TypeError, ValueError):
            raise PlanFileError(f"{where}: geoFence circle {k} is malformed") from None
    if "breachReturn" in geofence:
        try:
            lat, lon, alt = (list(geofence["breachReturn"]) + [0.0])[:3]
            items.append(MissionItem(Cmd.NAV_FENCE_RETURN_POINT, Frame.GLOBAL_RELATIVE_ALT,
                                     lat=float(lat), lon=float(lon), alt=float(alt),
                                     mission_type=fence_type))
        except (TypeError, ValueError):
            raise PlanFileError(f"{where}: geoFence breachReturn is malformed") from None
    return items


def rally_json(rally: list[MissionItem]) -> dict:
    """QGroundControl ``rallyPoints`` (version 2): ``[lat, lon, alt]`` per point."""
    return {"points": [[r.lat, r.lon, r.alt] for r in rally], "version": RALLY_VERSION}


def rally_items_from_json(rally: dict, where: str) -> list[MissionItem]:
    if not rally:
        return []
    if not isinstance(rally, dict) or rally.get("version") != RALLY_VERSION:
        raise PlanFileError(f"{where}: rallyPoints must be an object with version 2")
    out = []
    for k, point in enumerate(rally.get("points", []), start=1):
        try:
            lat, lon, alt = point[:3]
            out.append(MissionItem(Cmd.NAV_RALLY_POINT, Frame.GLOBAL_RELATIVE_ALT, lat=float(lat),
                                   lon=float(lon), alt=float(alt), mission_type=MissionType.RALLY))
        except (TypeError, ValueError):
            raise PlanFileError(f"{where}: rally point {k} must be [lat, lon, alt]") from None
    return out


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def _speeds(plan: Plan) -> tuple[float, float]:
    speed = plan.settings.get("speed_ms") if isinstance(plan.settings, dict) else None
    if speed is None and plan.aircraft is not None:
        speed = plan.aircraft.cruise_speed_ms
    speed = float(speed) if speed else 10.0
    return speed, speed


def mission_json(mission: Mission, plan: Plan | None = None) -> dict:
    """QGroundControl ``mission`` (version 2) for one sortie: home in ``plannedHomePosition``,
    the rest as ``SimpleItem``s numbered from 1 (QGroundControl's sequence numbers)."""
    if not mission.items:
        raise PlanFileError(f"sortie {mission.name or ''} has no items (not even home)".replace("  ", " "))
    home = mission.items[0]
    cruise, hover = _speeds(plan) if plan is not None else (10.0, 10.0)
    return {
        "cruiseSpeed": _num(cruise),
        "firmwareType": FIRMWARE_ARDUPILOT,
        "globalPlanAltitudeMode": 0,   # "mixed": every item carries its own frame
        "hoverSpeed": _num(hover),
        "items": [simple_item_json(it, seq) for seq, it in enumerate(mission.items[1:], start=1)],
        "plannedHomePosition": [home.lat, home.lon, home.alt],   # lat, lon, alt (AMSL)
        "vehicleType": VEHICLE_QUADROTOR,
        "version": MISSION_VERSION,
    }


def _sortie_record(m: Mission) -> dict:
    return {"name": m.name, "items": [_compact(i) for i in m.items],
            "fence": [_compact(i) for i in m.fence], "rally": [_compact(i) for i in m.rally]}


def amur_json(plan: Plan) -> dict:
    """Everything about ``plan`` that QGroundControl's sections cannot hold."""
    return json_safe({
        "version": AMUR_VERSION,
        "name": plan.name,
        "kind": plan.kind,
        "altitudeMode": plan.altitude_mode,
        "camera": asdict(plan.camera) if plan.camera is not None else None,
        "aircraft": asdict(plan.aircraft) if plan.aircraft is not None else None,
        "stats": asdict(plan.stats),
        "legs_lonlat": [[[float(x), float(y)] for x, y, *_ in leg] for leg in plan.legs],
        "sector_lonlat": plan.sector,
        "exclusions_lonlat": plan.exclusions,
        "settings": plan.settings,
        "itemOrder": "command, frame, param1-4, lat, lon, alt, autocontinue",
        "sorties": [_sortie_record(m) for m in plan.sorties],
    })


def plan_json(plan: Plan, sortie: int = 0) -> dict:
    """The whole ``.plan`` document; QGroundControl's sections show sortie ``sortie``."""
    if not plan.sorties:
        raise PlanFileError("the plan has no sorties to write")
    if not 0 <= sortie < len(plan.sorties):
        raise PlanFileError(f"sortie {sortie + 1} does not exist (the plan has {len(plan.sorties)})")
    shown = plan.sorties[sortie]
    doc = {
        "fileType": "Plan",
        "geoFence": geofence_json(shown.fence),
        "groundStation": GROUND_STATION,
        "mission": mission_json(shown, plan),
        "rallyPoints": rally_json(shown.rally),
        "version": FILE_VERSION,
        AMUR_KEY: amur_json(plan),
    }
    doc[AMUR_KEY]["shownSortie"] = sortie
    return doc


def sortie_paths(path, count: int) -> list[Path]:
    """``OUT-sortie1.plan`` ... ``OUT-sortieN.plan`` next to ``OUT.plan``."""
    path = Path(path)
    return [path.with_name(f"{path.stem}-sortie{k}{path.suffix}") for k in range(1, count + 1)]


def _dump(doc: dict, path: Path) -> None:
    try:
        text = json.dumps(doc, indent=4, sort_keys=False, allow_nan=False, ensure_ascii=False)
    except ValueError as exc:  # pragma: no cover - json_safe removes NaN
        raise PlanFileError(f"cannot write {path}: {exc}") from None
    write_atomic(path, text + "\n", error=PlanFileError)


def single_sortie_plan(plan: Plan, index: int) -> Plan:
    """A copy of ``plan`` holding only sortie ``index`` (0-based), for its own file."""
    from dataclasses import replace

    settings = dict(plan.settings)
    settings["sortie_index"] = index + 1
    settings["sortie_of"] = len(plan.sorties)
    name = f"{plan.name} — sortie {index + 1}/{len(plan.sorties)}" if plan.name else \
        f"sortie {index + 1}/{len(plan.sorties)}"
    return replace(plan, sorties=[plan.sorties[index]], settings=settings, name=name)


def write_plan(plan: Plan, path, *, split_sorties: bool = False) -> list[Path]:
    """Write ``plan`` as a QGroundControl ``.plan`` file.

    Parameters
    ----------
    plan : Plan
        Any number of sorties; the file's QGroundControl sections show the first, and all of
        them are kept under ``"amur"``.
    path : str or Path
        Output file, normally ``*.plan``.
    split_sorties : bool
        Also write one file per sortie, ``<stem>-sortie<k>.plan``, each with that sortie in
        QGroundControl's sections (only when there is more than one sortie).

    Returns
    -------
    list of Path
        The files written, the main one first.
    """
    path = Path(path)
    _dump(plan_json(plan), path)
    written = [path]
    if split_sorties and len(plan.sorties) > 1:
        for k, p in enumerate(sortie_paths(path, len(plan.sorties))):
            _dump(plan_json(single_sortie_plan(plan, k)), p)
            written.append(p)
    return written


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _mission_from_json(mission: dict, where: str) -> Mission:
    if not isinstance(mission, dict):
        raise PlanFileError(f"{where}: 'mission' must be an object")
    if mission.get("version") != MISSION_VERSION:
        raise PlanFileError(f"{where}: mission version {mission.get('version')!r} is not supported "
                            "(QGroundControl writes version 2)")
    for key, kind in (("plannedHomePosition", list), ("items", list), ("firmwareType", (int, float))):
        if not isinstance(mission.get(key), kind):
            raise PlanFileError(f"{where}: mission has no valid {key!r}")
    home = mission["plannedHomePosition"]
    try:
        lat, lon, alt = (float(v) if v is not None else 0.0 for v in home[:3])
    except (TypeError, ValueError):
        raise PlanFileError(f"{where}: plannedHomePosition must be [lat, lon, alt]") from None
    items = [MissionItem(Cmd.NAV_WAYPOINT, Frame.GLOBAL, lat=lat, lon=lon, alt=alt)]
    for k, obj in enumerate(mission["items"], start=1):
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "SimpleItem":
            items.append(_item_from_json(obj, f"{where}: mission item {k}"))
        elif kind == "ComplexItem":
            inner = obj.get("TransectStyleComplexItem", {}).get("Items")
            if not isinstance(inner, list):
                raise PlanFileError(
                    f"{where}: mission item {k} is a QGroundControl {obj.get('complexItemType', 'complex')!r} "
                    "item without its expanded waypoints; open it in QGroundControl and save again")
            items.extend(_item_from_json(o, f"{where}: mission item {k} (expanded)") for o in inner)
        else:
            raise PlanFileError(f"{where}: mission item {k} has unknown type {kind!r}")
    return Mission(items=items)


def _profile(cls, data, where):
    if data is None:
        return None
    known = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in known})
    except (TypeError, ValueError) as exc:
        raise PlanFileError(f"{where}: stored {cls.__name__} is not valid: {exc}") from None


def _stats(data) -> PlanStats:
    if not isinstance(data, dict):
        return PlanStats()
    known = {f.name for f in fields(PlanStats)}
    return PlanStats(**{k: v for k, v in data.items() if k in known})


def _altitude_mode_from_frames(items: list[MissionItem]) -> AltitudeMode:
    frames = {float_frame(i.frame) for i in items[1:] if i.is_position}
    if frames and frames <= {Frame.GLOBAL_TERRAIN_ALT}:
        return AltitudeMode.TERRAIN
    if frames and frames <= {Frame.GLOBAL}:
        return AltitudeMode.AMSL
    return AltitudeMode.RELATIVE


def plan_from_json(doc: dict, where: str = "plan") -> Plan:
    """A :class:`Plan` from a parsed ``.plan`` document (with or without ``"amur"``)."""
    if not isinstance(doc, dict):
        raise PlanFileError(f"{where}: not a QGroundControl plan (the top level is not an object)")
    if doc.get("fileType") != "Plan":
        raise PlanFileError(f"{where}: not a QGroundControl plan (fileType is {doc.get('fileType')!r}, "
                            "expected 'Plan')")
    if doc.get("version") != FILE_VERSION:
        raise PlanFileError(f"{where}: plan file version {doc.get('version')!r} is not supported (expected 1)")
    if "mission" not in doc:
        raise PlanFileError(f"{where}: the plan has no 'mission'")
    shown = _mission_from_json(doc["mission"], where)
    shown.fence = fence_items_from_json(doc.get("geoFence"), where)
    shown.rally = rally_items_from_json(doc.get("rallyPoints"), where)

    extra = doc.get(AMUR_KEY)
    if not isinstance(extra, dict):
        return Plan(kind=PlanKind.IMPORTED, sorties=[shown], altitude_mode=_altitude_mode_from_frames(shown.items),
                    settings={"source": f"{where} (made by {doc.get('groundStation', 'unknown')})"},
                    name=Path(where).stem)
    if extra.get("version") != AMUR_VERSION:
        raise PlanFileError(f"{where}: its amur-uav data has version {extra.get('version')!r}; "
                            f"this amur-uav reads version {AMUR_VERSION}")
    sorties = []
    for k, rec in enumerate(extra.get("sorties", []), start=1):
        here = f"{where}: sortie {k}"
        sorties.append(Mission(
            items=[_uncompact(r, MissionType.MISSION, here) for r in rec.get("items", [])],
            fence=[_uncompact(r, MissionType.FENCE, here) for r in rec.get("fence", [])],
            rally=[_uncompact(r, MissionType.RALLY, here) for r in rec.get("rally", [])],
            name=rec.get("name", "")))
    if not sorties:
        sorties = [shown]
    # QGroundControl's sections win where someone edited them and kept the extra key.
    idx = int(extra.get("shownSortie", 0) or 0)
    if 0 <= idx < len(sorties):
        stored = sorties[idx]
        if mission_json(stored)["items"] != mission_json(shown)["items"] or \
                [stored.items[0].lat, stored.items[0].lon, stored.items[0].alt] != \
                [shown.items[0].lat, shown.items[0].lon, shown.items[0].alt]:
            stored.items = shown.items
        if geofence_json(stored.fence) != geofence_json(shown.fence):
            stored.fence = shown.fence
        if rally_json(stored.rally) != rally_json(shown.rally):
            stored.rally = shown.rally
    try:
        kind = PlanKind(extra.get("kind", "survey"))
        mode = AltitudeMode(extra.get("altitudeMode", "relative"))
    except ValueError as exc:
        raise PlanFileError(f"{where}: {exc}") from None
    return Plan(
        kind=kind, sorties=sorties, altitude_mode=mode,
        camera=_profile(CameraProfile, extra.get("camera"), where),
        aircraft=_profile(AircraftProfile, extra.get("aircraft"), where),
        stats=_stats(extra.get("stats")),
        legs=[[(float(x), float(y)) for x, y, *_ in leg] for leg in extra.get("legs_lonlat", [])],
        sector=extra.get("sector_lonlat"),
        exclusions=list(extra.get("exclusions_lonlat") or []),
        settings=dict(extra.get("settings") or {}),
        name=extra.get("name", ""),
    )


def read_plan(path) -> Plan:
    """Read a QGroundControl ``.plan`` file (ours, or one QGroundControl saved).

    Raises
    ------
    PlanFileError
        Missing or unreadable file, not JSON, not a QGroundControl plan, unsupported versions,
        malformed items (the message names the item).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanFileError(f"plan file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"cannot read {path}: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                            f"{exc.msg}); is it a QGroundControl .plan file?") from None
    return plan_from_json(doc, str(path))
