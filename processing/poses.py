"""Camera poses and intrinsics read from the frames themselves (EXIF GPS, DJI and Camera XMP).

Angle convention (DJI's, used everywhere in ``processing``): ``yaw`` is the compass heading of
the camera's forward direction (degrees clockwise from true north), ``pitch`` is the tilt of the
optical axis from the horizon (0 level, -90 straight down), ``roll`` turns the image about the
optical axis.  At nadir, the top of the image points towards ``yaw``.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field, replace

import numpy as np

from uav.errors import FrameError, PoseError
from uav.profiles import CAMERAS, CameraProfile

from .frames import FrameMeta

__all__ = ["Pose", "Intrinsics", "pose_from_metadata", "intrinsics_from_metadata",
           "profile_for_model"]


@dataclass(slots=True)  # one per frame of a flight: kept small
class Pose:
    """Where the camera was and where it looked when the frame was taken.

    ``alt_amsl`` is the GPS altitude (above mean sea level as the drone reports it), ``alt_rel``
    the height above the take-off point.  ``source`` says where the figures came from
    (``'xmp'``, ``'exif'``, ``'telemetry'``...); ``notes`` lists any assumption made.
    """

    lat: float
    lon: float
    alt_amsl: float | None = None
    alt_rel: float | None = None
    yaw: float | None = None
    pitch: float = -90.0
    roll: float = 0.0
    flight_yaw: float | None = None
    time: _dt.datetime | None = None
    source: str = "exif"
    yaw_corrected: bool = False
    notes: list[str] = field(default_factory=list)
    # registration's turn of the whole camera about the map's east and north axes (degrees),
    # after yaw, pitch and roll: near nadir a tilt written into those angles would swing the
    # yaw far from the heading (gimbal lock), so it is kept apart
    tilt: tuple[float, float] = (0.0, 0.0)

    def with_yaw(self, yaw: float, note: str, corrected: bool = True) -> Pose:
        return replace(self, yaw=_wrap180(yaw), yaw_corrected=corrected or self.yaw_corrected,
                       notes=[*self.notes, note])


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera (plus optional Brown distortion), in pixels of the frame as stored.

    ``distortion`` is OpenCV's ``(k1, k2, p1, p2, k3)``.
    """

    focal_px: float
    cx: float
    cy: float
    width: int
    height: int
    distortion: tuple[float, ...] | None = None
    focal_py: float | None = None
    source: str = ""

    def __post_init__(self):
        if not (self.focal_px > 0 and self.width > 0 and self.height > 0):
            raise FrameError(f"camera intrinsics are not usable: focal {self.focal_px} px, "
                             f"size {self.width}x{self.height}")

    @property
    def fy(self) -> float:
        return self.focal_py or self.focal_px

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.focal_px, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2 * math.atan(self.width / (2 * self.focal_px)))


def _wrap180(a: float) -> float:
    if -180.0 <= a < 180.0:
        return a  # keep the tag's exact value
    return (a + 180.0) % 360.0 - 180.0


def _rational(v) -> float:
    if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, int) for x in v):
        if v[1] == 0:
            raise ZeroDivisionError
        return v[0] / v[1]
    return float(v)


def _dms(v) -> float:
    d, m, s = (_rational(x) for x in v)
    return d + m / 60.0 + s / 3600.0


def _xmp_float(xmp: dict, *keys: str) -> float | None:
    for k in keys:
        if k in xmp and xmp[k] not in ("", "Undefined"):
            try:
                return float(xmp[k])
            except ValueError:
                continue
    return None


