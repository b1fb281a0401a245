"""``QGC WPL 110`` waypoint files (Mission Planner, QGroundControl, MAVProxy), read and written.

One line per mission item, tab separated::

    QGC WPL 110
    <seq> <current> <frame> <command> <p1> <p2> <p3> <p4> <lat> <lon> <alt> <autocontinue>

Line ``0`` is home (ArduPilot's seq 0, ``current`` = 1, frame 0, altitude AMSL).  Latitude and
longitude are written with 8 decimals (about 1 mm), altitude with 6, the other parameters
exactly.  The format holds the mission only: no fence, no rally points (those go in ``.plan``).
"""

from __future__ import annotations

import math
from pathlib import Path

from uav.errors import PlanFileError
from uav.files import write_atomic
from uav.items import Mission, MissionItem

HEADER = "QGC WPL 110"
LATLON_DECIMALS = 8
ALT_DECIMALS = 6


def _param(x: float) -> str:
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _fixed(x: float, decimals: int) -> str:
    x = float(x)
    return "NaN" if math.isnan(x) else f"{x:.{decimals}f}"


def waypoints_text(mission: Mission) -> str:
    """The ``QGC WPL 110`` text of a mission (home first)."""
    if not mission.items:
        raise PlanFileError("cannot write a waypoints file for a mission with no items (not even home)")
    lines = [HEADER]
    for seq, it in enumerate(mission.items):
        fields = [str(seq), "1" if seq == 0 else "0", str(int(it.frame)), str(int(it.command)),
                  _param(it.param1), _param(it.param2), _param(it.param3), _param(it.param4),
                  _fixed(it.lat, LATLON_DECIMALS), _fixed(it.lon, LATLON_DECIMALS),
                  _fixed(it.alt, ALT_DECIMALS), "1" if it.autocontinue else "0"]
        lines.append("\t".join(fields))
    return "\r\n".join(lines) + "\r\n"   # Mission Planner writes CRLF


def write_waypoints(mission: Mission, path) -> Path:
    """Write ``mission`` as a ``QGC WPL 110`` file; returns the path."""
    path = Path(path)
    text = waypoints_text(mission)
    write_atomic(path, text.encode("ascii"), error=PlanFileError)
    return path


def write_plan_waypoints(plan, path) -> list[Path]:
    """One ``.waypoints`` file per sortie of a :class:`~missions.model.Plan`: ``OUT.waypoints``
    for a single sortie, ``OUT-sortie1.waypoints`` ... for several."""
    path = Path(path)
    if len(plan.sorties) == 1:
        return [write_waypoints(plan.sorties[0], path)]
    return [write_waypoints(m, path.with_name(f"{path.stem}-sortie{k}{path.suffix}"))
            for k, m in enumerate(plan.sorties, start=1)]


def parse_waypoints(text: str, where: str = "waypoints") -> Mission:
    """A :class:`~uav.items.Mission` from ``QGC WPL 110`` text."""
    lines = [ln for ln in text.splitlines()]
    if not lines or not lines[0].strip().startswith("QGC WPL"):
        first = lines[0][:40] if lines else ""
        raise PlanFileError(f"{where}: not a waypoints file (first line {first!r}, expected {HEADER!r})")
    version = lines[0].split()[-1]
    if version != "110":
        raise PlanFileError(f"{where}: waypoints format version {version} is not supported (expected 110)")
    items: list[MissionItem] = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 12:
            raise PlanFileError(f"{where}, line {lineno}: expected 12 fields, found {len(parts)}")
        try:
            seq, _current, frame, command = (int(p) for p in parts[:4])
            params = [float(p) for p in parts[4:11]]
            autocontinue = int(float(parts[11]))
        except ValueError:
            raise PlanFileError(f"{where}, line {lineno}: a field is not a number: {line.strip()!r}") from None
        if seq != len(items):
            raise PlanFileError(f"{where}, line {lineno}: item number {seq} out of order "
                                f"(expected {len(items)})")
        items.append(MissionItem(command, frame, *params, autocontinue=bool(autocontinue)))
    if not items:
        raise PlanFileError(f"{where}: the waypoints file has no items")
    return Mission(items=items, name=Path(where).stem)


def read_waypoints(path) -> Mission:
    """Read a ``QGC WPL 110`` file.

    Raises
    ------
    PlanFileError
        Missing file, wrong header or version, a line with the wrong number of fields, a field
        that is not a number, or items out of order (the message gives the line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise PlanFileError(f"waypoints file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"cannot read {path}: {exc}") from None
    return parse_waypoints(text, str(path))


def read_waypoints_plan(path):
    """A one-sortie :class:`~missions.model.Plan` (kind ``imported``) from a waypoints file."""
    from ..model import Plan, PlanKind
    from .qgc_plan import _altitude_mode_from_frames

    mission = read_waypoints(path)
    return Plan(kind=PlanKind.IMPORTED, sorties=[mission],
                altitude_mode=_altitude_mode_from_frames(mission.items),
                settings={"source": str(path)}, name=Path(path).stem)
