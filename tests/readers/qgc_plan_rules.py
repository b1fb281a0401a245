"""The rules QGroundControl's loader applies to a ``.plan`` file, restated to check our files by.

QGroundControl is a Qt application with no headless loader to run in CI, so its rules are
written out here from its source (github.com/mavlink/qgroundcontrol, ``src/MissionManager``:
PlanMasterController::loadFromFile, JsonHelper::validateExternalQGCJsonFile,
MissionController::_loadJsonMissionFileV2, MissionItem::load, SimpleMissionItem::load,
GeoFenceController::load, QGCFencePolygon/QGCFenceCircle/QGCMapCircle::loadFromJson,
RallyPointController::load).  Read for the facts; none of its code is here.

Two of them matter more than they look: a ``geoFence`` or ``rallyPoints`` object whose
``version`` is 1 (or, for the fence, absent) is *silently ignored* by QGroundControl, so a
fence written so would vanish without a word; :func:`plan_problems` names that as a problem.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["plan_problems"]

_NUMBER = (int, float)
# ComplexItem types QGroundControl loads (MissionController::_loadJsonMissionFileV2)
_COMPLEX = {"survey", "CorridorScan", "StructureScan", "FWLandingPattern", "VTOLLandingPattern"}
MAV_CMD_DO_JUMP = 177


def _number(v) -> bool:
    return isinstance(v, _NUMBER) and not isinstance(v, bool)


def _keys(obj: dict, where: str, spec: dict, out: list) -> None:
    """JsonHelper::validateKeys: required keys present, every present key of its JSON type."""
    for key, (kind, required) in spec.items():
        if key not in obj:
            if required:
                out.append(f"{where}: key '{key}' is missing")
            continue
        v = obj[key]
        ok = {"number": _number(v), "string": isinstance(v, str), "bool": isinstance(v, bool),
              "array": isinstance(v, list), "object": isinstance(v, dict)}[kind]
        if not ok:
            out.append(f"{where}: '{key}' must be a JSON {kind}, not {type(v).__name__}")


def _coordinate(v, where: str, altitude: bool, out: list) -> None:
    """JsonHelper::loadGeoCoordinate: [lat, lon] or [lat, lon, alt] (alt when required)."""
    n = 3 if altitude else 2
    if not (isinstance(v, list) and len(v) in ((3,) if altitude else (2, 3)) and all(map(_number, v))):
        out.append(f"{where}: must be [lat, lon{', alt' if altitude else ''}] numbers, got {v!r}")
    elif not (-90 <= v[0] <= 90 and -180 <= v[1] <= 180):
        out.append(f"{where}: {v[:n]} is not a latitude, longitude pair")


def _mission(m: dict, out: list) -> None:
    _keys(m, "mission", {"plannedHomePosition": ("array", True), "items": ("array", True),
                         "firmwareType": ("number", True), "vehicleType": ("number", False),
                         "cruiseSpeed": ("number", False), "hoverSpeed": ("number", False),
                         "globalPlanAltitudeMode": ("number", False)}, out)
    if "plannedHomePosition" in m:
        _coordinate(m["plannedHomePosition"], "mission.plannedHomePosition", True, out)
    jump_ids, jumps = set(), []
    for i, item in enumerate(m.get("items") or []):
        where = f"mission item {i}"
        if not isinstance(item, dict):
            out.append(f"{where}: not an object")
            continue
        kind = item.get("type")
        if kind == "ComplexItem":
            if item.get("complexItemType") not in _COMPLEX:
                out.append(f"{where}: unsupported complex item type {item.get('complexItemType')!r}")
            continue
        if kind != "SimpleItem":
            out.append(f"{where}: unknown item type {kind!r}")
            continue
        _keys(item, where, {"frame": ("number", True), "command": ("number", True),
                            "params": ("array", True), "autoContinue": ("bool", True),
                            "doJumpId": ("number", False)}, out)
        params = item.get("params")
        if isinstance(params, list):
            if len(params) != 7:
                out.append(f"{where}: params must hold 7 values, not {len(params)}")
            elif not all(p is None or _number(p) for p in params):
                out.append(f"{where}: params must be numbers or null (NaN), got {params!r}")
        alt_keys = ("AltitudeMode", "Altitude", "AMSLAltAboveTerrain")
        if any(k in item for k in alt_keys):   # SimpleMissionItem::load: all three or none
            _keys(item, where, {k: ("number", True) for k in alt_keys}, out)
        if "doJumpId" in item:
            jump_ids.add(item["doJumpId"])
        if item.get("command") == MAV_CMD_DO_JUMP and isinstance(params, list) and params:
            jumps.append((i, params[0]))
    for i, target in jumps:
        if target not in jump_ids:
            out.append(f"mission item {i}: DO_JUMP to doJumpId {target}, which no item has")


def _fence(f: dict, out: list) -> None:
    if f.get("version", 1) == 1:
        out.append("geoFence: version 1 (or none): QGroundControl silently ignores the whole fence")
        return
    _keys(f, "geoFence", {"version": ("number", True), "circles": ("array", True),
                          "polygons": ("array", True), "breachReturn": ("array", False)}, out)
    if f.get("version") != 2:
        out.append(f"geoFence: version {f.get('version')!r}; QGroundControl supports version 2")
    for i, p in enumerate(f.get("polygons") or []):
        where = f"geoFence polygon {i}"
        if not isinstance(p, dict):
            out.append(f"{where}: not an object")
            continue
        _keys(p, where, {"version": ("number", True), "inclusion": ("bool", True),
                         "polygon": ("array", True)}, out)
        if p.get("version") != 1:
            out.append(f"{where}: version {p.get('version')!r}; QGroundControl supports version 1")
        for j, v in enumerate(p.get("polygon") or []):
            _coordinate(v, f"{where} vertex {j}", False, out)
    for i, c in enumerate(f.get("circles") or []):
        where = f"geoFence circle {i}"
        if not isinstance(c, dict):
            out.append(f"{where}: not an object")
            continue
        _keys(c, where, {"version": ("number", True), "inclusion": ("bool", True),
                         "circle": ("object", True)}, out)
        if c.get("version") != 1:
            out.append(f"{where}: version {c.get('version')!r}; QGroundControl supports version 1")
        circle = c.get("circle")
        if isinstance(circle, dict):
            _keys(circle, f"{where}.circle", {"center": ("array", True), "radius": ("number", True)}, out)
            if "center" in circle:
                _coordinate(circle["center"], f"{where} centre", False, out)
    if "breachReturn" in f:
        _coordinate(f["breachReturn"], "geoFence.breachReturn", True, out)


def _rally(r: dict, out: list) -> None:
    if r.get("version") == 1:
        out.append("rallyPoints: version 1: QGroundControl silently ignores the rally points")
        return
    _keys(r, "rallyPoints", {"version": ("number", True), "points": ("array", True)}, out)
    if r.get("version") != 2:
        out.append(f"rallyPoints: version {r.get('version')!r}; QGroundControl supports version 2")
    for i, p in enumerate(r.get("points") or []):
        _coordinate(p, f"rally point {i}", True, out)


def plan_problems(path) -> list[str]:
    """Every reason QGroundControl would refuse (or silently drop part of) a ``.plan`` file;
    empty when it loads whole."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"),
                         parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not JSON")))
    except ValueError as exc:   # Qt's JSON parser refuses NaN/Infinity tokens as well
        return [f"not valid JSON: {exc}"]
    if not isinstance(doc, dict):
        return ["not a JSON object"]
    out: list[str] = []
    # JsonHelper::validateExternalQGCJsonFile with kPlanFileType "Plan", versions 1..1
    _keys(doc, "plan", {"groundStation": ("string", True), "fileType": ("string", True),
                        "version": ("number", True)}, out)
    if doc.get("fileType") != "Plan":
        out.append(f"plan: fileType is {doc.get('fileType')!r}, not 'Plan'")
    if _number(doc.get("version")) and int(doc["version"]) != 1:
        out.append(f"plan: version {doc['version']}; QGroundControl reads version 1")
    _keys(doc, "plan", {"mission": ("object", True), "geoFence": ("object", True),
                        "rallyPoints": ("object", True)}, out)
    if out:
        return out
    _mission(doc["mission"], out)
    _fence(doc["geoFence"], out)
    _rally(doc["rallyPoints"], out)
    return out
