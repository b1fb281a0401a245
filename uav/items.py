"""Mission items: what a plan becomes before it goes over the link.

This is the boundary type between ``missions`` (which makes items) and ``uav.link`` (which sends
them).  An item carries the seven MAVLink parameters in QGroundControl's naming: ``param1..4``
plus ``lat``/``lon``/``alt`` for params 5-7 (x, y, z).  For commands that are not positions,
``lat``/``lon``/``alt`` simply hold params 5-7.

ArduPilot conventions: the mission list starts with the home position at seq 0; fence and
rally lists have no home.  MAVLink and ``.plan`` files are lat,lon; this module keeps the names
explicit so nobody swaps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum

from pymavlink.dialects.v20 import ardupilotmega as mavlink


class MissionType(IntEnum):
    """MAV_MISSION_TYPE."""

    MISSION = mavlink.MAV_MISSION_TYPE_MISSION
    FENCE = mavlink.MAV_MISSION_TYPE_FENCE
    RALLY = mavlink.MAV_MISSION_TYPE_RALLY

    @property
    def label(self) -> str:
        return self.name.lower()


class Frame(IntEnum):
    """The MAV_FRAME values a plan uses."""

    GLOBAL = mavlink.MAV_FRAME_GLOBAL                      # altitude AMSL
    MISSION = mavlink.MAV_FRAME_MISSION                    # not a position
    GLOBAL_RELATIVE_ALT = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT  # altitude above home
    GLOBAL_TERRAIN_ALT = mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT    # altitude above terrain
    GLOBAL_INT = mavlink.MAV_FRAME_GLOBAL_INT
    GLOBAL_RELATIVE_ALT_INT = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    GLOBAL_TERRAIN_ALT_INT = mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT


# The _INT frames and their float twins; ArduPilot stores the float one and answers with it.
INT_FRAME_TO_FLOAT = {
    Frame.GLOBAL_INT: Frame.GLOBAL,
    Frame.GLOBAL_RELATIVE_ALT_INT: Frame.GLOBAL_RELATIVE_ALT,
    Frame.GLOBAL_TERRAIN_ALT_INT: Frame.GLOBAL_TERRAIN_ALT,
}


def float_frame(frame: int) -> int:
    """The frame number ArduPilot stores and answers with: 6 -> 3, 5 -> 0, 11 -> 10, others as is."""
    return int(INT_FRAME_TO_FLOAT.get(int(frame), frame))


class Cmd(IntEnum):
    """The MAV_CMD values the project plans and flies."""

    NAV_WAYPOINT = mavlink.MAV_CMD_NAV_WAYPOINT
    NAV_LOITER_UNLIM = mavlink.MAV_CMD_NAV_LOITER_UNLIM
    NAV_LOITER_TURNS = mavlink.MAV_CMD_NAV_LOITER_TURNS
    NAV_LOITER_TIME = mavlink.MAV_CMD_NAV_LOITER_TIME
    NAV_RETURN_TO_LAUNCH = mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH
    NAV_LAND = mavlink.MAV_CMD_NAV_LAND
    NAV_TAKEOFF = mavlink.MAV_CMD_NAV_TAKEOFF
    DO_JUMP = mavlink.MAV_CMD_DO_JUMP
    DO_CHANGE_SPEED = mavlink.MAV_CMD_DO_CHANGE_SPEED
    DO_SET_CAM_TRIGG_DIST = mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST
    DO_DIGICAM_CONTROL = mavlink.MAV_CMD_DO_DIGICAM_CONTROL
    IMAGE_START_CAPTURE = mavlink.MAV_CMD_IMAGE_START_CAPTURE
    NAV_FENCE_RETURN_POINT = mavlink.MAV_CMD_NAV_FENCE_RETURN_POINT
    NAV_FENCE_POLYGON_VERTEX_INCLUSION = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
    NAV_FENCE_POLYGON_VERTEX_EXCLUSION = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
    NAV_FENCE_CIRCLE_INCLUSION = mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
    NAV_FENCE_CIRCLE_EXCLUSION = mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION
    NAV_RALLY_POINT = mavlink.MAV_CMD_NAV_RALLY_POINT


# Commands whose params 5-7 are a position (lat, lon, alt).
POSITION_COMMANDS = frozenset({
    Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_UNLIM, Cmd.NAV_LOITER_TURNS, Cmd.NAV_LOITER_TIME,
    Cmd.NAV_LAND, Cmd.NAV_TAKEOFF, Cmd.NAV_FENCE_RETURN_POINT,
    Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
    Cmd.NAV_FENCE_CIRCLE_INCLUSION, Cmd.NAV_FENCE_CIRCLE_EXCLUSION, Cmd.NAV_RALLY_POINT,
})


def command_name(command: int) -> str:
    """``MAV_CMD_NAV_WAYPOINT`` for 16; the number itself for unknown commands."""
    entry = mavlink.enums["MAV_CMD"].get(int(command))
    return entry.name if entry is not None else str(int(command))


@dataclass(frozen=True)
class MissionItem:
    """One MAVLink mission item (MISSION_ITEM_INT without seq/target ids)."""

    command: int
    frame: int = Frame.GLOBAL_RELATIVE_ALT_INT
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    lat: float = 0.0  # param5 / x, degrees for positions
    lon: float = 0.0  # param6 / y, degrees for positions
    alt: float = 0.0  # param7 / z, metres for positions
    autocontinue: bool = True
    mission_type: int = MissionType.MISSION

    @property
    def is_position(self) -> bool:
        return self.command in POSITION_COMMANDS

    @property
    def params(self) -> tuple[float, float, float, float, float, float, float]:
        return (self.param1, self.param2, self.param3, self.param4, self.lat, self.lon, self.alt)

    def describe(self) -> str:
        name = command_name(self.command).removeprefix("MAV_CMD_")
        if self.is_position:
            return f"{name} at {self.lat:.7f},{self.lon:.7f} alt {self.alt:.1f} m"
        return f"{name} ({', '.join(f'{p:g}' for p in self.params[:4])})"

    def with_(self, **changes) -> MissionItem:
        return replace(self, **changes)


@dataclass(frozen=True)
class Home:
    lat: float
    lon: float
    alt_amsl: float = 0.0

    def as_item(self) -> MissionItem:
        """ArduPilot's seq-0 home item: NAV_WAYPOINT, frame GLOBAL, absolute altitude."""
        return MissionItem(Cmd.NAV_WAYPOINT, Frame.GLOBAL, lat=self.lat, lon=self.lon,
                           alt=self.alt_amsl)


@dataclass
class Mission:
    """Everything one sortie puts on a vehicle: mission, geofence and rally points.

    ``items`` starts with home at index 0 (ArduPilot's seq 0); ``fence`` and ``rally`` hold
    items of mission type FENCE and RALLY.
    """

    items: list[MissionItem] = field(default_factory=list)
    fence: list[MissionItem] = field(default_factory=list)
    rally: list[MissionItem] = field(default_factory=list)
    name: str = ""

    @property
    def home(self) -> Home | None:
        if not self.items:
            return None
        h = self.items[0]
        return Home(h.lat, h.lon, h.alt)

    def of_type(self, mission_type: MissionType) -> list[MissionItem]:
        return {MissionType.MISSION: self.items, MissionType.FENCE: self.fence,
                MissionType.RALLY: self.rally}[MissionType(mission_type)]
