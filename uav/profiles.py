"""Camera and aircraft profiles.

A camera profile is what photogrammetry needs (sensor size, focal length, image size) plus the
shortest interval it can take photos at; an aircraft profile is what flight planning needs
(speeds, battery and power, reserve, altitude ceiling).  Presets cover the drones rangers fly;
users add their own from a TOML or JSON file::

    [camera.my-cam]
    sensor_width_mm = 13.2
    sensor_height_mm = 8.8
    focal_length_mm = 8.8
    image_width_px = 5472
    image_height_px = 3648
    min_trigger_interval_s = 2.0

    [aircraft.my-quad]
    cruise_speed_ms = 8
    endurance_s = 1500            # level flight at cruise speed, full pack to empty
    hover_endurance_s = 1300      # optional: hover time, full pack to empty
    battery_capacity_mah = 5000
    battery_voltage_v = 15.4

An aircraft's :class:`uav.energy.EnergyModel` (``profile.energy``) is built from these figures:
see :meth:`AircraftProfile.energy` and README's "Aircraft profiles" for where each preset's
numbers come from.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from pathlib import Path

import numpy as np

from .energy import EnergyModel
from .errors import ProfileError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class CameraProfile:
    """A frame camera, pinhole model.  Image width is the sensor's long side."""

    name: str
    sensor_width_mm: float
    sensor_height_mm: float
    focal_length_mm: float
    image_width_px: int
    image_height_px: int
    min_trigger_interval_s: float = 1.0
    thermal: bool = False
    description: str = ""
    # DJI route files (WPML): the payload's enum value and the lens it shoots with
    # ("wide", "ir", "zoom"); None for cameras DJI Pilot 2 does not fly.
    wpml_payload: int | None = None
    wpml_lens: str | None = None

    def __post_init__(self):
        for f in ("sensor_width_mm", "sensor_height_mm", "focal_length_mm", "image_width_px",
                  "image_height_px"):
            if not getattr(self, f) > 0:
                raise ProfileError(f"camera {self.name!r}: {f} must be positive, got {getattr(self, f)!r}")
        if self.min_trigger_interval_s < 0:
            raise ProfileError(f"camera {self.name!r}: min_trigger_interval_s must not be negative")

    @property
    def pixel_pitch_mm(self) -> float:
        return self.sensor_width_mm / self.image_width_px

    @property
    def focal_length_px(self) -> float:
        return self.focal_length_mm / self.pixel_pitch_mm

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2 * math.atan(self.sensor_width_mm / (2 * self.focal_length_mm)))

    @property
    def vfov_deg(self) -> float:
        return math.degrees(2 * math.atan(self.sensor_height_mm / (2 * self.focal_length_mm)))

    def gsd_m(self, altitude_m: float) -> float:
        """Ground sample distance (metres per pixel) looking straight down from ``altitude_m``."""
        return altitude_m * self.sensor_width_mm / (self.focal_length_mm * self.image_width_px)

    def altitude_for_gsd(self, gsd_m: float) -> float:
        """Height above ground that gives ``gsd_m`` metres per pixel at nadir."""
        if gsd_m <= 0:
            raise ProfileError(f"ground sample distance must be positive, got {gsd_m}")
        return gsd_m * self.focal_length_mm * self.image_width_px / self.sensor_width_mm

    def footprint_m(self, altitude_m: float) -> tuple[float, float]:
        """Nadir ground footprint (width along the image's long side, height), metres."""
        scale = altitude_m / self.focal_length_mm
        return self.sensor_width_mm * scale, self.sensor_height_mm * scale