def pose_from_metadata(meta: FrameMeta) -> Pose:
    """The camera pose a frame carries in its EXIF GPS and XMP tags.

    Position: DJI XMP ``GpsLatitude``/``GpsLongtitude`` (more digits on RTK drones) or EXIF GPS;
    altitude: XMP ``AbsoluteAltitude`` or EXIF ``GPSAltitude``, and ``RelativeAltitude``.
    Orientation: DJI ``Gimbal{Yaw,Pitch,Roll}Degree``, else the generic ``Camera:`` (senseFly,
    Pix4D, Sentera) ``Yaw/Pitch/Roll`` whose pitch is 0 at nadir (converted), else nadir is
    assumed with an unknown yaw (noted in ``notes``).

    Raises
    ------
    PoseError
        The frame has no GPS position, or a damaged one.
    """
    exif, xmp, path = meta.exif, meta.xmp, meta.path
    lat = _xmp_float(xmp, "drone-dji:GpsLatitude", "drone-dji:Latitude")
    lon = _xmp_float(xmp, "drone-dji:GpsLongtitude", "drone-dji:GpsLongitude", "drone-dji:Longitude")
    source = "xmp"
    if lat is None or lon is None:
        source = "exif"
        if not exif:
            raise PoseError(f"{path} has no EXIF metadata, so no GPS position (was it stripped by "
                            f"an editor or a messaging app?); give a telemetry log to place it")
        if "GPSLatitude" not in exif or "GPSLongitude" not in exif:
            raise PoseError(f"{path} has no GPS position in its EXIF (taken without GPS lock, or "
                            f"the tags were removed); give a telemetry log to place it")
        try:
            lat = _dms(exif["GPSLatitude"])
            lon = _dms(exif["GPSLongitude"])
        except (ZeroDivisionError, TypeError, ValueError):
            raise PoseError(f"{path}: its EXIF GPS position is damaged "
                            f"({exif.get('GPSLatitude')!r}, {exif.get('GPSLongitude')!r})") from None
        if str(exif.get("GPSLatitudeRef", "N")).upper().startswith("S"):
            lat = -lat
        if str(exif.get("GPSLongitudeRef", "E")).upper().startswith("W"):
            lon = -lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PoseError(f"{path}: GPS position {lat}, {lon} is not on Earth")
    if abs(lat) < 1e-9 and abs(lon) < 1e-9:
        raise PoseError(f"{path}: GPS position is 0, 0 (the drone had no GPS fix when it took it)")

    alt_amsl = _xmp_float(xmp, "drone-dji:AbsoluteAltitude")
    if alt_amsl is None and "GPSAltitude" in exif:
        try:
            alt_amsl = _rational(exif["GPSAltitude"])
            if exif.get("GPSAltitudeRef") in (1, b"\x01"):
                alt_amsl = -alt_amsl
        except (ZeroDivisionError, TypeError, ValueError):
            alt_amsl = None
    alt_rel = _xmp_float(xmp, "drone-dji:RelativeAltitude")

    notes: list[str] = []
    yaw = _xmp_float(xmp, "drone-dji:GimbalYawDegree")
    pitch = _xmp_float(xmp, "drone-dji:GimbalPitchDegree")
    roll = _xmp_float(xmp, "drone-dji:GimbalRollDegree")
    if yaw is None and pitch is None:
        cy, cp, cr = (_xmp_float(xmp, f"Camera:{k}") for k in ("Yaw", "Pitch", "Roll"))
        if cp is not None or cy is not None:
            yaw, roll = cy, cr
            pitch = None if cp is None else cp - 90.0  # Camera:Pitch is 0 at nadir
            source += "+camera-xmp"
    flight_yaw = _xmp_float(xmp, "drone-dji:FlightYawDegree")
    if pitch is None:
        pitch = -90.0
        notes.append("no camera pitch in the frame: nadir assumed")
    if yaw is None:
        notes.append("no camera yaw in the frame")
    return Pose(lat=lat, lon=lon, alt_amsl=alt_amsl, alt_rel=alt_rel,
                yaw=None if yaw is None else _wrap180(yaw), pitch=pitch, roll=roll or 0.0,
                flight_yaw=flight_yaw, time=meta.time, source=source, notes=notes)


def profile_for_model(model: str | None) -> CameraProfile | None:
    """The built-in camera profile whose description names this EXIF model (e.g. ``FC300S``)."""
    if not model:
        return None
    token = model.strip().upper()
    for prof in CAMERAS.values():
        words = prof.description.upper().replace(",", " ").split()
        if token in words:
            return prof
    return None


