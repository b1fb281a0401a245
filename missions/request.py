"""What a planner is asked: one dataclass per kind of flight, plus the options all flights share.

The planners (:func:`~missions.survey.plan_survey`, :func:`~missions.corridor.plan_corridor`,
:func:`~missions.lookout.plan_lookout`, :func:`~missions.lookout.plan_perimeter`) take keyword
arguments; these dataclasses are the same contract written down once, with defaults and
meaning, so a caller (the command line, the demo, a script) fills in fields instead of matching
names against a signature.  ``request.plan(flight)`` runs the planner.

>>> from uav.profiles import get_aircraft
>>> flight = FlightOptions(aircraft=get_aircraft("arducopter-quad"), name="Sector 7")
>>> flight.limits.max_items
650
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

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


def _own_kwargs(request) -> dict:
    return {f.name: getattr(request, f.name) for f in fields(request)}


@dataclass
class SurveyRequest:
    """A photo survey (lawnmower grid) over a sector; see :func:`missions.survey.plan_survey`.

    Exactly one of ``altitude_m`` and ``gsd_m`` (metres per pixel) is given.  ``angle_deg`` is
    the line bearing from true north, or ``"auto"`` (fewest turns).  With ``drones`` > 1 the
    plan is one per drone; ``homes`` gives each its launch point.
    """

    sector: Any
    camera: CameraProfile
    exclusions: list = field(default_factory=list)
    altitude_m: float | None = None
    gsd_m: float | None = None
    front_overlap: float = 0.75
    side_overlap: float = 0.65
    angle_deg: Any = "auto"
    crosshatch: bool = False
    trigger: str = "distance"
    turnaround_m: float | None = None
    drones: int = 1
    homes: list | None = None
    terrain_tolerance_m: float = 5.0

    def plan(self, flight: FlightOptions):
        from .survey import plan_survey

        kw = _own_kwargs(self)
        return plan_survey(kw.pop("sector"), **kw, **flight.planner_kwargs())


@dataclass
class CorridorRequest:
    """An imaging corridor ``width_m`` wide along a route; see :func:`missions.corridor.plan_corridor`."""

    route: Any
    width_m: float
    camera: CameraProfile
    exclusions: list = field(default_factory=list)
    altitude_m: float | None = None
    gsd_m: float | None = None
    front_overlap: float = 0.75
    side_overlap: float = 0.65
    trigger: str = "distance"
    turnaround_m: float | None = None
    terrain_tolerance_m: float = 5.0

    def plan(self, flight: FlightOptions):
        from .corridor import plan_corridor

        kw = _own_kwargs(self)
        return plan_corridor(kw.pop("route"), **kw, **flight.planner_kwargs())


@dataclass
class LookoutRequest:
    """Watch each point (lon, lat[, name]) for ``time_s``, orbiting at ``radius_m`` (0 = hover);
    see :func:`missions.lookout.plan_lookout`."""

    points: list
    altitude_m: float
    radius_m: float = 0.0
    time_s: float = 60.0
    camera: CameraProfile | None = None
    exclusions: list = field(default_factory=list)
    sector: Any = None
    order: str = "nearest"

    def plan(self, flight: FlightOptions):
        from .lookout import plan_lookout

        kw = _own_kwargs(self)
        return plan_lookout(kw.pop("points"), **kw, **flight.planner_kwargs())


@dataclass
class PerimeterRequest:
    """Patrol a sector's boundary ``inset_m`` inside it, ``laps`` times; see
    :func:`missions.lookout.plan_perimeter`."""

    sector: Any
    inset_m: float
    altitude_m: float
    laps: int = 1
    camera: CameraProfile | None = None
    exclusions: list = field(default_factory=list)

    def plan(self, flight: FlightOptions):
        from .lookout import plan_perimeter

        kw = _own_kwargs(self)
        return plan_perimeter(kw.pop("sector"), **kw, **flight.planner_kwargs())


__all__ = ["CorridorRequest", "FlightOptions", "LookoutRequest", "PerimeterRequest", "SurveyRequest"]