@dataclass(frozen=True)
class AircraftProfile:
    """What the planner needs to know of a multirotor.

    Energy figures (see :attr:`energy`): ``endurance_s`` is level flight at
    ``cruise_speed_ms`` from a full pack to empty (the makers' "max flight time");
    ``hover_endurance_s`` the same hovering (``None``: as ``endurance_s``); ``power_curve``,
    when measured, gives level-flight power at several speeds relative to hover power
    (``((0, 1.0), (6, 1.01), ...)``) and then ``hover_endurance_s`` is not needed;
    ``climb_power_per_ms`` / ``descent_power_per_ms`` are the power added per m/s of climb
    and saved per m/s of descent, as fractions of hover power.  ``reserve_fraction`` of the
    pack is never planned to be used.
    """

    name: str
    cruise_speed_ms: float = 10.0
    max_speed_ms: float = 15.0
    climb_rate_ms: float = 2.5
    descent_rate_ms: float = 1.5
    acceleration_ms2: float = 2.5
    endurance_s: float = 1200.0
    reserve_fraction: float = 0.25
    max_altitude_m: float = 120.0
    battery_capacity_mah: float = 5000.0
    battery_voltage_v: float = 14.8
    hover_endurance_s: float | None = None
    power_curve: tuple[tuple[float, float], ...] | None = None
    climb_power_per_ms: float = 0.06
    descent_power_per_ms: float = 0.05
    description: str = ""
    # DJI route files (WPML): droneEnumValue / droneSubEnumValue; None = no DJI route format.
    wpml_drone: int | None = None
    wpml_drone_sub: int = 0
    # The cameras this aircraft carries (profile names); empty = any camera.
    cameras: tuple[str, ...] = ()

    def __post_init__(self):
        for f in ("cruise_speed_ms", "max_speed_ms", "climb_rate_ms", "descent_rate_ms",
                  "acceleration_ms2", "endurance_s", "max_altitude_m", "battery_capacity_mah",
                  "battery_voltage_v"):
            if not getattr(self, f) > 0:
                raise ProfileError(f"aircraft {self.name!r}: {f} must be positive, got {getattr(self, f)!r}")
        if not 0 <= self.reserve_fraction < 1:
            raise ProfileError(f"aircraft {self.name!r}: reserve_fraction must be in [0, 1)")
        if self.cruise_speed_ms > self.max_speed_ms:
            raise ProfileError(f"aircraft {self.name!r}: cruise speed is above its max speed")
        if self.hover_endurance_s is not None and not self.hover_endurance_s > 0:
            raise ProfileError(f"aircraft {self.name!r}: hover_endurance_s must be positive")
        if self.power_curve is not None:
            try:  # TOML/JSON give lists: keep a hashable tuple of (speed, ratio) pairs
                curve = tuple((float(v), float(r)) for v, r in self.power_curve)
            except (TypeError, ValueError):
                raise ProfileError(f"aircraft {self.name!r}: power_curve must be a list of "
                                   "[speed m/s, power relative to hover] pairs") from None
            if not curve or curve[0] != (0.0, 1.0):
                raise ProfileError(f"aircraft {self.name!r}: power_curve must start at [0, 1.0] "
                                   "(hover is the reference)")
            object.__setattr__(self, "power_curve", curve)
        if isinstance(self.cameras, str) or not all(isinstance(c, str) for c in self.cameras):
            raise ProfileError(f"aircraft {self.name!r}: cameras must be a list of camera names")
        object.__setattr__(self, "cameras", tuple(self.cameras))  # TOML/JSON give lists
        self.energy  # noqa: B018 - a bad curve or power is refused here, not mid-plan

    @cached_property
    def energy(self) -> EnergyModel:
        """The aircraft's energy model (the one the planner, simulator and rehearsal use).

        Level-flight power at cruise speed is what empties the pack in ``endurance_s``;
        the power curve's shape comes from ``power_curve`` when given, else from hover power
        (what empties it in ``hover_endurance_s``) and, above cruise speed, a rise to 1.25×
        cruise power at ``max_speed_ms`` (an estimate: drag grows with speed).
        """
        pack_j = self.battery_capacity_mah / 1000.0 * self.battery_voltage_v * 3600.0
        cruise_w = pack_j / self.endurance_s
        if self.power_curve is not None:
            v = np.array([p[0] for p in self.power_curve])
            r = np.array([p[1] for p in self.power_curve])
            ratio = float(np.interp(self.cruise_speed_ms, v, r))
            hover_w = cruise_w / ratio
            speeds, level = tuple(v.tolist()), tuple((r * hover_w).tolist())
        else:
            hover_w = pack_j / (self.hover_endurance_s or self.endurance_s)
            speeds, level = (0.0, self.cruise_speed_ms), (hover_w, cruise_w)
            if self.max_speed_ms > self.cruise_speed_ms:
                speeds, level = speeds + (self.max_speed_ms,), level + (1.25 * cruise_w,)
        return EnergyModel(capacity_mah=self.battery_capacity_mah, voltage_v=self.battery_voltage_v,
                           speeds_ms=speeds, level_w=level,
                           climb_w_per_ms=self.climb_power_per_ms * hover_w,
                           descent_w_per_ms=self.descent_power_per_ms * hover_w,
                           reserve_fraction=self.reserve_fraction)

    def check_camera(self, camera: CameraProfile | None) -> None:
        """Refuse a camera this aircraft cannot carry (``--aircraft mavic3e --camera m3t-thermal``)."""
        if camera is None or not self.cameras or camera.name in self.cameras:
            return
        carriers = sorted(a.name for a in AIRCRAFT.values() if camera.name in a.cameras)
        hint = f"; {camera.name} flies on: {', '.join(carriers)}" if carriers else ""
        raise ProfileError(f"aircraft {self.name!r} cannot carry camera {camera.name!r}: its cameras are "
                           f"{', '.join(self.cameras)}{hint}")

    @property
    def usable_endurance_s(self) -> float:
        """Level flight at cruise speed available before the reserve is touched."""
        return self.endurance_s * (1.0 - self.reserve_fraction)


