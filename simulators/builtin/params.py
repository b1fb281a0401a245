"""The built-in vehicle's parameter table: ArduPilot names, units, types and defaults.

Only the parameters the project reads, sets or relies on are here, named as ArduCopter 4.7
names them (``MAV_SYSID``, not the older ``SYSID_THISMAV``; ``CAM1_TYPE``, not
``CAM_TRIGG_TYPE``).  Defaults follow ArduPilot's documented defaults, in ArduPilot's units
(WPNAV speeds in cm/s, RTL_ALT in cm).  As on ArduPilot, a name that is not in the table is
simply not answered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

INT8 = mavlink.MAV_PARAM_TYPE_INT8
INT16 = mavlink.MAV_PARAM_TYPE_INT16
INT32 = mavlink.MAV_PARAM_TYPE_INT32
REAL32 = mavlink.MAV_PARAM_TYPE_REAL32

_INT_RANGE = {INT8: (-128, 127), INT16: (-32768, 32767), INT32: (-(2**31), 2**31 - 1)}

# name: (default, type).  Comments give units and meaning where they are not obvious.
DEFAULTS: dict[str, tuple[float, int]] = {
    "MAV_SYSID": (1, INT16),
    "MAV_GCS_SYSID": (255, INT16),
    "FORMAT_VERSION": (120, INT16),
    "ARMING_CHECK": (1, INT32),          # bitmask, 1 = all checks
    "DISARM_DELAY": (10, INT8),          # s on the ground armed before auto-disarm; 0 = never
    "AUTO_OPTIONS": (0, INT32),          # bit 0: allow arming in AUTO
    "FENCE_ENABLE": (0, INT8),
    "FENCE_TYPE": (7, INT8),             # bitmask: 1 alt max, 2 circle, 4 polygon, 8 alt min
    "FENCE_ACTION": (1, INT8),           # 0 report, 1 RTL or land, 2 land, 3/5 SmartRTL, 4 brake
    "FENCE_ALT_MAX": (100.0, REAL32),    # m above home
    "FENCE_ALT_MIN": (-10.0, REAL32),
    "FENCE_RADIUS": (300.0, REAL32),     # m, circle around home
    "FENCE_MARGIN": (2.0, REAL32),       # m
    "FENCE_TOTAL": (0, INT8),
    "MIS_TOTAL": (0, INT16),             # mission items, home included (kept by the vehicle)
    "WPNAV_SPEED": (1000.0, REAL32),     # cm/s
    "WPNAV_SPEED_UP": (250.0, REAL32),   # cm/s
    "WPNAV_SPEED_DN": (150.0, REAL32),   # cm/s
    "WPNAV_ACCEL": (250.0, REAL32),      # cm/s/s
    "WPNAV_ACCEL_Z": (100.0, REAL32),    # cm/s/s
    "WPNAV_RADIUS": (200.0, REAL32),     # cm
    "RTL_ALT": (1500, INT32),            # cm above home
    "RTL_ALT_FINAL": (0, INT16),         # cm, 0 = land
    "RTL_SPEED": (0, INT16),             # cm/s, 0 = WPNAV_SPEED
    "RTL_LOIT_TIME": (5000, INT32),      # ms over home before descending
    "LAND_SPEED": (50, INT16),           # cm/s below LAND_ALT_LOW
    "LAND_SPEED_HIGH": (0, INT16),       # cm/s, 0 = WPNAV_SPEED_DN
    "LAND_ALT_LOW": (1000, INT16),       # cm
    "CIRCLE_RADIUS": (1000.0, REAL32),   # cm
    "CIRCLE_RATE": (20.0, REAL32),       # deg/s
    "BATT_MONITOR": (4, INT8),
    "BATT_CAPACITY": (3300, INT32),      # mAh
    "BATT_LOW_VOLT": (10.5, REAL32),     # V
    "BATT_LOW_MAH": (0.0, REAL32),       # mAh remaining; 0 = off (a float on 4.7)
    "BATT_LOW_TIMER": (10, INT8),        # s below BATT_LOW_VOLT before the failsafe
    "BATT_CRT_VOLT": (0.0, REAL32),
    "BATT_CRT_MAH": (0, INT32),
    "BATT_FS_LOW_ACT": (0, INT8),        # 0 none, 1 land, 2 RTL, 3 SmartRTL/RTL, 4 SmartRTL/land
    "FS_GCS_ENABLE": (0, INT8),          # GCS failsafe off (not simulated)
    "FS_THR_ENABLE": (1, INT8),          # radio failsafe on (no radio is simulated)
    "BATT_FS_CRT_ACT": (0, INT8),
    "BATT_ARM_VOLT": (0.0, REAL32),
    "BATT_ARM_MAH": (0, INT32),
    "CAM1_TYPE": (0, INT8),              # 0 none, 1 servo, ...; no camera unless set
    "CAM_AUTO_ONLY": (0, INT8),
    "CAM1_INTRVAL_MIN": (0.0, REAL32),   # s between shots
    "SIM_SPEEDUP": (1.0, REAL32),
    "SIM_WIND_SPD": (0.0, REAL32),       # m/s
    "SIM_WIND_DIR": (180.0, REAL32),     # deg the wind blows from
    "SIM_WIND_TURB": (0.0, REAL32),
    "SIM_BATT_VOLTAGE": (12.6, REAL32),  # full-charge voltage of the simulated pack (3S)
    "SIM_BATT_CAP_AH": (0.0, REAL32),
    "SR0_POSITION": (0, INT16),
    "SR0_EXTRA1": (0, INT16),
}


@dataclass
class Param:
    name: str
    value: float
    type: int
    index: int


def coerce(value: float, ptype: int) -> float:
    """Store ``value`` as ArduPilot stores a parameter of ``ptype``: integers round and clip."""
    if ptype == REAL32:
        return float(value)
    lo, hi = _INT_RANGE[ptype]
    if math.isnan(value):
        return 0.0
    return float(max(lo, min(hi, round(value))))


class ParamTable:
    """Named parameters with stable indices, as ``PARAM_VALUE`` reports them.

    Parameters
    ----------
    overrides : dict, optional
        Values that replace the defaults at start-up (like a SITL parameter file).  Unknown
        names raise :class:`uav.errors.SimulatorError`, so a typo is not silently ignored.
    """

    def __init__(self, overrides: dict[str, float] | None = None):
        self._params: dict[str, Param] = {}
        for i, (name, (value, ptype)) in enumerate(DEFAULTS.items()):
            self._params[name] = Param(name, coerce(value, ptype), ptype, i)
        self._by_index = list(self._params.values())
        for name, value in (overrides or {}).items():
            if name not in self._params:
                from uav.errors import SimulatorError

                raise SimulatorError(
                    f"the built-in vehicle has no parameter {name!r}; known: "
                    + ", ".join(sorted(self._params)))
            self.set(name, value)

    def __contains__(self, name: str) -> bool:
        return name in self._params

    def __len__(self) -> int:
        return len(self._by_index)

    def __getitem__(self, name: str) -> float:
        return self._params[name].value

    def get(self, name: str) -> Param | None:
        return self._params.get(name)

    def by_index(self, index: int) -> Param | None:
        if 0 <= index < len(self._by_index):
            return self._by_index[index]
        return None

    def set(self, name: str, value: float) -> Param | None:
        """Set ``name``; returns the stored parameter, or None for an unknown name."""
        p = self._params.get(name)
        if p is None:
            return None
        p.value = coerce(float(value), p.type)
        return p

    def all(self) -> list[Param]:
        return list(self._by_index)