def intrinsics_from_metadata(meta: FrameMeta, camera: CameraProfile | None = None,
                             width: int | None = None, height: int | None = None) -> Intrinsics:
    """The frame's pinhole camera, from the best source available.

    In order: a camera profile given by the user (with the EXIF focal length when the lens
    zooms), DJI ``DewarpData`` / ``CalibratedFocalLength`` (scaled to the stored frame size),
    EXIF ``FocalLength`` with ``FocalPlaneXResolution``, EXIF ``FocalLength`` with the sensor
    width of a built-in profile matching the EXIF model, EXIF ``FocalLengthIn35mmFilm``
    (taken as 36 mm across the image's long side).

    Raises
    ------
    FrameError
        Nothing in the frame or the profile gives the focal length.
    """
    exif, xmp = meta.exif, meta.xmp
    W = width or meta.width
    H = height or meta.height
    if not W or not H:
        raise FrameError(f"{meta.path}: image size unknown (no size in the file header)")
    focal_mm = None
    if "FocalLength" in exif:
        try:
            focal_mm = _rational(exif["FocalLength"]) or None
        except (ZeroDivisionError, TypeError, ValueError):
            focal_mm = None
    long_side = max(W, H)

    def centred(f, src, dist=None, cx=None, cy=None):
        return Intrinsics(focal_px=f, cx=(W - 1) / 2.0 if cx is None else cx,
                          cy=(H - 1) / 2.0 if cy is None else cy, width=W, height=H,
                          distortion=dist, source=src)

    if camera is not None:
        f_mm = focal_mm or camera.focal_length_mm
        return centred(f_mm / camera.sensor_width_mm * long_side, f"profile {camera.name}")

    # DJI calibration, in pixels of the full-resolution sensor readout.
    ocx = _xmp_float(xmp, "drone-dji:CalibratedOpticalCenterX")
    ocy = _xmp_float(xmp, "drone-dji:CalibratedOpticalCenterY")
    full_w = 2.0 * ocx if ocx else None
    scale = W / full_w if full_w else 1.0
    dewarp = xmp.get("drone-dji:DewarpData")
    if dewarp and full_w:
        try:
            vals = [float(v) for v in dewarp.split(";")[-1].split(",")]
            fx, fy, dcx, dcy, k1, k2, p1, p2, k3 = vals[:9]
            return Intrinsics(focal_px=fx * scale, focal_py=fy * scale,
                              cx=(ocx + dcx + 0.5) * scale - 0.5,
                              cy=(ocy + dcy + 0.5) * scale - 0.5, width=W, height=H,
                              distortion=(k1, k2, p1, p2, k3), source="xmp DewarpData")
        except (ValueError, TypeError):
            pass  # damaged calibration: fall back to the plain focal length
    cal = _xmp_float(xmp, "drone-dji:CalibratedFocalLength")
    if cal and full_w:
        return centred(cal * scale, "xmp CalibratedFocalLength")

    if focal_mm and "FocalPlaneXResolution" in exif:
        try:
            res = _rational(exif["FocalPlaneXResolution"])
            unit = exif.get("FocalPlaneResolutionUnit", 2)
            mm_per_unit = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}.get(unit)
            if res > 0 and mm_per_unit:
                # resolution is of the sensor's full readout; a downsampled file keeps the tag
                px_per_mm = res / mm_per_unit
                tagged_w = exif.get("PixelXDimension")
                f_px = focal_mm * px_per_mm
                if isinstance(tagged_w, int) and tagged_w > 0 and tagged_w != W:
                    f_px *= W / tagged_w
                return centred(f_px, "exif FocalPlaneXResolution")
        except (ZeroDivisionError, TypeError, ValueError):
            pass
    prof = profile_for_model(meta.model)
    if focal_mm and prof is not None:
        return centred(focal_mm / prof.sensor_width_mm * long_side, f"exif FocalLength + profile {prof.name}")
    f35 = exif.get("FocalLengthIn35mmFilm")
    if isinstance(f35, int) and f35 > 0:
        return centred(f35 / 36.0 * long_side, "exif FocalLengthIn35mmFilm")
    if prof is not None:
        return centred(prof.focal_length_px * long_side / prof.image_width_px, f"profile {prof.name}")
    raise FrameError(f"{meta.path}: no focal length in the frame (no EXIF FocalLength with sensor "
                     f"size, no 35 mm equivalent, no DJI calibration) and camera model "
                     f"{meta.model or 'unknown'} has no built-in profile; give --camera NAME")