# Figures are the makers' published specifications.
CAMERAS: dict[str, CameraProfile] = {c.name: c for c in [
    CameraProfile("phantom4pro", 13.2, 8.8, 8.8, 5472, 3648, 2.0,
                  description="DJI Phantom 4 Pro / Pro V2.0, 1-inch 20 MP, 24 mm equiv."),
    CameraProfile("phantom4rtk", 13.2, 8.8, 8.8, 5472, 3648, 2.0,
                  description="DJI Phantom 4 RTK FC6310R, 1-inch 20 MP"),
    CameraProfile("mavic3e-wide", 17.3, 13.0, 12.29, 5280, 3956, 0.7,
                  description="DJI Mavic 3 Enterprise wide camera, 4/3 CMOS 20 MP",
                  wpml_payload=66, wpml_lens="wide"),
    CameraProfile("m3t-wide", 6.4, 4.8, 4.4, 8000, 6000, 0.7,
                  description="DJI Mavic 3 Thermal wide camera, 1/2-inch 48 MP",
                  wpml_payload=67, wpml_lens="wide"),
    CameraProfile("m3t-thermal", 7.68, 6.144, 9.1, 640, 512, 2.0, thermal=True,
                  description="DJI Mavic 3 Thermal radiometric camera, 640x512 12 um VOx",
                  wpml_payload=67, wpml_lens="ir"),
    # M30T: DJI lists a 1/2-inch 48 MP wide camera, 4.5 mm (24 mm equivalent), and the same
    # 640x512 12 um thermal core as the Mavic 3T, 9.1 mm (40 mm equivalent).
    CameraProfile("m30t-wide", 6.4, 4.8, 4.5, 8000, 6000, 0.7,
                  description="DJI Matrice 30T wide camera, 1/2-inch 48 MP",
                  wpml_payload=53, wpml_lens="wide"),
    CameraProfile("m30t-thermal", 7.68, 6.144, 9.1, 640, 512, 2.0, thermal=True,
                  description="DJI Matrice 30T radiometric camera, 640x512 12 um VOx",
                  wpml_payload=53, wpml_lens="ir"),
    # Zenmuse H20T: DJI lists the wide camera as 1/2.3-inch 12 MP (4056x3040), 4.5 mm, DFOV
    # 82.9 deg (the sensor size here is derived from those: 7.94 mm diagonal, 4:3), and the
    # thermal camera as 640x512 12 um VOx, 13.5 mm.  The 2 s interval is an estimate.
    CameraProfile("h20t-wide", 6.35, 4.76, 4.5, 4056, 3040, 2.0,
                  description="DJI Zenmuse H20T wide camera, 1/2.3-inch 12 MP",
                  wpml_payload=43, wpml_lens="wide"),
    CameraProfile("h20t-thermal", 7.68, 6.144, 13.5, 640, 512, 2.0, thermal=True,
                  description="DJI Zenmuse H20T radiometric camera, 640x512 12 um VOx",
                  wpml_payload=43, wpml_lens="ir"),
    CameraProfile("flir-vue-pro-640-13mm", 10.88, 8.704, 13.0, 640, 512, 1.0, thermal=True,
                  description="FLIR Vue Pro R 640, 13 mm lens, 17 um"),
    CameraProfile("phantom3-fc300s", 6.17, 4.55, 3.61, 4000, 3000, 2.0,
                  description="DJI Phantom 3 Professional FC300S, 1/2.3-inch 12 MP"),
    CameraProfile("mavic2pro", 13.2, 8.8, 10.26, 5472, 3648, 2.0,
                  description="DJI Mavic 2 Pro Hasselblad L1D-20c, 1-inch 20 MP"),
]}

