"""How ArduPilot stores mission, fence and rally items, and what it answers when asked for them.

ArduPilot does not keep the MISSION_ITEM_INT it was sent: it packs each command into a small
fixed-size record (``AP_Mission::Mission_Command``, ``AC_PolyFence_loader``, ``RallyLocation``)
and builds a fresh message from that record on download.  What a GCS reads back therefore
differs from what it wrote, in ways a verifying uploader must allow for:

* positional items come back in the float frame number (6 -> 3, 5 -> 0, 11 -> 10);
* altitudes are held in whole centimetres (the float metres are multiplied by 100 and cut);
* command parameters are held in narrow integer fields or dropped: a waypoint's hold time
  (param1) is cut to whole seconds, its param2-4 are not stored; a loiter-turns radius fits in
  one byte; a rally point's altitude is whole metres;
* mission seq 0 is always the vehicle's current home (NAV_WAYPOINT, frame 0, absolute alt);
* autocontinue is not stored: mission items come back with 1, fence and rally items with 0,
  whatever was sent (seen on SITL 4.7 with items uploaded as 0 and as 1).

This module reproduces those rules for the commands the project uses (facts read from
ArduPilot's ``AP_Mission.cpp`` and observed on SITL; no code taken from it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

M = mavlink

# float frame numbers ArduPilot answers with, by the frame it was sent
_FRAME_TO_STORED = {
    M.MAV_FRAME_GLOBAL: M.MAV_FRAME_GLOBAL,
    M.MAV_FRAME_GLOBAL_INT: M.MAV_FRAME_GLOBAL,
    M.MAV_FRAME_MISSION: M.MAV_FRAME_GLOBAL,
    M.MAV_FRAME_GLOBAL_RELATIVE_ALT: M.MAV_FRAME_GLOBAL_RELATIVE_ALT,
    M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT: M.MAV_FRAME_GLOBAL_RELATIVE_ALT,
    M.MAV_FRAME_GLOBAL_TERRAIN_ALT: M.MAV_FRAME_GLOBAL_TERRAIN_ALT,
    M.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT: M.MAV_FRAME_GLOBAL_TERRAIN_ALT,
}

# commands whose x/y/z are a location held in the record
LOCATION_COMMANDS = frozenset({
    M.MAV_CMD_NAV_WAYPOINT, M.MAV_CMD_NAV_LOITER_UNLIM, M.MAV_CMD_NAV_LOITER_TURNS,
    M.MAV_CMD_NAV_LOITER_TIME, M.MAV_CMD_NAV_LAND, M.MAV_CMD_NAV_TAKEOFF,
    M.MAV_CMD_NAV_SPLINE_WAYPOINT, M.MAV_CMD_NAV_LOITER_TO_ALT, M.MAV_CMD_DO_SET_HOME,
    M.MAV_CMD_DO_LAND_START, M.MAV_CMD_DO_SET_ROI, M.MAV_CMD_NAV_CONTINUE_AND_CHANGE_ALT,
})

NAV_COMMANDS = frozenset({
    M.MAV_CMD_NAV_WAYPOINT, M.MAV_CMD_NAV_LOITER_UNLIM, M.MAV_CMD_NAV_LOITER_TURNS,
    M.MAV_CMD_NAV_LOITER_TIME, M.MAV_CMD_NAV_RETURN_TO_LAUNCH, M.MAV_CMD_NAV_LAND,
    M.MAV_CMD_NAV_TAKEOFF, M.MAV_CMD_NAV_SPLINE_WAYPOINT, M.MAV_CMD_NAV_LOITER_TO_ALT,
    M.MAV_CMD_NAV_DELAY, M.MAV_CMD_NAV_CONTINUE_AND_CHANGE_ALT,
})

FENCE_COMMANDS = frozenset({
    M.MAV_CMD_NAV_FENCE_RETURN_POINT, M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
    M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
    M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
})


_F32 = struct.Struct("<f")


def _f32(x: float) -> float:
    return _F32.unpack(_F32.pack(float(x)))[0]


def _u(x: float, bits: int) -> int:
    """C's cast of a float into an unsigned integer field (truncate, wrap)."""
    try:
        return int(x) & ((1 << bits) - 1)
    except (ValueError, OverflowError):
        return 0


