"""The plan: what the planner produces and the mission files store.

A :class:`Plan` holds one or more sorties; each sortie is a :class:`uav.items.Mission` ready for
the link (home at seq 0, fence and rally included).  Everything else here is for people: the
statistics ``uav plan show`` prints and the geometry that KML/GeoJSON exports draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from uav.items import Mission, MissionItem
from uav.profiles import AircraftProfile, CameraProfile


class AltitudeMode(str, Enum):
    RELATIVE = "relative"  # above home (MAV_FRAME_GLOBAL_RELATIVE_ALT_INT)
    AMSL = "amsl"          # above mean sea level (MAV_FRAME_GLOBAL_INT)
    TERRAIN = "terrain"    # terrain-following from a DEM, written as AMSL or relative per item


class PlanKind(str, Enum):
    SURVEY = "survey"
    CORRIDOR = "corridor"
    LOOKOUT = "lookout"
    PERIMETER = "perimeter"
    IMPORTED = "imported"  # read from a file another tool made (QGroundControl, Mission Planner)


@dataclass
class PlanStats:
    """Figures for the ranger; ``None`` where they do not apply (no camera, no area)."""

    area_m2: float | None = None          # area to image (sector minus exclusions)
    distance_m: float = 0.0               # total flight distance, all sorties, incl. transits
    flight_time_s: float = 0.0            # total estimated flight time, all sorties
    photo_count: int = 0
    gsd_m: float | None = None
    line_spacing_m: float | None = None
    trigger_distance_m: float | None = None
    altitude_m: float | None = None
    grid_angle_deg: float | None = None
    transect_count: int = 0
    sortie_count: int = 1
    sortie_times_s: list[float] = field(default_factory=list)
    sortie_distances_m: list[float] = field(default_factory=list)


@dataclass
class Plan:
    """A planned flight: sorties of mission items, plus what it was planned from.

    ``legs`` are the imaging legs as lists of (lon, lat) pairs, for display and checks;
    ``sector`` and ``exclusions`` are the input areas as GeoJSON-like geometry dicts (lon, lat).
    ``settings`` records the planner inputs so a plan can be explained and reproduced.
    """

    kind: PlanKind
    sorties: list[Mission]
    altitude_mode: AltitudeMode = AltitudeMode.RELATIVE
    camera: CameraProfile | None = None
    aircraft: AircraftProfile | None = None
    stats: PlanStats = field(default_factory=PlanStats)
    legs: list[list[tuple[float, float]]] = field(default_factory=list)
    sector: dict | None = None
    exclusions: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    name: str = ""

    @property
    def mission(self) -> Mission:
        """The first sortie: what a one-sortie tool (QGroundControl) shows."""
        return self.sorties[0]

    @property
    def fence(self) -> list[MissionItem]:
        return self.sorties[0].fence if self.sorties else []

    @property
    def rally(self) -> list[MissionItem]:
        return self.sorties[0].rally if self.sorties else []