# Where the numbers come from (README, "Aircraft profiles", says the same):
# DJI presets: the makers' published specifications — max flight time (level flight, full to
# empty, no wind, measured by DJI at about 9 m/s), max hover time, battery mAh and volts, speeds
# and climb/descent rates.  Estimates, not published: power at max speed (1.25x cruise power),
# the climb/descent power (momentum theory, 6 %/5 % of hover power per m/s), and the Phantom 4
# Pro's hover time (not published: taken equal to its flight time).  The M30T flies on two TB30
# packs at once (5880 mAh, 131.6 Wh each); their volts are taken as 131.6 Wh / 5.88 Ah = 22.38 V
# (6S Li-ion nominal; DJI also lists 26.1 V, which does not give 131.6 Wh with 5880 mAh).
# arducopter-quad: measured on ArduPilot's own SITL (ArduCopter 4.7.0-dev, --model quad = plus, its
# copter.parm; 12.6 V pack, 10 Ah): velocity-held phases at 0-10 m/s and -2.5..+4 m/s climb,
# SYS_STATUS current averaged over the steady part; tests/simulators/test_energy_drain.py flies a
# mixed flight on either backend and checks the charge used against this model within 10 %.
AIRCRAFT: dict[str, AircraftProfile] = {a.name: a for a in [
    AircraftProfile("mavic3e", cruise_speed_ms=10, max_speed_ms=15, climb_rate_ms=6,
                    descent_rate_ms=4, endurance_s=45 * 60, hover_endurance_s=38 * 60,
                    reserve_fraction=0.25, battery_capacity_mah=5000, battery_voltage_v=15.4,
                    description="DJI Mavic 3 Enterprise (77 Wh pack)",
                    wpml_drone=77, wpml_drone_sub=0, cameras=("mavic3e-wide",)),
    # The Mavic 3T is the same airframe and pack; DJI lists the same flight and hover times.
    AircraftProfile("mavic3t", cruise_speed_ms=10, max_speed_ms=15, climb_rate_ms=6,
                    descent_rate_ms=4, endurance_s=45 * 60, hover_endurance_s=38 * 60,
                    reserve_fraction=0.25, battery_capacity_mah=5000, battery_voltage_v=15.4,
                    description="DJI Mavic 3 Thermal (77 Wh pack)",
                    wpml_drone=77, wpml_drone_sub=1, cameras=("m3t-wide", "m3t-thermal")),
    AircraftProfile("phantom4pro", cruise_speed_ms=10, max_speed_ms=15, climb_rate_ms=5,
                    descent_rate_ms=3, endurance_s=30 * 60, reserve_fraction=0.25,
                    battery_capacity_mah=5870, battery_voltage_v=15.2,
                    description="DJI Phantom 4 Pro V2.0 (89.2 Wh pack)"),
    AircraftProfile("m30t", cruise_speed_ms=12, max_speed_ms=23, climb_rate_ms=6,
                    descent_rate_ms=5, endurance_s=41 * 60, hover_endurance_s=36 * 60,
                    reserve_fraction=0.25, battery_capacity_mah=2 * 5880, battery_voltage_v=22.38,
                    description="DJI Matrice 30T (two TB30 packs, 2 x 131.6 Wh)",
                    wpml_drone=67, wpml_drone_sub=1, cameras=("m30t-wide", "m30t-thermal")),
    # M300 RTK / M350 RTK with a Zenmuse H20T: DJI's flight times are without payload (55 min;
    # M350 hover 53 min), so these plans are optimistic with an H20T aboard: fly one battery
    # and compare.  Two packs at once: TB60 5935 mAh / 274 Wh (volts taken as Wh / Ah =
    # 46.17 V; DJI also lists 52.8 V, which does not give 274 Wh), TB65 5880 mAh / 44.76 V /
    # 263.2 Wh.  Both: 23 m/s max, 6 m/s climb, 5 m/s descent.
    AircraftProfile("m300", cruise_speed_ms=12, max_speed_ms=23, climb_rate_ms=6,
                    descent_rate_ms=5, endurance_s=55 * 60, reserve_fraction=0.25,
                    battery_capacity_mah=2 * 5935, battery_voltage_v=46.17,
                    description="DJI Matrice 300 RTK (two TB60 packs, 2 x 274 Wh)",
                    wpml_drone=60, wpml_drone_sub=0, cameras=("h20t-wide", "h20t-thermal")),
    AircraftProfile("m350", cruise_speed_ms=12, max_speed_ms=23, climb_rate_ms=6,
                    descent_rate_ms=5, endurance_s=55 * 60, hover_endurance_s=53 * 60,
                    reserve_fraction=0.25, battery_capacity_mah=2 * 5880, battery_voltage_v=44.76,
                    description="DJI Matrice 350 RTK (two TB65 packs, 2 x 263.2 Wh)",
                    wpml_drone=89, wpml_drone_sub=0, cameras=("h20t-wide", "h20t-thermal")),
    # Speeds match the simulated copter's defaults (ArduCopter WPNAV_SPEED 10 m/s,
    # WPNAV_SPEED_UP 2.5 m/s, WPNAV_SPEED_DN 1.5 m/s) so rehearsals and plans agree.  SITL's
    # quad (plus) frame draws 28.1 A hovering and 30.6 A at 10 m/s (its top level speed; 15 m/s is
    # asked of it but not reached) at 12.6 V; climbing adds 0.99 A per m/s (at 2.5 m/s),
    # descending saves 0.92 A per m/s (at 2.5 m/s).  endurance_s = 126 Wh / 385.6 W.
    AircraftProfile("arducopter-quad", cruise_speed_ms=10, max_speed_ms=15, climb_rate_ms=2.5,
                    descent_rate_ms=1.5, endurance_s=1176.0, reserve_fraction=0.25,
                    battery_capacity_mah=10000, battery_voltage_v=12.6,
                    power_curve=((0, 1.0), (3, 1.003), (6, 1.0135), (9, 1.0566), (10, 1.0886)),
                    climb_power_per_ms=0.0353, descent_power_per_ms=0.0326,
                    description="Generic ArduCopter quad (SITL default, measured on SITL)"),
]}

