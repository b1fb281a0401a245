"""How an imaging flight flies its camera: height, speeds, line spacing, photos, leg ends.

Shared by the survey and corridor planners (and the photo figures of every plan): a request's
camera options become a :class:`CameraRun` (:func:`resolve_imaging`), and imaging legs get their
lead-in/out (:func:`add_turnarounds`) and are cut where no battery flies them whole
(:func:`split_long_legs`).  Bearings are from true north for people and from grid north inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from shapely.geometry import LineString
from shapely.ops import substring

from uav.errors import PlanningError
from uav.geo import LocalFrame
from uav.profiles import AircraftProfile, CameraProfile

from .geometry import Router, path_length
from .items_builder import Leg

MIN_SURVEY_SPEED_MS = 1.0  # m/s: the slowest imaging speed planned; below it change overlap, altitude or trigger


def true_north_grid_bearing(frame: LocalFrame, xy) -> float:
    """Grid bearing of true north at metric point ``xy`` of ``frame`` (degrees clockwise from
    grid north; see :meth:`uav.geo.LocalFrame.north_and_scale`).

    A line of true bearing ``b`` there has grid bearing ``b + true_north_grid_bearing``.
    """
    lon, lat = frame.to_lonlat(float(xy[0]), float(xy[1]))
    return float(frame.true_north_deg(lon, lat))


def parse_bearing(angle_deg):
    if angle_deg in ("auto", None):
        return "auto"
    try:
        value = float(angle_deg)
    except (TypeError, ValueError):
        raise PlanningError(f"grid angle must be degrees or 'auto', got {angle_deg!r}") from None
    if not math.isfinite(value):
        raise PlanningError(f"grid angle must be a finite number of degrees, got {angle_deg!r}")
    return value


def grid_spacing(camera: CameraProfile, altitude_m: float, front_overlap: float,
                 side_overlap: float) -> tuple[float, float]:
    """(line spacing, trigger distance) in metres for a camera at ``altitude_m``.

    The image's long side (sensor width) lies across track.
    """
    for label, v in (("front overlap", front_overlap), ("side overlap", side_overlap)):
        if not 0.0 <= v < 0.95:
            raise PlanningError(f"{label} must be a fraction in [0, 0.95), got {v} "
                                "(write 0.75 for 75 %)")
    across, along = camera.footprint_m(altitude_m)
    return across * (1.0 - side_overlap), along * (1.0 - front_overlap)


def imaging_speed(camera: CameraProfile, trigger_distance_m: float, speed_ms: float,
                  trigger: str) -> tuple[float, str | None]:
    """Imaging speed that keeps distance-triggered photos ``camera.min_trigger_interval_s`` apart.

    Returns the speed and a note for the plan settings when it had to be lowered (else ``None``).
    """
    if trigger != "distance" or trigger_distance_m / speed_ms >= camera.min_trigger_interval_s:
        return speed_ms, None
    new = trigger_distance_m / camera.min_trigger_interval_s
    if new < MIN_SURVEY_SPEED_MS:
        raise PlanningError(
            f"camera {camera.name!r} needs {camera.min_trigger_interval_s} s between photos but "
            f"photos are due every {trigger_distance_m:.1f} m: that means flying at {new:.2f} m/s; "
            "lower the front overlap, fly higher, or use hover-and-capture")
    note = (f"imaging speed lowered from {speed_ms:g} to {new:.2f} m/s so photos are at least "
            f"{camera.min_trigger_interval_s} s apart (transits at {speed_ms:g} m/s)")
    return math.floor(new * 100) / 100.0, note


def resolve_altitude(camera: CameraProfile | None, aircraft: AircraftProfile,
                     altitude_m: float | None, gsd_m: float | None) -> float:
    """Flight height from an altitude or a target GSD, checked against the aircraft."""
    if altitude_m is not None and gsd_m is not None:
        raise PlanningError("give either an altitude or a target GSD, not both")
    if altitude_m is None and gsd_m is None:
        raise PlanningError("give a flight altitude (m) or a target ground sample distance (GSD)")
    if gsd_m is not None:
        if camera is None:
            raise PlanningError("a target GSD needs a camera profile")
        if gsd_m <= 0:
            raise PlanningError(f"target GSD must be positive, got {gsd_m} m/px")
        altitude_m = camera.altitude_for_gsd(gsd_m)
        if altitude_m > aircraft.max_altitude_m:
            best = camera.gsd_m(aircraft.max_altitude_m)
            raise PlanningError(
                f"GSD {gsd_m * 100:.2f} cm/px is unreachable with camera {camera.name!r}: it needs "
                f"{altitude_m:.0f} m above ground, above the {aircraft.name!r} ceiling of "
                f"{aircraft.max_altitude_m:.0f} m (the coarsest GSD at the ceiling is "
                f"{best * 100:.2f} cm/px)")
    if not altitude_m > 0:
        raise PlanningError(f"flight altitude must be above 0 m, got {altitude_m}")
    if altitude_m > aircraft.max_altitude_m:
        raise PlanningError(f"altitude {altitude_m:.0f} m is above the {aircraft.name!r} ceiling "
                            f"of {aircraft.max_altitude_m:.0f} m")
    return float(altitude_m)


def resolve_speed(aircraft: AircraftProfile, speed_ms: float | None) -> float:
    speed = aircraft.cruise_speed_ms if speed_ms is None else float(speed_ms)
    if not speed > 0:
        raise PlanningError(f"speed must be positive, got {speed} m/s")
    if speed > aircraft.max_speed_ms:
        raise PlanningError(f"speed {speed} m/s is above the {aircraft.name!r} maximum of "
                            f"{aircraft.max_speed_ms} m/s")
    return speed


@dataclass(frozen=True)
class CameraRun:
    """How an imaging flight (survey, corridor) flies its camera, resolved from the request."""

    altitude_m: float
    speed_ms: float              # along imaging legs (lowered when the camera needs it)
    transit_ms: float            # between legs: the speed asked, whatever the camera needs
    spacing_m: float             # between lines
    trigger_distance_m: float    # between photos
    turnaround_m: float          # lead-in/out beyond each leg
    shutter: Shutter
    speed_note: str | None = None


def resolve_imaging(camera: CameraProfile, aircraft: AircraftProfile, *, altitude_m: float | None,
                    gsd_m: float | None, speed_ms: float | None, front_overlap: float,
                    side_overlap: float, trigger: str, turnaround_m: float | None) -> CameraRun:
    """Height, speeds, line spacing, photo distance and shutter of an imaging flight.

    Raises
    ------
    PlanningError
        Unknown trigger, altitude or speed beyond the aircraft, overlaps out of range, or a
        camera too slow for the photo distance even at the slowest imaging speed.
    """
    if trigger not in ("distance", "hover", "none"):
        raise PlanningError(f"camera trigger must be 'distance', 'hover' or 'none', got {trigger!r}")
    altitude = resolve_altitude(camera, aircraft, altitude_m, gsd_m)
    cruise = resolve_speed(aircraft, speed_ms)
    spacing, trig = grid_spacing(camera, altitude, front_overlap, side_overlap)
    speed, note = imaging_speed(camera, trig, cruise, trigger)
    turn = (aircraft.cruise_speed_ms ** 2 / (2 * aircraft.acceleration_ms2) if turnaround_m is None
            else float(turnaround_m))
    hover_s = float(max(1, math.ceil(camera.min_trigger_interval_s))) if trigger == "hover" else 0.0
    shutter = Shutter(trigger, trig if trigger != "none" else None, hover_s)
    return CameraRun(altitude, speed, cruise, spacing, trig, turn, shutter, note)


@dataclass(frozen=True)
class Shutter:
    """When the camera takes photos along the imaging legs.

    Parameters
    ----------
    trigger : {"distance", "hover", "none"}
        DO_SET_CAM_TRIGG_DIST per leg, stop-and-shoot at each photo point, or no photos.
    distance_m : float or None
        Distance between photos (``None`` with ``"none"``).
    hover_s : float
        Seconds held at each photo point with ``"hover"``.
    """

    trigger: str = "none"
    distance_m: float | None = None
    hover_s: float = 0.0


NO_PHOTOS = Shutter()  # lookouts and patrols: the camera is the pilot's, not the plan's


def photo_count(legs_flown: list[Leg], trigger: str, trigger_distance_m: float | None) -> int:
    if not trigger_distance_m or trigger == "none":
        return 0
    total = 0
    for leg in legs_flown:
        L = path_length(leg.xy)
        total += int(math.floor(L / trigger_distance_m + 1e-9)) + 1 if trigger == "distance" else \
            max(1, int(math.ceil(L / trigger_distance_m - 1e-9))) + 1
    return total


def add_turnarounds(legs: list[Leg], router: Router, turnaround_m: float) -> None:
    """Extend each leg by up to ``turnaround_m`` at both ends, only where the extension stays
    inside the flight area (halving it up to three times, else none)."""
    if turnaround_m <= 0 or not legs:
        return
    starts = np.array([leg.xy[0] for leg in legs])
    ends = np.array([leg.xy[-1] for leg in legs])
    u_in = np.array([leg.xy[1] - leg.xy[0] for leg in legs])
    u_out = np.array([leg.xy[-1] - leg.xy[-2] for leg in legs])
    u_in /= np.linalg.norm(u_in, axis=1)[:, None]
    u_out /= np.linalg.norm(u_out, axis=1)[:, None]
    for which, base, u, sign in (("lead_in", starts, u_in, -1.0), ("lead_out", ends, u_out, 1.0)):
        todo = np.arange(len(legs))
        length = turnaround_m
        for _ in range(4):
            if len(todo) == 0:
                break
            tip = base[todo] + sign * length * u[todo]
            ok = router.covers(base[todo], tip)
            for i, t in zip(todo[ok], tip[ok]):
                setattr(legs[i], which, t)
            todo = todo[~ok]
            length /= 2.0


def split_long_legs(legs: list[Leg], max_len_m: float) -> list[Leg]:
    """Cut legs longer than ``max_len_m`` into consecutive pieces (so sorties can be cut
    inside a line no battery can fly in one go)."""
    out = []
    for leg in legs:
        L = leg.length_m
        if L <= max_len_m:
            out.append(leg)
            continue
        n = int(math.ceil(L / max_len_m))
        line = LineString(leg.xy)
        for i in range(n):
            piece = substring(line, L * i / n, L * (i + 1) / n)
            out.append(Leg(np.asarray(piece.coords)[:, :2], line=leg.line,
                           lead_in=leg.lead_in if i == 0 else None,
                           lead_out=leg.lead_out if i == n - 1 else None,
                           continues=leg.continues or i > 0))
    return out


__all__ = ["MIN_SURVEY_SPEED_MS", "NO_PHOTOS", "CameraRun", "Shutter", "add_turnarounds", "grid_spacing",
           "imaging_speed", "parse_bearing", "photo_count", "resolve_altitude", "resolve_imaging",
           "resolve_speed", "split_long_legs", "true_north_grid_bearing"]
