"""Kinematics, battery and geofence of the built-in copter.

A point-mass copter that follows ArduPilot's navigation limits: it flies straight 3-D lines to
its target at up to WPNAV_SPEED (climb WPNAV_SPEED_UP, descent WPNAV_SPEED_DN), changes
velocity at most WPNAV_ACCEL, and brakes so it arrives at a target at the speed the next leg
allows.  Wind does not change the ground track (the position controller holds it) but it
changes airspeed, tilt and therefore battery drain.  Positions are metres north/east/up of
home on a local tangent plane, which is accurate to centimetres over the few kilometres a
sortie covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from uav.energy import EnergyModel
from uav.profiles import AIRCRAFT

GRAVITY = 9.80665
DRAG_PER_S = 0.2  # tilt needed per m/s of airspeed, as a/g: 10 m/s -> ~11 degrees


@dataclass
class Target:
    """Where the navigation controller is going: local metres, altitude above home."""

    north: float
    east: float
    up: float
    speed: float           # m/s along the line
    climb: float           # m/s
    descent: float         # m/s
    arrive_speed: float = 0.0


class Kinematics:
    """Point-mass state and the navigation controller."""

    def __init__(self):
        self.n = self.e = self.u = 0.0
        self.vn = self.ve = self.vu = 0.0
        self.an = self.ae = 0.0
        self.yaw = 0.0  # degrees
        self.roll = self.pitch = 0.0  # degrees

    @property
    def groundspeed(self) -> float:
        return math.hypot(self.vn, self.ve)

    def distance_to(self, t: Target) -> tuple[float, float]:
        """Horizontal and vertical distance to ``t``."""
        return math.hypot(t.north - self.n, t.east - self.e), t.up - self.u

    def step(self, dt: float, target: Target | None, accel: float, accel_z: float,
             wind_ne: tuple[float, float], yaw_target: float | None = None) -> None:
        """Advance ``dt`` seconds towards ``target`` (None: brake and hold altitude)."""
        if target is None:
            des = (0.0, 0.0, 0.0)
        else:
            dn, de, du = target.north - self.n, target.east - self.e, target.up - self.u
            dist = math.sqrt(dn * dn + de * de + du * du)
            if dist < 1e-3:
                des = (0.0, 0.0, 0.0)
            else:
                ux, uy, uz = dn / dist, de / dist, du / dist
                h = math.hypot(ux, uy)
                vmax = target.speed / h if h > 1e-6 else math.inf
                vz_lim = target.climb if uz > 0 else target.descent
                if abs(uz) > 1e-6:
                    vmax = min(vmax, vz_lim / abs(uz))
                # brake so as to arrive at arrive_speed; accel along this line is bounded by
                # the horizontal and vertical limits in proportion
                a_line = min(accel / h if h > 1e-6 else math.inf,
                             accel_z / abs(uz) if abs(uz) > 1e-6 else math.inf)
                v_arr = min(target.arrive_speed, vmax)
                v = min(vmax, math.sqrt(v_arr * v_arr + 2 * a_line * dist))
                # never overshoot within one step
                v = min(v, dist / dt) if v_arr == 0 else v
                des = (ux * v, uy * v, uz * v)
        # horizontal acceleration limit
        dvn, dve = des[0] - self.vn, des[1] - self.ve
        dvh = math.hypot(dvn, dve)
        lim = accel * dt
        if dvh > lim:
            dvn, dve = dvn * lim / dvh, dve * lim / dvh
        dvu = des[2] - self.vu
        limz = accel_z * dt
        dvu = max(-limz, min(limz, dvu))
        self.an, self.ae = dvn / dt, dve / dt
        vn0, ve0, vu0 = self.vn, self.ve, self.vu
        self.vn += dvn
        self.ve += dve
        self.vu += dvu
        self.n += 0.5 * (vn0 + self.vn) * dt
        self.e += 0.5 * (ve0 + self.ve) * dt
        self.u += 0.5 * (vu0 + self.vu) * dt
        self._attitude(dt, wind_ne, yaw_target)

    def _attitude(self, dt: float, wind_ne: tuple[float, float], yaw_target: float | None):
        # tilt = (acceleration + drag of the air-relative velocity) / g, in the body frame
        an_air, ae_air = self.air_velocity(wind_ne)
        fn = self.an + DRAG_PER_S * an_air
        fe = self.ae + DRAG_PER_S * ae_air
        if yaw_target is None and self.groundspeed > 1.0:
            yaw_target = math.degrees(math.atan2(self.ve, self.vn)) % 360
        if yaw_target is not None:
            err = (yaw_target - self.yaw + 540) % 360 - 180
            step = 90.0 * dt
            self.yaw = (self.yaw + max(-step, min(step, err))) % 360
        y = math.radians(self.yaw)
        fwd = fn * math.cos(y) + fe * math.sin(y)
        right = -fn * math.sin(y) + fe * math.cos(y)
        self.pitch = -math.degrees(math.atan2(fwd, GRAVITY))
        self.roll = math.degrees(math.atan2(right, GRAVITY))

    def air_velocity(self, wind_ne: tuple[float, float]) -> tuple[float, float]:
        return self.vn - wind_ne[0], self.ve - wind_ne[1]


def wind_vector(speed: float, from_deg: float) -> tuple[float, float]:
    """North/east velocity of a wind of ``speed`` m/s blowing from ``from_deg``."""
    to = math.radians(from_deg + 180.0)
    return speed * math.cos(to), speed * math.sin(to)


class Battery:
    """A pack drained by an aircraft's energy model (:mod:`uav.energy`); voltage sags as it empties.

    The model is the one the planner estimates with, so the built-in copter drains as planned.
    By default it is the ``arducopter-quad`` profile's, measured on ArduPilot's own SITL, so on
    the same flight the built-in copter and the real SITL report the same charge used; a
    rehearsal sets the plan's aircraft's model (:attr:`model`).  Disarmed or armed on the
    ground it draws nothing, as SITL reports.
    """

    SAG_AT_HOVER = 0.02  # voltage lost to the pack's resistance at hover current, as a fraction

    def __init__(self, capacity_mah: float, full_voltage: float, model: EnergyModel | None = None):
        self.capacity_mah = capacity_mah
        self.full_voltage = full_voltage
        self.model = model if model is not None else AIRCRAFT["arducopter-quad"].energy
        self.consumed_mah = 0.0
        self.current_a = 0.0
        self.consumed_wh = 0.0

    def step(self, dt: float, armed: bool, flying: bool, airspeed: float, climb: float):
        if armed and flying:
            i = float(self.model.current_a(airspeed, climb))
        else:
            i = 0.0
        self.current_a = i
        self.consumed_mah += i * dt / 3.6
        self.consumed_wh += i * self.model.voltage_v * dt / 3600.0

    @property
    def remaining_fraction(self) -> float:
        if self.capacity_mah <= 0:
            return 1.0
        return max(0.0, 1.0 - self.consumed_mah / self.capacity_mah)

    @property
    def remaining_mah(self) -> float:
        return max(0.0, self.capacity_mah - self.consumed_mah)

    @property
    def voltage(self) -> float:
        soc = self.remaining_fraction
        hover_a = self.model.hover_w / self.model.voltage_v
        sag = self.SAG_AT_HOVER * self.full_voltage * self.current_a / hover_a
        return self.full_voltage * (0.83 + 0.17 * soc) - sag


def point_in_polygon(x: float, y: float, poly: list[tuple[float, float]]) -> bool:
    inside = False
    n = len(poly)
    j = n - 1
    for i in range(n):
        xi, yi = poly[i]
        xj, yj = poly[j]
        if (yi > y) != (yj > y):
            xc = xi + (y - yi) * (xj - xi) / (yj - yi)
            if x < xc:
                inside = not inside
        j = i
    return inside


@dataclass
class FenceShapes:
    """Fence shapes in local metres (north, east) of home."""

    inclusion_polygons: list[list[tuple[float, float]]]
    exclusion_polygons: list[list[tuple[float, float]]]
    inclusion_circles: list[tuple[float, float, float]]
    exclusion_circles: list[tuple[float, float, float]]
    return_point: tuple[float, float] | None = None

    def breaches(self, n: float, e: float) -> list[str]:
        """Names of the fence kinds the point (n, e) breaks."""
        out = []
        if any(not point_in_polygon(n, e, p) for p in self.inclusion_polygons) or \
                any(point_in_polygon(n, e, p) for p in self.exclusion_polygons):
            out.append("Polygon")
        if any(math.hypot(n - cn, e - ce) > r for cn, ce, r in self.inclusion_circles) or \
                any(math.hypot(n - cn, e - ce) < r for cn, ce, r in self.exclusion_circles):
            out.append("Circle")
        return out
