"""One energy model per aircraft: what a flight costs its battery.

The planner's endurance check and sortie cuts, the built-in copter's battery and the rehearsal's
battery verdict all use this model, so a plan the planner accepts is one its rehearsal flies
within the battery, and the built-in copter drains like the aircraft planned for.

Electrical power drawn from the pack, in watts:

* **level flight** at horizontal airspeed ``v``: ``P(v)``, interpolated in a table of
  ``(speed, power)`` points (hover is ``v = 0``; past the last point the last slope goes on);
* **climbing** at ``w`` m/s adds ``climb_w_per_ms * w``; **descending** at ``w`` m/s saves
  ``descent_w_per_ms * w`` (momentum theory: the rotor's induced power changes by about
  half the thrust times the vertical speed).

Charge in mAh is energy divided by the pack's voltage (ArduPilot reports mAh and packs are
sold in mAh).  The reserve is a fraction of the pack's capacity the plan must not touch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ProfileError

__all__ = ["EnergyModel"]


@dataclass(frozen=True)
class EnergyModel:
    """Battery and power figures of one aircraft.

    Parameters
    ----------
    capacity_mah : float
        Pack capacity.
    voltage_v : float
        Pack voltage the mAh are counted at.
    speeds_ms, level_w : tuple of float
        Level-flight power table: power ``level_w[k]`` at horizontal airspeed ``speeds_ms[k]``
        (increasing, starting at 0 = hover).
    climb_w_per_ms, descent_w_per_ms : float
        Extra power per m/s of climb; power saved per m/s of descent.
    reserve_fraction : float
        Share of the capacity kept in reserve (never planned to be used).
    """

    capacity_mah: float
    voltage_v: float
    speeds_ms: tuple[float, ...]
    level_w: tuple[float, ...]
    climb_w_per_ms: float = 0.0
    descent_w_per_ms: float = 0.0
    reserve_fraction: float = 0.25

    def __post_init__(self):
        if not (self.capacity_mah > 0 and self.voltage_v > 0):
            raise ProfileError("energy model: capacity and voltage must be positive")
        s = np.asarray(self.speeds_ms, dtype=float)
        p = np.asarray(self.level_w, dtype=float)
        if s.ndim != 1 or s.shape != p.shape or len(s) == 0 or s[0] != 0 or np.any(np.diff(s) <= 0):
            raise ProfileError("energy model: the power table needs increasing speeds from 0 (hover), "
                               "one power for each")
        if np.any(p <= 0):
            raise ProfileError("energy model: level-flight power must be positive")
        if self.climb_w_per_ms < 0 or self.descent_w_per_ms < 0:
            raise ProfileError("energy model: climb and descent power must not be negative")

    # --- power -------------------------------------------------------------------------
    @property
    def hover_w(self) -> float:
        return float(self.level_w[0])

    @property
    def capacity_wh(self) -> float:
        return self.capacity_mah * self.voltage_v / 1000.0

    @property
    def usable_mah(self) -> float:
        """Charge a plan may use: the capacity less the reserve."""
        return self.capacity_mah * (1.0 - self.reserve_fraction)

    def level_power_w(self, speed_ms):
        """Level-flight power at horizontal airspeed ``speed_ms`` (array or scalar)."""
        s = np.asarray(self.speeds_ms, dtype=float)
        p = np.asarray(self.level_w, dtype=float)
        v = np.abs(np.asarray(speed_ms, dtype=float))
        out = np.interp(v, s, p)
        if len(s) > 1:  # beyond the table: the last slope goes on (drag keeps growing)
            slope = (p[-1] - p[-2]) / (s[-1] - s[-2])
            out = np.where(v > s[-1], p[-1] + slope * (v - s[-1]), out)
        return out

    def power_w(self, speed_ms, climb_ms=0.0):
        """Power at horizontal airspeed ``speed_ms`` and vertical speed ``climb_ms`` (up +)."""
        w = np.asarray(climb_ms, dtype=float)
        p = self.level_power_w(speed_ms) + np.where(w > 0, self.climb_w_per_ms * w,
                                                    self.descent_w_per_ms * w)
        # a copter descending fast still spins its rotors: never below a third of hover
        return np.maximum(p, self.hover_w / 3.0)

    def current_a(self, speed_ms, climb_ms=0.0):
        """Current drawn from the pack (at its voltage), amperes."""
        return self.power_w(speed_ms, climb_ms) / self.voltage_v

    # --- energy and charge ---------------------------------------------------------------
    def energy_wh(self, durations_s, speed_ms, climb_ms=0.0) -> float:
        """Energy of pieces of flight, each ``durations_s[k]`` long at a steady speed."""
        t = np.asarray(durations_s, dtype=float)
        return float(np.sum(t * self.power_w(speed_ms, climb_ms)) / 3600.0)

    def mah(self, energy_wh: float) -> float:
        """Charge (mAh at the pack's voltage) holding ``energy_wh``."""
        return float(energy_wh) * 1000.0 / self.voltage_v

    def endurance_s(self, speed_ms: float = 0.0, usable: bool = False) -> float:
        """Seconds of level flight at ``speed_ms`` on a full pack (or on its usable part)."""
        wh = self.capacity_wh * ((1.0 - self.reserve_fraction) if usable else 1.0)
        return wh * 3600.0 / float(self.level_power_w(speed_ms))
