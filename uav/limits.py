"""What a vehicle can store: the limits a plan is cut and checked against.

Defined once here; the planners, the validator, ``uav plan`` and the built-in copter read them.
"""

from __future__ import annotations

from dataclasses import dataclass

ARDUPILOT_MAX_ITEMS = 650        # mission items ArduPilot 4.7 SITL stores (home included)
# ArduCopter keeps fences in a storage area of its own, apart from the mission: 560 bytes on
# boards with 16 KB or more of parameter storage (48 + 256 + 256 in StorageManager's copter
# layout), at 8 bytes a polygon point plus 2 a polygon and 5 of header and end marker.  60
# points leave room for ten polygons' headers.  Boards that keep the fence on the SD card
# (BRD_SD_FENCE) take far more: raise the limit for them.
ARDUPILOT_MAX_FENCE_POINTS = 60


@dataclass(frozen=True)
class VehicleLimits:
    """A vehicle's mission and fence storage.

    Parameters
    ----------
    max_items : int
        Mission items the vehicle stores, home included; longer sorties are cut to fit.
    max_fence_points : int or None
        Fence storage in points (vertices and circle centres); ``None`` = do not check (a fence
        kept on the SD card, ``BRD_SD_FENCE``).
    """

    max_items: int = ARDUPILOT_MAX_ITEMS
    max_fence_points: int | None = ARDUPILOT_MAX_FENCE_POINTS

    @classmethod
    def of_settings(cls, settings: dict | None) -> VehicleLimits:
        """The limits a plan was made for (recorded in its settings), else ArduPilot's."""
        settings = settings or {}
        points = settings.get("max_fence_points", ARDUPILOT_MAX_FENCE_POINTS)
        return cls(int(settings.get("max_items") or ARDUPILOT_MAX_ITEMS),
                   None if points is None else int(points))


ARDUPILOT = VehicleLimits()  # ArduPilot 4.7 (SITL) with the fence in on-board storage


__all__ = ["ARDUPILOT", "ARDUPILOT_MAX_FENCE_POINTS", "ARDUPILOT_MAX_ITEMS", "VehicleLimits"]
