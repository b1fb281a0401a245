"""Shared planning steps: area preparation, home, fence, sorties and the final :class:`Plan`.

The survey, corridor, lookout and perimeter planners all end the same way: ordered legs in
the metric frame become sorties (home → legs → home, routed inside the flight area, cut to the
battery and to the vehicle's item storage), the fence and rally items are attached, the
statistics are filled in and the plan is validated before it leaves the planner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Point, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from uav.errors import InvalidSectorError, PlanningError
from uav.geo import LocalFrame, geodesic_area_m2
from uav.items import Mission
from uav.limits import ARDUPILOT, VehicleLimits
from uav.profiles import AircraftProfile, CameraProfile

from .fence import FenceGeometry, fence_items, rally_items
from .geometry import INSIDE_TOLERANCE_M, Router, path_length, polygonal, polygons_of
from .imaging import NO_PHOTOS, Shutter
from .items_builder import (
    BuiltSortie,
    FlightSettings,
    Leg,
    Vertex,
    build_sortie,
    count_items,
    leg_vertices,
)
from .model import AltitudeMode, Plan, PlanKind, PlanStats
from .sorties import split_sorties
from .terrain import Dem

DEFAULT_FENCE_MARGIN_M = 10.0
def _union(geoms) -> BaseGeometry | None:
    geoms = [g for g in (geoms or ()) if g is not None and not g.is_empty]
    return shapely.union_all(geoms) if geoms else None


@dataclass
class Area:
    """The input areas in the metric frame."""

    frame: LocalFrame
    sector_ll: BaseGeometry
    exclusions_ll: list
    sector_m: BaseGeometry
    exclusions_m: BaseGeometry | None
    allowed_m: BaseGeometry


def prepare_area(sector_ll: BaseGeometry, exclusions_ll=()) -> Area:
    """Project a lon/lat sector and exclusion zones and compute sector minus exclusions.

    Parameters
    ----------
    sector_ll : shapely Polygon or MultiPolygon
        The area, WGS84 lon/lat.
    exclusions_ll : sequence of shapely polygons
        No-fly zones, lon/lat.

    Returns
    -------
    Area
        Everything in the UTM zone of the sector (``frame``), and ``allowed_m`` to image.

    Raises
    ------
    InvalidSectorError
        An empty, non-polygon or invalid sector, or an exclusion zone that is not a polygon.
    PlanningError
        The exclusion zones cover the whole sector.
    """
    if sector_ll is None or sector_ll.is_empty:
        raise InvalidSectorError("the sector is empty")
    if not polygons_of(sector_ll):
        raise InvalidSectorError(f"the sector must be a polygon, got a {sector_ll.geom_type}")
    if not sector_ll.is_valid:
        raise InvalidSectorError(f"the sector polygon is invalid: {shapely.is_valid_reason(sector_ll)}")
    frame = LocalFrame.for_geometry(sector_ll)
    sector_m = polygonal(frame.geom_to_metric(sector_ll))
    excl = [e for e in (exclusions_ll or ()) if e is not None and not e.is_empty]
    for i, e in enumerate(excl):
        if not polygons_of(e):
            raise InvalidSectorError(f"exclusion zone {i + 1} must be a polygon, got a {e.geom_type}")
    excl_m = _union([frame.geom_to_metric(e).buffer(0) for e in excl])
    allowed = sector_m if excl_m is None else polygonal(sector_m.difference(excl_m))
    if allowed.is_empty or allowed.area < 1.0:
        raise PlanningError("nothing left to fly: the exclusion zones cover the whole sector")
    return Area(frame, sector_ll, excl, sector_m, excl_m, allowed)


def default_home_xy(area: Area, inset_m: float) -> np.ndarray:
    """A launch point inside the allowed area, as near its centroid as possible."""
    c = area.sector_m.centroid
    inner = polygonal(area.allowed_m.buffer(-inset_m))
    target = inner if not inner.is_empty else area.allowed_m
    if target.covers(c):
        return np.array([c.x, c.y])
    p = shapely.ops.nearest_points(target, c)[0]
    return np.array([p.x, p.y])


def home_position(home, area_frame: LocalFrame) -> tuple[tuple[float, float], np.ndarray]:
    lat, lon = float(home[0]), float(home[1])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PlanningError(f"home ({home[0]}, {home[1]}) is not a latitude,longitude pair")
    x, y = area_frame.to_metric(lon, lat)
    return (lat, lon), np.array([float(x), float(y)])


@dataclass
class Planner:
    """The sortie machinery shared by every plan kind (metric frame); made by :func:`make_planner`."""

    frame: LocalFrame
    aircraft: AircraftProfile
    camera: CameraProfile | None
    fence: FenceGeometry
    router: Router
    settings: FlightSettings
    trigger: str = "distance"
    trigger_distance_m: float | None = None
    hover_s: float = 0.0
    rally: list = field(default_factory=list)
    limits: VehicleLimits = ARDUPILOT
    _home_routes: dict = field(default_factory=dict)

    @property
    def max_items(self) -> int:
        return self.limits.max_items

    @property
    def max_fence_points(self) -> int | None:
        return self.limits.max_fence_points

    # --- paths ---------------------------------------------------------------------
    def link(self, a, b) -> np.ndarray:
        """A transit from ``a`` to ``b`` inside the flight area (endpoints included)."""
        return self.router.route(a, b)

    def links(self, legs: list[Leg]) -> list[np.ndarray]:
        """Transits between consecutive legs; straight where possible (checked at once)."""
        if len(legs) < 2:
            return []
        a = np.array([leg.exit for leg in legs[:-1]])
        b = np.array([leg.entry for leg in legs[1:]])
        ok = self.router.covers(a, b)
        out = []
        for k in range(len(legs) - 1):
            if ok[k] or np.allclose(a[k], b[k]):
                out.append(np.vstack([a[k], b[k]]))
            else:
                out.append(self.link(a[k], b[k]))
        return out

    def _from_home(self, p) -> np.ndarray:
        key = ("out", float(p[0]), float(p[1]))
        if key not in self._home_routes:
            self._home_routes[key] = self.link(self.settings.home_xy, p)
        return self._home_routes[key]

    def _to_home(self, p) -> np.ndarray:
        key = ("back", float(p[0]), float(p[1]))
        if key not in self._home_routes:
            self._home_routes[key] = self.link(p, self.settings.home_xy)
        return self._home_routes[key]

    def sortie_vertices(self, legs: list[Leg], links: list[np.ndarray], i: int, j: int) -> list[Vertex]:
        verts = [Vertex(*p) for p in self._from_home(legs[i].entry)[1:-1]]
        for k in range(i, j + 1):
            leg = legs[k]
            if k > i:
                verts += [Vertex(*p) for p in links[k - 1][1:-1]]
            cam_on = not (leg.continues and k > i)
            cam_off = not (k < j and legs[k + 1].continues)
            lv = leg_vertices(leg, trigger=self.trigger, trigger_distance_m=self.trigger_distance_m,
                              hover_s=self.hover_s, cam_on=cam_on, cam_off=cam_off, speeds=self._speeds)
            if k > i and leg.continues and verts and lv and np.allclose((verts[-1].x, verts[-1].y), (lv[0].x, lv[0].y)):
                lv = lv[1:]  # the piece starts where the previous one ended
            verts += lv
        verts += [Vertex(*p) for p in self._to_home(legs[j].exit)[1:-1]]
        return verts

    @property
    def _speeds(self) -> tuple[float, float]:
        return (self.settings.speed_ms, self.settings.transit_ms)

    # --- sorties -------------------------------------------------------------------
    def fit_legs(self, legs: list[Leg]) -> list[Leg]:
        """Cut a leg no battery can fly in one go, given how far from home it lies.

        A leg is left alone unless even the optimistic estimate of home → leg → home (straight
        transits, no turns) is over the battery: such a leg can never be flown whole.  It is cut
        greedily from its start: each piece is the longest whose transit out (to its start),
        imaging and transit back (from its end), plus climb and descent, fit 95 % of the usable
        endurance (the rest for turns and detours; :meth:`make_sorties` checks exactly).
        Straight transits are assumed; a piece that cannot be flown at all is left for
        :meth:`make_sorties` to report with its place.
        """
        s, ac = self.settings, self.aircraft
        v, vt = s.speed_ms, s.transit_ms
        alt = s.altitude_m
        fixed = alt / ac.climb_rate_ms + alt / ac.descent_rate_ms + 2 * vt / ac.acceleration_ms2
        budget = ac.usable_endurance_s - fixed
        target = 0.95 * ac.usable_endurance_s - fixed
        out: list[Leg] = []
        for leg in legs:
            length = leg.length_m
            cost = (np.hypot(*(leg.entry - s.home_xy)) + np.hypot(*(leg.exit - s.home_xy))) / vt + length / v
            if cost <= budget or length < 100.0:
                out.append(leg)
                continue
            line = LineString(leg.xy)
            at = np.linspace(0.0, length, max(2, int(length // 10.0) + 1))  # every ~10 m
            pts = np.asarray([line.interpolate(a).coords[0] for a in at])[:, :2]
            d = np.hypot(*(pts - s.home_xy).T)
            cuts, i0 = [0.0], 0
            while i0 < len(at) - 1:
                c = d[i0] / vt + (at - at[i0]) / v + d / vt
                ok = np.flatnonzero(c[i0 + 1:] <= target)
                if len(ok) == 0:
                    break  # not even a short piece fits from here: left for the report
                j = i0 + 1 + int(ok[-1])
                if j == len(at) - 1:
                    break
                cuts.append(float(at[j]))
                i0 = j
            cuts.append(length)
            if len(cuts) == 2:
                out.append(leg)
                continue
            for k in range(len(cuts) - 1):
                piece = substring(line, cuts[k], cuts[k + 1])
                out.append(Leg(np.asarray(piece.coords)[:, :2], line=leg.line,
                               lead_in=leg.lead_in if k == 0 else None,
                               lead_out=leg.lead_out if k == len(cuts) - 2 else None,
                               continues=leg.continues or k > 0))
        return out

    def make_sorties(self, legs: list[Leg], links: list[np.ndarray]) -> tuple[list[BuiltSortie], list]:
        """Cut ordered legs into sorties that each fit the battery and the item storage."""
        s = self.settings
        v, acc = s.speed_ms, self.aircraft.acceleration_ms2
        vt = s.transit_ms
        # Sorties are cut on battery charge (the aircraft's energy model), counted as seconds
        # of level flight at cruise speed that cost the same: the budget is then the usable
        # endurance and the splitter's messages read in minutes.
        energy = self.aircraft.energy
        p_cruise = float(energy.level_power_w(self.aircraft.cruise_speed_ms))

        def cruise_s(t, speed, climb=0.0):
            return t * float(energy.power_w(speed, climb)) / p_cruise

        budget = self.aircraft.usable_endurance_s
        leg_t = [cruise_s(path_length(np.vstack([leg.entry, leg.xy, leg.exit])) / v + v / acc, v)
                 + cruise_s(self.hover_s * (path_length(leg.xy) / self.trigger_distance_m + 1
                                            if self.trigger == "hover" and self.trigger_distance_m else 0), 0.0)
                 for leg in legs]
        link_t = [cruise_s(path_length(p) / vt, vt) for p in links]
        leg_items = [count_items(leg_vertices(leg, trigger=self.trigger,
                                              trigger_distance_m=self.trigger_distance_m,
                                              hover_s=self.hover_s, speeds=self._speeds))
                     + (len(links[k]) - 2 if k < len(links) else 0)
                     for k, leg in enumerate(legs)]
        alt = s.altitude_m
        ac = self.aircraft
        vertical = (cruise_s(alt / ac.climb_rate_ms, 0.0, ac.climb_rate_ms)
                    + cruise_s(alt / ac.descent_rate_ms, 0.0, -ac.descent_rate_ms) + cruise_s(vt / acc, vt))

        def overhead(i, j):
            return (vertical + cruise_s(np.hypot(*(legs[i].entry - s.home_xy)) / vt, vt)
                    + cruise_s(np.hypot(*(legs[j].exit - s.home_xy)) / vt, vt))

        cache: dict[tuple[int, int], BuiltSortie] = {}

        def exact(i, j):
            b = build_sortie(self.sortie_vertices(legs, links, i, j), s)
            cache[(i, j)] = b
            return b.estimate.energy_wh * 3600.0 / p_cruise, len(b.items)

        def describe(i):
            x, y = legs[i].entry
            lon, lat = self.frame.to_lonlat(float(x), float(y))
            far = float(np.hypot(*(legs[i].entry - s.home_xy)))
            return (f"the flight line starting at {lat:.5f},{lon:.5f} ({far / 1000:.1f} km from home, "
                    f"{path_length(legs[i].xy) / 1000:.1f} km long, flown at {v:g} m/s)")

        ranges = split_sorties(leg_t, link_t, budget_s=budget, overhead_s=overhead, exact=exact,
                               leg_items=leg_items, item_budget=self.max_items - 4, describe=describe)
        return [cache[r] for r in ranges], ranges

    def missions(self, built: list[BuiltSortie], name: str) -> list[Mission]:
        fence = fence_items(self.fence, self.frame)
        out = []
        for n, b in enumerate(built):
            label = f"{name} sortie {n + 1}/{len(built)}" if len(built) > 1 else name
            out.append(Mission(items=b.items, fence=list(fence), rally=list(self.rally), name=label.strip()))
        return out


def make_planner(settings: FlightSettings, *, fence: FenceGeometry, margin_m: float,
                 camera: CameraProfile | None = None, shutter: Shutter = NO_PHOTOS,
                 limits: VehicleLimits = ARDUPILOT, rally_points=None) -> Planner:
    """The sortie machinery for one flight: routing inside the fence, sorties, items.

    Parameters
    ----------
    settings : FlightSettings
        The metric frame, aircraft, home (lat/lon and metric), home elevation, height, speeds,
        altitude mode and DEM: everything that turns a path into mission items.
    fence : FenceGeometry
        The inclusion and exclusion fences (metric) the flight must keep inside/outside.
    margin_m : float
        How far every path keeps from every fence.
    camera : CameraProfile, optional
        Recorded in the plan (and used for GSD figures).
    shutter : Shutter
        When photos are taken along the imaging legs.
    limits : VehicleLimits
        Mission and fence storage of the vehicle; sorties are cut to fit.
    rally_points : sequence of (lat, lon[, alt]), optional
        Rally (safe landing) points, carried by every sortie.

    Returns
    -------
    Planner

    Raises
    ------
    PlanningError
        The fence leaves no room to fly, or home is outside it (or in an exclusion zone).
    """
    home_latlon, home_xy = settings.home_latlon, settings.home_xy
    flight_area = fence.flight_area(margin_m)
    if flight_area.is_empty:
        raise PlanningError("the fence leaves no room to fly: lower the fence margin or buffer")
    router = Router(flight_area)
    if not router.contains_point(home_xy):
        where = "inside an exclusion zone" if any(
            e.buffer(margin_m).covers(Point(home_xy)) for e in fence.exclusions) else "outside the fenced area"
        raise PlanningError(f"home {home_latlon[0]:.6f},{home_latlon[1]:.6f} is {where} "
                            f"(or closer than {margin_m:g} m to a fence)")
    rally = rally_items(rally_points, default_alt_m=settings.altitude_m
                        if settings.altitude_mode == AltitudeMode.RELATIVE else 30.0)
    return Planner(settings.frame, settings.aircraft, camera, fence, router, settings, shutter.trigger,
                   shutter.distance_m, shutter.hover_s, rally, limits)


def resolve_mode(altitude_mode, dem_path, terrain_follow) -> tuple[AltitudeMode, Dem | None]:
    """The altitude frame of the waypoints and the DEM it needs.

    Parameters
    ----------
    altitude_mode : {"relative", "amsl", "terrain"}
    dem_path : path or None
        DEM GeoTIFF, loaded when given (also for the home elevation).
    terrain_follow : bool
        Forces ``"terrain"``.

    Returns
    -------
    (AltitudeMode, Dem or None)

    Raises
    ------
    PlanningError
        An unknown mode, terrain following without a DEM, or a DEM that cannot be read.
    """
    try:
        mode = AltitudeMode(altitude_mode)
    except ValueError:
        raise PlanningError(f"altitude mode must be one of relative, amsl, terrain; got {altitude_mode!r}") from None
    if terrain_follow:
        mode = AltitudeMode.TERRAIN
    dem = Dem(dem_path) if dem_path else None
    if mode == AltitudeMode.TERRAIN and dem is None:
        raise PlanningError("terrain-following needs a DEM GeoTIFF (dem_path / --dem)")
    return mode, dem


def resolve_home(home, area: Area, margin_m: float, fence_buffer_m: float, dem: Dem | None,
                 home_alt_amsl: float):
    """The launch point: as given, or inside the allowed area near the sector's centre.

    Parameters
    ----------
    home : (lat, lon) or None
    area : Area
    margin_m, fence_buffer_m : float
        A default home keeps clear of the fences by these.
    dem : Dem or None
        When given, the home elevation is read from it (else ``home_alt_amsl``).
    home_alt_amsl : float

    Returns
    -------
    ((lat, lon), ndarray, float)
        Home in lat/lon, in the area's metric frame, and its ground elevation (m AMSL).
    """
    if home is None:
        home_xy = default_home_xy(area, inset_m=margin_m + fence_buffer_m / 5.0 + 2 * INSIDE_TOLERANCE_M + 1.0)
        lon, lat = area.frame.to_lonlat(home_xy[0], home_xy[1])
        home_latlon = (float(lat), float(lon))
    else:
        home_latlon, home_xy = home_position(home, area.frame)
    if dem is not None:
        home_alt_amsl = float(dem.sample(home_latlon[1], home_latlon[0])[0])
    return home_latlon, home_xy, float(home_alt_amsl)


def finish_plan(kind: PlanKind, planner: Planner, built: list[BuiltSortie], *, name: str,
                area: Area | None, legs: list[Leg], altitude_m: float, settings: dict,
                stats: PlanStats | None = None, validate: bool = True, margin_m: float = 0.0) -> Plan:
    """The :class:`Plan` every planner returns: sorties with fence and rally, statistics, checks.

    Parameters
    ----------
    kind : PlanKind
    planner : Planner
        The planner that built the sorties (frame, fence, rally, limits).
    built : list of BuiltSortie
        The sorties, in flying order.
    name : str
        Plan name; sorties are named "NAME sortie i/n".
    area : Area or None
        The area imaged (for the area figure and the sector drawn in exports); ``None`` for
        flights that image no area (lookouts).
    legs : list of Leg
        The imaging legs (metric), stored as lon/lat for display and checks.
    altitude_m : float
        Flight height, for the statistics.
    settings : dict
        The planner inputs, recorded so the plan can be explained and reproduced.
    stats : PlanStats, optional
        Figures the planner already knows (GSD, spacing, photos); distances and times are added.
    validate : bool
        Check the plan (:func:`missions.validate.validate_plan`) and raise on any problem.
    margin_m : float
        The fence margin the paths kept, checked (less 0.5 m of rounding) by the validation.

    Returns
    -------
    Plan

    Raises
    ------
    PlanValidationError
        With ``validate``, when the plan breaks a rule; every problem names its item.
    """
    frame = planner.frame
    stats = stats or PlanStats()
    stats.sortie_count = len(built)
    stats.sortie_times_s = [b.estimate.time_s for b in built]
    stats.sortie_distances_m = [b.estimate.distance_m for b in built]
    stats.flight_time_s = float(sum(stats.sortie_times_s))
    stats.distance_m = float(sum(stats.sortie_distances_m))
    stats.altitude_m = altitude_m
    if area is not None:
        allowed_ll = frame.geom_to_lonlat(area.allowed_m)
        stats.area_m2 = float(geodesic_area_m2(allowed_ll))
    leg_ll = []
    for leg in legs:
        lon, lat = frame.to_lonlat(leg.xy[:, 0], leg.xy[:, 1])
        leg_ll.append([(float(a), float(b)) for a, b in zip(np.atleast_1d(lon), np.atleast_1d(lat))])
    plan = Plan(kind=kind, sorties=planner.missions(built, name), altitude_mode=planner.settings.altitude_mode,
                camera=planner.camera, aircraft=planner.aircraft, stats=stats, legs=leg_ll,
                sector=mapping(area.sector_ll) if area is not None else None,
                exclusions=[mapping(e) for e in area.exclusions_ll] if area is not None else [],
                settings=settings, name=name)
    if validate:
        from .validate import validate_plan

        validate_plan(plan, max_items=planner.limits.max_items, max_fence_points=planner.limits.max_fence_points,
                      fence_margin_m=max(margin_m - 0.5, 0.0), raise_on_error=True)
    return plan


__all__ = ["DEFAULT_FENCE_MARGIN_M", "Area", "Planner", "finish_plan", "make_planner", "prepare_area",
           "resolve_home", "resolve_mode"]