def _s(x: float, bits: int) -> int:
    v = _u(x, bits)
    return v - (1 << bits) if v >= 1 << (bits - 1) else v


@dataclass(frozen=True)
class StoredItem:
    """One stored record, already in the shape a download returns (MISSION_ITEM_INT fields)."""

    command: int
    frame: int = 0
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0  # lat * 1e7 for locations
    y: int = 0
    z: float = 0.0
    autocontinue: int = 1

    @property
    def lat(self) -> float:
        return self.x / 1e7

    @property
    def lon(self) -> float:
        return self.y / 1e7

    def to_mavlink_int(self, seq: int, target_system: int, target_component: int,
                       mission_type: int) -> mavlink.MAVLink_mission_item_int_message:
        return M.MAVLink_mission_item_int_message(
            target_system, target_component, seq, self.frame, self.command, 0,
            self.autocontinue, self.param1, self.param2, self.param3, self.param4,
            self.x, self.y, self.z, mission_type)

    def to_mavlink_float(self, seq: int, target_system: int, target_component: int,
                         mission_type: int) -> mavlink.MAVLink_mission_item_message:
        if self.command in LOCATION_COMMANDS or self.command in FENCE_COMMANDS \
                or self.command == M.MAV_CMD_NAV_RALLY_POINT:
            x, y = self.x / 1e7, self.y / 1e7
        else:
            x, y = float(self.x), float(self.y)
        return M.MAVLink_mission_item_message(
            target_system, target_component, seq, self.frame, self.command, 0,
            self.autocontinue, self.param1, self.param2, self.param3, self.param4,
            x, y, self.z, mission_type)


@dataclass(frozen=True)
class Incoming:
    """A received item, whatever message carried it, with x/y as integers."""

    seq: int
    command: int
    frame: int
    params: tuple[float, float, float, float]
    x: int
    y: int
    z: float
    autocontinue: int

    @classmethod
    def from_message(cls, msg) -> Incoming:
        is_int = msg.get_type() == "MISSION_ITEM_INT"
        if is_int:
            x, y = int(msg.x), int(msg.y)
        elif msg.command in LOCATION_COMMANDS or msg.command in FENCE_COMMANDS \
                or msg.command == M.MAV_CMD_NAV_RALLY_POINT:
            # ArduPilot converts float degrees with a plain cast to int32
            x, y = int(msg.x * 1e7), int(msg.y * 1e7)
        else:
            x, y = int(msg.x), int(msg.y)
        return cls(msg.seq, msg.command, msg.frame,
                   (msg.param1, msg.param2, msg.param3, msg.param4), x, y, _f32(msg.z),
                   msg.autocontinue)


def _alt_cm(z: float) -> int:
    # AP_Mission: location.alt (int32 cm) = packet.z * 100.0f  -> truncated toward zero
    return int(_f32(_f32(z) * 100.0))


