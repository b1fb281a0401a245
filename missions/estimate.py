"""Flight time and distance model.

The model a ranger can check by hand:

* **horizontal legs** are flown at the commanded speed ``v``; a segment that also changes
  altitude takes the longer of ``horizontal / v``, ``climb / climb_rate`` and
  ``descent / descent_rate`` (a copter slows down rather than miss its height);
* **turns** cost acceleration time: a full stop and restart at ``a`` m/s² costs ``v / a``
  seconds more than flying straight through, and a turn of deflection ``θ`` (0 = straight on,
  π = reversal) is charged ``(θ / π) · v / a``; the start and the end of the horizontal flight
  are charged half a stop each;
* **takeoff** climbs vertically to the first altitude at ``climb_rate``; **landing** (RTL)
  flies home at the last altitude and descends at ``descent_rate``, the last 10 m at 0.5 m/s
  (ArduCopter's LAND_ALT_LOW and LAND_SPEED);
* **hover** (waypoint hold, hover-and-capture, loiter time) adds its time; an orbit adds its
  circumference times the number of turns, flown at ``v``.

**Energy** comes from the aircraft's one energy model (:mod:`uav.energy`, the one the built-in
copter drains its battery by and the rehearsal judges with): each segment at its speed and
climb rate, turns at the segment's speed (braking and accelerating tilt the copter as much
as cruising), takeoff climbing and landing descending in place, hover and orbits at hover
power.  ``charge_mah`` is what the battery will report used.

Horizontal distances between mission items use the WGS84 ellipsoid (:mod:`uav.geo`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from uav.geo import bearing_deg, distance_m
from uav.items import Cmd, Frame, Mission
from uav.profiles import AircraftProfile


@dataclass
class FlightEstimate:
    """Estimated figures for one flight (one sortie)."""

    distance_m: float = 0.0     # horizontal + vertical path length
    time_s: float = 0.0         # total, takeoff to touchdown
    turns: int = 0              # direction changes over 30 degrees
    vertical_s: float = 0.0     # takeoff climb and final descent
    hover_s: float = 0.0        # holds, hover-and-capture and loiters
    energy_wh: float = 0.0      # drawn from the pack (the aircraft's energy model)
    charge_mah: float = 0.0     # the same as the battery counts it

    def __add__(self, other: FlightEstimate) -> FlightEstimate:
        return FlightEstimate(self.distance_m + other.distance_m, self.time_s + other.time_s,
                              self.turns + other.turns, self.vertical_s + other.vertical_s,
                              self.hover_s + other.hover_s, self.energy_wh + other.energy_wh,
                              self.charge_mah + other.charge_mah)


# ArduCopter's LAND_ALT_LOW and LAND_SPEED defaults: the final metres of a landing are slow.
LAND_ALT_LOW_M = 10.0
LAND_SPEED_MS = 0.5

# ArduCopter's CIRCLE_RATE default (degrees per second): the fastest it turns round an orbit.
CIRCLE_RATE_DEG_S = 20.0


def orbit_speed_ms(radius_m: float, speed_ms: float, accel_ms2: float,
                   rate_deg_s: float = CIRCLE_RATE_DEG_S) -> float:
    """Speed a copter keeps round an orbit (NAV_LOITER_TURNS) of ``radius_m``.

    ArduCopter's circle controller flies no faster than its horizontal speed limit, than
    ``sqrt(0.5 * accel * radius)`` (half the acceleration goes to holding the curve) and than
    ``rate * radius`` (CIRCLE_RATE): small orbits are flown much slower than cruise, so their
    time cannot be taken as circumference / cruise speed.
    """
    r = abs(float(radius_m))
    if r <= 0:
        return float(speed_ms)
    return float(min(speed_ms, math.sqrt(0.5 * accel_ms2 * r), math.radians(rate_deg_s) * r))


def turn_penalty_s(deflection_rad, speed_ms: float, accel_ms2: float):
    """Extra seconds a turn of ``deflection_rad`` costs over flying straight on."""
    return np.clip(np.asarray(deflection_rad, dtype=float), 0.0, math.pi) / math.pi * speed_ms / accel_ms2


def deflections(headings_rad: np.ndarray) -> np.ndarray:
    """Absolute heading change between consecutive segments, radians in [0, pi]."""
    if len(headings_rad) < 2:
        return np.zeros(0)
    d = np.diff(headings_rad)
    return np.abs((d + math.pi) % (2 * math.pi) - math.pi)


def estimate_segments(lengths, dz, headings_rad, *, speeds, aircraft: AircraftProfile,
                      takeoff_alt_m: float, landing_alt_m: float,
                      hover_s: float = 0.0) -> FlightEstimate:
    """The model on explicit segments.

    Parameters
    ----------
    lengths, dz, headings_rad : array-like
        Horizontal length (m), altitude change (m, up positive) and heading (radians) of each
        segment of the horizontal flight, takeoff point to the point where the descent starts.
    speeds : float or array-like
        Horizontal speed commanded on each segment (m/s).
    takeoff_alt_m, landing_alt_m : float
        Height climbed vertically at the start and descended at the end.
    hover_s : float
        Time spent hovering or loitering.
    """
    lengths = np.asarray(lengths, dtype=float)
    dz = np.asarray(dz, dtype=float)
    v = np.broadcast_to(np.asarray(speeds, dtype=float), lengths.shape)
    heading = np.asarray(headings_rad, dtype=float)
    moving = lengths > 0.01
    seg_t = np.where(moving, lengths / np.maximum(v, 1e-6), 0.0)
    seg_t = np.maximum(seg_t, np.where(dz > 0, dz / aircraft.climb_rate_ms, -dz / aircraft.descent_rate_ms))
    turn = deflections(heading[moving])
    vm = v[moving]
    turn_ts = turn_penalty_s(turn, vm[1:], aircraft.acceleration_ms2) if len(turn) else np.zeros(0)
    turn_v = vm[1:len(turn_ts) + 1]
    if moving.any():  # accelerate at the start, stop at the end
        ends = np.array([vm[0], vm[-1]]) / (2 * aircraft.acceleration_ms2)
        turn_ts, turn_v = np.r_[turn_ts, ends], np.r_[turn_v, vm[0], vm[-1]]
    turn_t = float(turn_ts.sum())
    up_t = max(takeoff_alt_m, 0.0) / aircraft.climb_rate_ms
    # ArduCopter lands its last LAND_ALT_LOW (10 m) at LAND_SPEED (0.5 m/s)
    low = min(max(landing_alt_m, 0.0), LAND_ALT_LOW_M)
    fast_t, slow_t = (max(landing_alt_m, 0.0) - low) / aircraft.descent_rate_ms, low / LAND_SPEED_MS
    down_t = fast_t + slow_t
    vertical = up_t + down_t
    dist = float(np.hypot(lengths, dz).sum()) + max(takeoff_alt_m, 0.0) + max(landing_alt_m, 0.0)
    # Energy: each segment at the speed and climb it is flown at; turns at the segment's speed.
    model = aircraft.energy
    safe_t = np.where(seg_t > 0, seg_t, 1.0)
    wh = model.energy_wh(seg_t, np.where(seg_t > 0, lengths / safe_t, 0.0), np.where(seg_t > 0, dz / safe_t, 0.0))
    wh += model.energy_wh(turn_ts, turn_v)
    wh += model.energy_wh([up_t, fast_t, slow_t, hover_s], 0.0,
                          [aircraft.climb_rate_ms, -aircraft.descent_rate_ms, -LAND_SPEED_MS, 0.0])
    return FlightEstimate(distance_m=dist,
                          time_s=float(seg_t.sum()) + turn_t + vertical + hover_s,
                          turns=int((turn > math.radians(30)).sum()),
                          vertical_s=vertical, hover_s=hover_s,
                          energy_wh=wh, charge_mah=float(model.mah(wh)))


def estimate_path(xy: np.ndarray, z: np.ndarray, *, speed_ms, aircraft: AircraftProfile,
                  hover_s: float = 0.0) -> FlightEstimate:
    """The model on a metric path that starts and ends above home.

    ``xy`` is ``(n, 2)`` metres, ``z`` the height above home at each point; the first point
    is reached by a vertical takeoff and the last is followed by a vertical descent.
    ``speed_ms`` is one speed or one per segment (``n - 1``).
    """
    xy = np.asarray(xy, dtype=float)
    z = np.asarray(z, dtype=float)
    d = np.diff(xy, axis=0)
    return estimate_segments(np.hypot(d[:, 0], d[:, 1]), np.diff(z), np.arctan2(d[:, 0], d[:, 1]),
                             speeds=speed_ms, aircraft=aircraft, takeoff_alt_m=float(z[0]),
                             landing_alt_m=float(z[-1]), hover_s=hover_s)


def estimate_mission(mission: Mission, aircraft: AircraftProfile,
                     speed_ms: float | None = None) -> FlightEstimate:
    """Estimate a sortie from its mission items (what the vehicle will actually fly).

    Positions are taken from NAV items; DO_CHANGE_SPEED changes the speed; waypoint holds,
    NAV_LOITER_TIME and NAV_LOITER_TURNS add hover or orbit time (orbits at
    :func:`orbit_speed_ms`); NAV_RETURN_TO_LAUNCH flies
    home at the current altitude and descends.
    """
    items = mission.items
    if not items:
        return FlightEstimate()
    home = items[0]
    home_amsl = home.alt
    speed = speed_ms or aircraft.cruise_speed_ms
    lat, lon, rel, spd = [home.lat], [home.lon], [None], []
    hover = 0.0
    extra_dist = 0.0
    takeoff_alt = None
    rtl = False
    for it in items[1:]:
        cmd = it.command
        if cmd == Cmd.DO_CHANGE_SPEED and it.param2 > 0:
            speed = it.param2
            continue
        if cmd == Cmd.NAV_TAKEOFF:
            takeoff_alt = it.alt if it.frame not in (Frame.GLOBAL, Frame.GLOBAL_INT) else it.alt - home_amsl
            rel[0] = takeoff_alt
            continue
        if cmd == Cmd.NAV_RETURN_TO_LAUNCH:
            lat.append(home.lat)
            lon.append(home.lon)
            rel.append(rel[-1])
            spd.append(speed)
            rtl = True
            break
        if cmd in (Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_TURNS, Cmd.NAV_LOITER_UNLIM):
            z = it.alt - home_amsl if it.frame in (Frame.GLOBAL, Frame.GLOBAL_INT) else it.alt
            if rel[0] is None:
                rel[0] = z
            lat.append(it.lat)
            lon.append(it.lon)
            rel.append(z)
            spd.append(speed)
            if cmd == Cmd.NAV_WAYPOINT:
                hover += max(it.param1, 0.0)
            elif cmd == Cmd.NAV_LOITER_TIME:
                hover += max(it.param1, 0.0)
            elif cmd == Cmd.NAV_LOITER_TURNS:
                circ = 2 * math.pi * abs(it.param3) * max(it.param1, 0.0)
                extra_dist += circ
                hover += circ / orbit_speed_ms(it.param3, speed, aircraft.acceleration_ms2)
    if rel[0] is None:
        rel[0] = 0.0
    lat_a, lon_a, z = np.asarray(lat), np.asarray(lon), np.asarray(rel, dtype=float)
    lengths = distance_m(lon_a[:-1], lat_a[:-1], lon_a[1:], lat_a[1:]) if len(lat_a) > 1 else np.zeros(0)
    headings = np.radians(bearing_deg(lon_a[:-1], lat_a[:-1], lon_a[1:], lat_a[1:])) if len(lat_a) > 1 else np.zeros(0)
    est = estimate_segments(np.atleast_1d(lengths), np.diff(z), np.atleast_1d(headings),
                            speeds=np.asarray(spd) if spd else 0.0, aircraft=aircraft,
                            takeoff_alt_m=float(z[0]), landing_alt_m=float(z[-1]) if rtl else 0.0,
                            hover_s=hover)
    est.distance_m += extra_dist
    return est
