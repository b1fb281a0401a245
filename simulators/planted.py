"""Objects planted in a simulated scene on purpose, for detection to find.

Conventions: positions are ``lon, lat`` (degrees); headings are compass bearings (degrees
clockwise from true north).  A vehicle's heading is where its front points; a smoke plume's
heading is the downwind direction it drifts towards (its source is at ``lon, lat``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from uav.errors import InvalidInputError

KINDS = ("fire", "smoke", "vehicle")


@dataclass(frozen=True)
class PlantedObject:
    """Something placed in the scene on purpose, for detection to find.

    Parameters
    ----------
    id : str
        Unique name within the scene (``"fire-1"``).
    kind : {"fire", "smoke", "vehicle"}
    lon, lat : float
        Position in degrees (a plume's source).
    size_m : float
        Fire: diameter of the burning patch; smoke: plume length downwind; vehicle: length
        (a car is ~4.5 m; 6 m or more draws a truck).
    heading_deg : float
        Vehicle: where its front points; smoke: downwind direction; fire: unused.
    """

    id: str
    kind: str
    lon: float
    lat: float
    size_m: float
    heading_deg: float = 0.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InvalidInputError(
                f"planted object {self.id!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not (-180.0 <= self.lon <= 180.0 and -90.0 <= self.lat <= 90.0):
            raise InvalidInputError(
                f"planted object {self.id!r}: not a lon/lat position: lon={self.lon}, lat={self.lat}")
        if not (math.isfinite(self.size_m) and self.size_m > 0):
            raise InvalidInputError(
                f"planted object {self.id!r}: size_m must be a positive number of metres, got {self.size_m!r}")
        if self.size_m > 500:
            raise InvalidInputError(
                f"planted object {self.id!r}: size_m={self.size_m} m is not a {self.kind} (limit 500 m)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PlantedObject:
        try:
            return cls(id=str(data["id"]), kind=str(data["kind"]), lon=float(data["lon"]),
                       lat=float(data["lat"]), size_m=float(data["size_m"]),
                       heading_deg=float(data.get("heading_deg", 0.0)))
        except KeyError as exc:
            raise InvalidInputError(f"planted object {data!r} lacks field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"planted object {data!r}: {exc}") from None


@dataclass
class Sprite:
    """An object's appearance: premultiplied BGR + alpha, and where it sits on the ground.

    ``rgba`` is float32 (H, W, 4): channels 0-2 are colour already multiplied by alpha (0-255),
    channel 3 is alpha (0-1).  ``to_ground`` maps sprite pixel coordinates (OpenCV convention:
    integer = pixel centre) to UTM metres of the scene's local frame.
    """

    rgba: np.ndarray
    res_m: float
    to_ground: np.ndarray
    footprint_local: np.ndarray  # (N, 2) metres (right, forward) around the object's anchor


__all__ = ["KINDS", "PlantedObject", "Sprite"]