def store_mission_item(it: Incoming) -> tuple[int, StoredItem | None]:
    """Pack a mission item as AP_Mission does.  Returns (MAV_MISSION_RESULT, stored item)."""
    cmd = it.command
    p1, p2, p3, p4 = it.params
    q = dict(param1=0.0, param2=0.0, param3=0.0, param4=0.0)
    x = y = 0
    z = 0.0
    frame = M.MAV_FRAME_GLOBAL
    if cmd in (M.MAV_CMD_NAV_WAYPOINT, M.MAV_CMD_NAV_SPLINE_WAYPOINT, M.MAV_CMD_NAV_TAKEOFF):
        q["param1"] = float(_u(p1, 16))
    elif cmd == M.MAV_CMD_NAV_LOITER_UNLIM:
        q["param3"] = float(_u(abs(p3), 16)) * (-1 if p3 < 0 else 1)
    elif cmd == M.MAV_CMD_NAV_LOITER_TURNS:
        radius = abs(p3)
        scale = 1
        if radius > 255:
            radius, scale = radius / 10.0, 10
        r = _u(radius, 8) * scale
        q["param1"] = float(_u(p1, 16) & 0xFF)
        q["param3"] = float(-r if p3 < 0 else r)
        q["param4"] = 1.0 if p4 > 0 else 0.0
    elif cmd == M.MAV_CMD_NAV_LOITER_TIME:
        q["param1"] = float(_u(p1, 16))
        q["param3"] = -1.0 if p3 < 0 else 1.0
        q["param4"] = 1.0 if p4 > 0 else 0.0
    elif cmd == M.MAV_CMD_NAV_RETURN_TO_LAUNCH:
        pass
    elif cmd == M.MAV_CMD_NAV_LAND:
        q["param1"] = float(_u(p1, 16))
        q["param4"] = -1.0 if p4 < 0 else 1.0
    elif cmd == M.MAV_CMD_NAV_LOITER_TO_ALT:
        q["param2"] = float(_u(abs(p2), 16)) * (-1 if p2 < 0 else 1)
    elif cmd == M.MAV_CMD_NAV_CONTINUE_AND_CHANGE_ALT:
        q["param1"] = float(_u(p1, 16))
    elif cmd == M.MAV_CMD_NAV_DELAY:
        q.update(param1=_f32(p1), param2=float(_s(p2, 8)), param3=float(_s(p3, 8)),
                 param4=float(_s(p4, 8)))
    elif cmd == M.MAV_CMD_CONDITION_DELAY or cmd == M.MAV_CMD_CONDITION_DISTANCE:
        q["param1"] = _f32(p1)
    elif cmd == M.MAV_CMD_CONDITION_YAW:
        q.update(param1=float(_u(p1, 16)), param2=float(_s(p2, 8)),
                 param3=float(_s(p3, 8)), param4=float(_u(p4, 8)))
    elif cmd == M.MAV_CMD_DO_JUMP:
        q.update(param1=float(_u(p1, 16)), param2=float(_s(p2, 16)))
    elif cmd == M.MAV_CMD_DO_CHANGE_SPEED:
        # throttle_pct is a float in AP_Mission (-1: no change), speed_type a uint8
        q.update(param1=float(_u(p1, 8)), param2=_f32(p2), param3=_f32(p3))
    elif cmd in (M.MAV_CMD_DO_SET_HOME, M.MAV_CMD_DO_SET_ROI):
        q["param1"] = float(_u(p1, 8))
    elif cmd == M.MAV_CMD_DO_LAND_START:
        pass
    elif cmd == M.MAV_CMD_DO_SET_SERVO:
        q.update(param1=float(_u(p1, 8)), param2=float(_u(p2, 16)))
    elif cmd == M.MAV_CMD_DO_SET_RELAY:
        q.update(param1=float(_u(p1, 8)), param2=float(_u(p2, 8)))
    elif cmd == M.MAV_CMD_DO_DIGICAM_CONTROL:
        q.update(param1=float(_u(p1, 8)), param2=float(_u(p2, 8)), param3=float(_s(p3, 8)),
                 param4=float(_u(p4, 8)))
        x, y = _u(it.x, 8), _u(it.y, 8)
    elif cmd == M.MAV_CMD_DO_DIGICAM_CONFIGURE:
        q.update(param1=float(_u(p1, 8)), param2=float(_u(p2, 16)), param3=_f32(p3),
                 param4=float(_u(p4, 16)))
        x, y, z = _u(it.x, 8), _u(it.y, 8), float(_u(it.z, 8))
    elif cmd == M.MAV_CMD_DO_SET_CAM_TRIGG_DIST:
        q.update(param1=_f32(p1), param3=float(_u(p3, 8)))
    elif cmd == M.MAV_CMD_DO_FENCE_ENABLE or cmd == M.MAV_CMD_DO_PAUSE_CONTINUE:
        q["param1"] = float(_u(p1, 16))
    elif cmd == M.MAV_CMD_DO_MOUNT_CONTROL:
        q.update(param1=_f32(p1), param2=_f32(p2), param3=_f32(p3))
    elif cmd == M.MAV_CMD_IMAGE_START_CAPTURE:
        q.update(param2=_f32(p2), param3=float(_u(p3, 16)), param4=float(_u(p4, 16)))
    elif cmd == M.MAV_CMD_IMAGE_STOP_CAPTURE:
        pass
    else:
        return M.MAV_MISSION_UNSUPPORTED, None
    if cmd in LOCATION_COMMANDS:
        stored = _FRAME_TO_STORED.get(it.frame)
        if stored is None:
            return M.MAV_MISSION_UNSUPPORTED_FRAME, None
        if not (-900000000 <= it.x <= 900000000):
            return M.MAV_MISSION_INVALID_PARAM5_X, None
        if not (-1800000000 <= it.y <= 1800000000):
            return M.MAV_MISSION_INVALID_PARAM6_Y, None
        frame = stored
        x, y = it.x, it.y
        z = _f32(_alt_cm(it.z) * 0.01)
    # positional: this runs once per uploaded item
    return M.MAV_MISSION_ACCEPTED, StoredItem(cmd, frame, q["param1"], q["param2"], q["param3"],
                                              q["param4"], x, y, z, 1)


