"""Compare what was sent with what the vehicle read back, allowing for ArduPilot's storage.

ArduPilot does not store a MISSION_ITEM_INT verbatim: it packs each command into a small record
(observed on SITL, see the design notes).  An ``_INT`` frame comes back as its float twin
(6 -> 3), altitudes in whole centimetres (rally points: whole metres; fences: none),
latitude/longitude as int32 * 1e-7 degrees, many params in narrow integer fields or not at all
(a waypoint's hold time in whole seconds, its param2-4 mostly dropped), x/y/z of non-position
commands dropped, and the mission's seq 0 is the vehicle's own home, not the one uploaded.  Anything beyond these differences is an error that
names the item, the field, and both values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import MissionVerifyError
from ..items import Cmd, Home, MissionItem, MissionType, command_name, float_frame
from .mission_transfer import GLOBAL_FRAMES

LATLON_TOL_DEG = 1.0e-7 + 1e-12
# Altitudes are whole centimetres (cut, not rounded) plus float32 noise on a few-km altitude.
ALT_TOL_M = 0.01 + 1e-4
RALLY_ALT_TOL_M = 1.0 + 1e-4  # rally altitude is whole metres

# How ArduPilot keeps params 1-4 of each command the project uses (AP_Mission's packed record):
#   f: float32   int: whole number (cut)   int?: whole number or not kept   drop: not kept
#   u8: whole number kept in one unsigned byte
#   sign: only its sign (+-1)   bool: 1 if > 0 else 0   radius: whole metres, tens above 255
_C = Cmd
PARAM_RULES: dict[int, tuple[str, str, str, str]] = {
    _C.NAV_WAYPOINT: ("int", "int?", "int?", "drop"),
    _C.NAV_TAKEOFF: ("int", "drop", "drop", "drop"),
    _C.NAV_LOITER_UNLIM: ("drop", "drop", "int", "drop"),
    _C.NAV_LOITER_TURNS: ("int", "drop", "radius", "bool"),
    _C.NAV_LOITER_TIME: ("int", "drop", "sign", "bool"),
    _C.NAV_RETURN_TO_LAUNCH: ("drop", "drop", "drop", "drop"),
    _C.NAV_LAND: ("int", "drop", "drop", "sign"),
    _C.DO_JUMP: ("int", "int", "drop", "drop"),
    _C.DO_CHANGE_SPEED: ("u8", "f", "f", "drop"),
    _C.DO_SET_CAM_TRIGG_DIST: ("f", "drop", "int", "drop"),
    _C.DO_DIGICAM_CONTROL: ("int", "int", "int", "int"),
    _C.IMAGE_START_CAPTURE: ("drop", "f", "int", "int"),
    _C.NAV_FENCE_POLYGON_VERTEX_INCLUSION: ("int", "drop", "drop", "drop"),
    _C.NAV_FENCE_POLYGON_VERTEX_EXCLUSION: ("int", "drop", "drop", "drop"),
    _C.NAV_FENCE_CIRCLE_INCLUSION: ("f", "drop", "drop", "drop"),
    _C.NAV_FENCE_CIRCLE_EXCLUSION: ("f", "drop", "drop", "drop"),
    _C.NAV_FENCE_RETURN_POINT: ("drop", "drop", "drop", "drop"),
    _C.NAV_RALLY_POINT: ("drop", "drop", "drop", "drop"),
}


def _param_ok(rule: str, sent: float, stored: float) -> bool:
    if rule == "drop":
        return True
    if _close(sent, stored):
        return True
    whole = float(math.trunc(sent)) if math.isfinite(sent) else sent
    if rule == "int":
        return stored == whole
    if rule == "u8":
        return math.isfinite(sent) and stored == float(int(math.trunc(sent)) % 256)
    if rule == "int?":
        return stored in (whole, 0.0)
    if rule == "sign":
        return stored == (-1.0 if sent < 0 else 1.0)
    if rule == "bool":
        return stored == (1.0 if sent > 0 else 0.0)
    if rule == "radius":
        return abs(abs(stored) - abs(sent)) < (10.0 if abs(sent) > 255 else 1.0)
    return False  # "f": float32, already compared


@dataclass(frozen=True)
class Difference:
    """One field that came back different.  ``seq`` is -1 for the item count."""

    mission_type: int
    seq: int
    field: str
    sent: object
    stored: object

    def describe(self) -> str:
        label = MissionType(self.mission_type).label
        if self.seq < 0:
            return (f"{label}: {self.sent} items sent but the vehicle holds {self.stored}")
        return (f"{label} item {self.seq}: {self.field} sent {_fmt(self.sent)}, vehicle "
                f"stored {_fmt(self.stored)}")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.7f}".rstrip("0").rstrip(".") if value == value else "nan"
    return str(value)


def _close(a: float, b: float, abs_tol: float = 1e-6) -> bool:
    # float32 keeps ~7 significant digits
    if math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=2e-7, abs_tol=abs_tol)


def compare_item(sent: MissionItem, stored: MissionItem, seq: int,
                 mission_type: int) -> list[Difference]:
    """Every difference between one sent and one stored item, beyond storage rounding."""
    out: list[Difference] = []
    mtype = MissionType(mission_type)

    def diff(name, a, b):
        out.append(Difference(mission_type, seq, name, a, b))

    if int(sent.command) != int(stored.command):
        diff("command", command_name(sent.command), command_name(stored.command))
        return out  # the rest is meaningless for a different command
    cmd = int(sent.command)
    rules = PARAM_RULES.get(cmd, ("f", "f", "f", "f"))
    for i, name in enumerate(("param1", "param2", "param3", "param4")):
        a, b = getattr(sent, name), getattr(stored, name)
        if not _param_ok(rules[i], a, b):
            diff(name, a, b)
    is_position = sent.is_position and int(sent.frame) in GLOBAL_FRAMES
    if not is_position:
        # x/y/z of a non-position command travel as int32/float and most are not kept
        for name, a, b in (("param5", sent.lat, stored.lat), ("param6", sent.lon, stored.lon),
                           ("param7", sent.alt, stored.alt)):
            if b != 0.0 and round(a) != round(b) and not _close(a, b):
                diff(name, a, b)
        return out
    if mtype != MissionType.FENCE and \
            float_frame(sent.frame) not in (float_frame(stored.frame), 2):
        diff("frame", int(sent.frame), int(stored.frame))
    if abs(sent.lat - stored.lat) > LATLON_TOL_DEG:
        diff("latitude", sent.lat, stored.lat)
    if abs(sent.lon - stored.lon) > LATLON_TOL_DEG:
        diff("longitude", sent.lon, stored.lon)
    if mtype == MissionType.FENCE:
        return out  # fences keep no altitude
    tol = RALLY_ALT_TOL_M if mtype == MissionType.RALLY else ALT_TOL_M
    if abs(sent.alt - stored.alt) > tol + abs(sent.alt) * 2e-7:
        diff("altitude", sent.alt, stored.alt)
    return out


def compare_items(sent: Sequence[MissionItem], stored: Sequence[MissionItem],
                  mission_type: int = MissionType.MISSION,
                  home: Home | None = None) -> list[Difference]:
    """All differences between an uploaded list and its read-back.

    Parameters
    ----------
    sent, stored : sequence of MissionItem
        What was uploaded and what was downloaded afterwards.
    mission_type : int
        Which list; for a mission, seq 0 is home and is not compared with what was sent
        (the vehicle keeps its own home) but, if ``home`` is given, with that.
    home : Home, optional
        The vehicle's home, to check seq 0 of a mission against.
    """
    mtype = MissionType(mission_type)
    out: list[Difference] = []
    if len(sent) != len(stored):
        out.append(Difference(mtype, -1, "count", len(sent), len(stored)))
    for seq, (a, b) in enumerate(zip(sent, stored, strict=False)):
        if mtype == MissionType.MISSION and seq == 0:
            if home is not None:
                out.extend(compare_item(home.as_item(), b, 0, mtype))
            continue
        out.extend(compare_item(a, b, seq, mtype))
    return out


def verify_items(sent: Sequence[MissionItem], stored: Sequence[MissionItem],
                 mission_type: int = MissionType.MISSION, home: Home | None = None) -> None:
    """Raise if the read-back differs from what was sent (see :func:`compare_items`).

    Raises
    ------
    MissionVerifyError
        Naming the first differing item, its field, and the sent and stored values; the
        exception's ``differences`` holds them all, and ``seq``/``field``/``sent``/``stored``
        the first.
    """
    diffs = compare_items(sent, stored, mission_type, home)
    if not diffs:
        return
    label = MissionType(mission_type).label
    shown = "; ".join(d.describe() for d in diffs[:5])
    more = f" (and {len(diffs) - 5} more differences)" if len(diffs) > 5 else ""
    err = MissionVerifyError(f"{label} read back from the vehicle differs from what was sent: "
                             f"{shown}{more}")
    first = diffs[0]
    err.differences = diffs
    err.seq, err.field, err.sent, err.stored = first.seq, first.field, first.sent, first.stored
    raise err