DEFAULT_CAMERA = "mavic3e-wide"
DEFAULT_AIRCRAFT = "arducopter-quad"
PROFILES_ENV = "UAV_PROFILES"


def _from_mapping(cls, name: str, data: dict):
    known = {f.name for f in fields(cls)} - {"name"}
    unknown = set(data) - known
    if unknown:
        raise ProfileError(f"{cls.__name__[:-7].lower()} {name!r}: unknown field(s) "
                           f"{', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    try:
        return cls(name=name, **data)
    except TypeError as exc:
        raise ProfileError(f"{name!r}: {exc}") from None


def load_profiles(path: str | os.PathLike) -> tuple[dict[str, CameraProfile], dict[str, AircraftProfile]]:
    """Read user camera and aircraft profiles from a TOML or JSON file.

    The file has tables ``camera.<name>`` and ``aircraft.<name>``; a camera may also name a
    preset in ``base`` and override some of its fields.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"cannot read profiles file {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProfileError(f"profiles file {path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {exc}") from None
    cams: dict[str, CameraProfile] = {}
    planes: dict[str, AircraftProfile] = {}
    for kind, target, cls, presets in (("camera", cams, CameraProfile, CAMERAS),
                                       ("aircraft", planes, AircraftProfile, AIRCRAFT)):
        for name, spec in (data.get(kind) or {}).items():
            spec = dict(spec)
            base = spec.pop("base", None)
            if base is not None:
                if base not in presets:
                    raise ProfileError(f"{kind} {name!r} in {path}: unknown base preset {base!r}")
                merged = asdict(presets[base])
                merged.pop("name")
                merged.update(spec)
                spec = merged
            target[name] = _from_mapping(cls, name, spec)
    return cams, planes


def _user_profiles(profiles_file):
    path = profiles_file or os.environ.get(PROFILES_ENV)
    return load_profiles(path) if path else ({}, {})


def get_camera(name: str, profiles_file: str | os.PathLike | None = None) -> CameraProfile:
    """A camera by name: user profiles first, then presets."""
    cams, _ = _user_profiles(profiles_file)
    found = cams.get(name) or CAMERAS.get(name)
    if found is None:
        raise ProfileError(f"unknown camera {name!r}; known: {', '.join(sorted({*CAMERAS, *cams}))}")
    return found


def get_aircraft(name: str, profiles_file: str | os.PathLike | None = None) -> AircraftProfile:
    """An aircraft by name: user profiles first, then presets."""
    _, planes = _user_profiles(profiles_file)
    found = planes.get(name) or AIRCRAFT.get(name)
    if found is None:
        raise ProfileError(f"unknown aircraft {name!r}; known: {', '.join(sorted({*AIRCRAFT, *planes}))}")
    return found