def store_fence_item(it: Incoming) -> tuple[int, StoredItem | None]:
    """Pack a fence item as AC_PolyFence_loader does (lat/lon, count or radius; no altitude)."""
    cmd = it.command
    if cmd not in FENCE_COMMANDS:
        return M.MAV_MISSION_UNSUPPORTED, None
    if _FRAME_TO_STORED.get(it.frame) is None:
        return M.MAV_MISSION_UNSUPPORTED_FRAME, None
    p1 = 0.0
    if cmd in (M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
               M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
        p1 = float(_u(it.params[0], 8))
    elif cmd in (M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION):
        p1 = _f32(it.params[0])
        if p1 <= 0:
            return M.MAV_MISSION_INVALID_PARAM1, None
    return M.MAV_MISSION_ACCEPTED, StoredItem(cmd, M.MAV_FRAME_GLOBAL, param1=p1,
                                              x=it.x, y=it.y, z=0.0, autocontinue=0)


def store_rally_item(it: Incoming) -> tuple[int, StoredItem | None]:
    """Pack a rally point as AP_Rally does (lat/lon, altitude in whole metres)."""
    if it.command != M.MAV_CMD_NAV_RALLY_POINT:
        return M.MAV_MISSION_UNSUPPORTED, None
    frame = _FRAME_TO_STORED.get(it.frame)
    if frame is None:
        return M.MAV_MISSION_UNSUPPORTED_FRAME, None
    return M.MAV_MISSION_ACCEPTED, StoredItem(it.command, frame, x=it.x, y=it.y,
                                              z=float(_s(it.z, 16)), autocontinue=0)


def validate_fence(items: list[StoredItem]) -> str | None:
    """Why a complete fence list is unusable (polygon vertex counts inconsistent), or None."""
    i = 0
    while i < len(items):
        it = items[i]
        if it.command in (M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                          M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
            n = int(it.param1)
            if n < 3:
                return f"fence item {i}: polygon with {n} vertices"
            group = items[i:i + n]
            if len(group) < n or any(g.command != it.command or int(g.param1) != n
                                     for g in group):
                return f"fence item {i}: polygon of {n} vertices is incomplete"
            i += n
        else:
            i += 1
    return None
