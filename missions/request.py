"""What a planner is asked: one dataclass per kind of flight, plus the options all flights share.

The planners (:func:`~missions.survey.plan_survey`, :func:`~missions.corridor.plan_corridor`,
:func:`~missions.lookout.plan_lookout`, :func:`~missions.lookout.plan_perimeter`) take keyword
arguments; these dataclasses are the same contract written down once, with defaults and
meaning, so a caller (the command line, the demo, a script) fills in fields instead of matching
names against a signature.  ``request.plan(flight)`` runs the planner::

    plan = SurveyRequest(sector, ImagingOptions(camera, altitude_m=100)).plan(FlightOptions(aircraft))

>>> from uav.profiles import get_aircraft
>>> flight = FlightOptions(aircraft=get_aircraft("arducopter-quad"), name="Sector 7")
>>> flight.limits.max_items
650
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from uav.limits import ARDUPILOT, VehicleLimits
from uav.profiles import AircraftProfile, CameraProfile

from .assemble import DEFAULT_FENCE_MARGIN_M


@dataclass
class FlightOptions:
    """How any planned flight is flown: what every planner takes besides its own shape.

    Parameters
    ----------
    aircraft : AircraftProfile
    home : (lat, lon), optional
        Launch point; default inside the area near its centre (a lookout: the first point).
    home_alt_amsl : float
        Ground elevation at home (from the DEM when one is given).
    altitude_mode : {"relative", "amsl", "terrain"}
        Frame of the waypoint altitudes.
    dem_path : path, optional
        DEM GeoTIFF for terrain following and the home elevation.
    terrain_follow : bool
        Hold the height above ground (needs ``dem_path``).
    speed_ms : float, optional
        Flight speed; default the aircraft's cruise speed.
    fence_buffer_m : float
        The inclusion fence lies this far outside the area.
    fence_margin_m : float
        How far paths keep from every fence.
    rally_points : sequence of (lat, lon[, alt]), optional
        Rally (safe landing) points: where RTL may land the aircraft instead of home.
    limits : VehicleLimits
        The vehicle's mission and fence storage.
    name : str
        Plan name shown in QGroundControl and Google Earth.
    validate : bool
        Check the plan before returning it (raise on any broken rule).
    """

    aircraft: AircraftProfile
    home: tuple[float, float] | None = None
    home_alt_amsl: float = 0.0
    altitude_mode: str = "relative"
    dem_path: Any = None
    terrain_follow: bool = False
    speed_ms: float | None = None
    fence_buffer_m: float = 50.0
    fence_margin_m: float = DEFAULT_FENCE_MARGIN_M
    rally_points: list | None = None
    limits: VehicleLimits = ARDUPILOT
    name: str = ""
    validate: bool = True

    def planner_kwargs(self) -> dict:
        """These options as the planners' keyword arguments."""
        kw = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "limits"}
        kw["max_items"] = self.limits.max_items
        kw["max_fence_points"] = self.limits.max_fence_points
        return kw


class _Request:
    """``plan(flight)`` for the request dataclasses: fields, flattened, become the planner's
    keyword arguments (the first field its positional argument)."""

    _PLANNER: ClassVar[tuple[str, str]]

    def plan(self, flight: FlightOptions):
        """Run the planner: a :class:`~missions.model.Plan` (a list of them for several drones)."""
        module, name = self._PLANNER
        planner = getattr(importlib.import_module(module, __package__), name)
        kw = {}
        for f in fields(self):
            value = getattr(self, f.name)
            kw.update(_fields(value) if isinstance(value, ImagingOptions) else {f.name: value})
        first = kw.pop(fields(self)[0].name)
        return planner(first, **kw, **flight.planner_kwargs())


def _fields(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


@dataclass
class ImagingOptions:
    """The camera and how it images, for flights that photograph an area (survey, corridor).

    Exactly one of ``altitude_m`` and ``gsd_m`` (metres per pixel) is given; overlaps are
    fractions (0.75 = 75 %); ``trigger`` is ``"distance"``, ``"hover"`` or ``"none"``;
    ``turnaround_m`` defaults to the distance the aircraft needs to reach speed.
    """

    camera: CameraProfile
    altitude_m: float | None = None
    gsd_m: float | None = None
    front_overlap: float = 0.75
    side_overlap: float = 0.65
    trigger: str = "distance"
    turnaround_m: float | None = None
    terrain_tolerance_m: float = 5.0


@dataclass
class SurveyRequest(_Request):
    """A photo survey (lawnmower grid) over a sector; see :func:`missions.survey.plan_survey`.

    ``angle_deg`` is the line bearing from true north, or ``"auto"`` (fewest turns).  With
    ``drones`` > 1 the plan is one per drone; ``homes`` gives each its launch point.
    """

    _PLANNER = (".survey", "plan_survey")
    sector: Any
    imaging: ImagingOptions
    exclusions: list = field(default_factory=list)
    angle_deg: Any = "auto"
    crosshatch: bool = False
    drones: int = 1
    homes: list | None = None


@dataclass
class CorridorRequest(_Request):
    """An imaging corridor ``width_m`` wide along a route; see :func:`missions.corridor.plan_corridor`."""

    _PLANNER = (".corridor", "plan_corridor")
    route: Any
    width_m: float
    imaging: ImagingOptions
    exclusions: list = field(default_factory=list)


@dataclass
class LookoutRequest(_Request):
    """Watch each point (lon, lat[, name]) for ``time_s``, orbiting at ``radius_m`` (0 = hover);
    see :func:`missions.lookout.plan_lookout`."""

    _PLANNER = (".lookout", "plan_lookout")
    points: list
    altitude_m: float
    radius_m: float = 0.0
    time_s: float = 60.0
    camera: CameraProfile | None = None
    exclusions: list = field(default_factory=list)
    sector: Any = None
    order: str = "nearest"


@dataclass
class PerimeterRequest(_Request):
    """Patrol a sector's boundary ``inset_m`` inside it, ``laps`` times; see
    :func:`missions.lookout.plan_perimeter`."""

    _PLANNER = (".lookout", "plan_perimeter")
    sector: Any
    inset_m: float
    altitude_m: float
    laps: int = 1
    camera: CameraProfile | None = None
    exclusions: list = field(default_factory=list)


__all__ = ["CorridorRequest", "FlightOptions", "ImagingOptions", "LookoutRequest", "PerimeterRequest",
           "SurveyRequest"]
