"""Frames of the simulated camera as files: JPEG + EXIF + DJI-style XMP, and the truth file.

Each frame carries what a real DJI frame carries, so processing reads simulated and real
frames the same way:

* EXIF (piexif): Make, Model, DateTimeOriginal (UTC), GPS latitude/longitude/altitude with their
  refs, FocalLength, FocalPlaneX/YResolution in pixels per centimetre *at the rendered
  resolution* (so ``fx = FocalLength * FocalPlaneXResolution / 10``), FocalLengthIn35mmFilm,
  image size.
* XMP in its own APP1 segment (``http://ns.adobe.com/xap/1.0/``) laid out as DJI writes it:
  ``drone-dji:`` Gimbal/Flight Yaw/Pitch/Roll degrees, RelativeAltitude, AbsoluteAltitude,
  GpsLatitude/GpsLongitude, CalibratedFocalLength and optical centre (pixels).

:class:`FrameCollector` is fed one camera trigger at a time (from CAMERA_FEEDBACK) and writes
``truth.json`` listing the scene's objects and, per frame, which objects are in it and where.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import piexif

from uav.errors import InvalidInputError, SimulatorError
from uav.files import write_atomic
from uav.profiles import CameraProfile

from .camera import SimCamera
from .scene import Scene

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
TRUTH_FORMAT = "amur-uav-sim-truth/1"
# Mid-April, early afternoon in Primorye (UTC+10): the spring fire season.
DEFAULT_START = datetime(2024, 4, 20, 4, 0, 0, tzinfo=timezone.utc)
MAKE = "amur-uav"


@dataclass(frozen=True)
class FramePose:
    """Where the camera was and how it pointed when a frame was taken.

    Gimbal angles follow DJI: yaw is the compass heading of the optical axis' horizontal
    direction, pitch -90 is nadir.  Flight angles are the aircraft's attitude.
    """

    lat: float
    lon: float
    alt_amsl: float
    alt_rel: float
    gimbal_yaw_deg: float
    gimbal_pitch_deg: float = -90.0
    gimbal_roll_deg: float = 0.0
    flight_yaw_deg: float = 0.0
    flight_pitch_deg: float = 0.0
    flight_roll_deg: float = 0.0

    def __post_init__(self):
        for k, v in asdict(self).items():
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InvalidInputError(f"frame pose: {k} must be a finite number, got {v!r}")
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise InvalidInputError(f"frame pose: lat={self.lat}, lon={self.lon} is not a position")

    def to_dict(self) -> dict:
        return {k: round(v, 8 if k in ("lat", "lon") else 3) for k, v in asdict(self).items()}


def rendered_size(camera: CameraProfile, scale: float) -> tuple[int, int]:
    """(width, height) of frames rendered at ``scale`` (matches :class:`SimCamera`)."""
    return (max(8, int(round(camera.image_width_px * scale))),
            max(8, int(round(camera.image_height_px * scale))))


def _rational(value: float, denominator: int) -> tuple[int, int]:
    return int(round(value * denominator)), denominator


def _dms(deg: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    deg = abs(deg)
    d = int(deg)
    m = int((deg - d) * 60)
    s = (deg - d - m / 60.0) * 3600.0
    if s >= 59.999995:  # rounding would write 60 seconds
        s, m = 0.0, m + 1
        if m == 60:
            m, d = 0, d + 1
    return (d, 1), (m, 1), _rational(s, 100000)


def _as_datetime(time) -> datetime:
    if isinstance(time, datetime):
        return time if time.tzinfo else time.replace(tzinfo=timezone.utc)
    if isinstance(time, (int, float)) and math.isfinite(time):
        return datetime.fromtimestamp(float(time), tz=timezone.utc)
    raise InvalidInputError(f"frame time must be a datetime or UNIX seconds, got {time!r}")


def exif_bytes(pose: FramePose, camera: CameraProfile, time, scale: float) -> bytes:
    """The EXIF block (``Exif\\0\\0`` + TIFF) for a frame."""
    width, height = rendered_size(camera, scale)
    when = _as_datetime(time).astimezone(timezone.utc)
    stamp = when.strftime("%Y:%m:%d %H:%M:%S").encode()
    # Square pixels at the rendered size: the pixel pitch follows the sensor width.
    px_per_cm = width / (camera.sensor_width_mm / 10.0)
    diag = math.hypot(camera.sensor_width_mm, camera.sensor_height_mm)
    f35 = int(round(camera.focal_length_mm * math.hypot(36.0, 24.0) / diag))
    model = f"sim-{camera.name}".encode()
    zeroth = {
        piexif.ImageIFD.Make: MAKE.encode(),
        piexif.ImageIFD.Model: model,
        piexif.ImageIFD.ImageWidth: width,
        piexif.ImageIFD.ImageLength: height,
        piexif.ImageIFD.Orientation: 1,
        piexif.ImageIFD.Software: b"amur-uav simulated camera",
        piexif.ImageIFD.DateTime: stamp,
        piexif.ImageIFD.XResolution: (72, 1),
        piexif.ImageIFD.YResolution: (72, 1),
        piexif.ImageIFD.ResolutionUnit: 2,
    }
    exif = {
        piexif.ExifIFD.DateTimeOriginal: stamp,
        piexif.ExifIFD.DateTimeDigitized: stamp,
        piexif.ExifIFD.OffsetTimeOriginal: b"+00:00",
        piexif.ExifIFD.SubSecTimeOriginal: f"{when.microsecond // 1000:03d}".encode(),
        piexif.ExifIFD.FocalLength: _rational(camera.focal_length_mm, 1000),
        piexif.ExifIFD.FocalPlaneXResolution: _rational(px_per_cm, 1000),
        piexif.ExifIFD.FocalPlaneYResolution: _rational(px_per_cm, 1000),
        piexif.ExifIFD.FocalPlaneResolutionUnit: 3,  # centimetres
        piexif.ExifIFD.FocalLengthIn35mmFilm: f35,
        piexif.ExifIFD.PixelXDimension: width,
        piexif.ExifIFD.PixelYDimension: height,
        piexif.ExifIFD.ExifVersion: b"0230",
        piexif.ExifIFD.ColorSpace: 1,
    }
    gps = {
        piexif.GPSIFD.GPSVersionID: (2, 3, 0, 0),
        piexif.GPSIFD.GPSLatitudeRef: b"N" if pose.lat >= 0 else b"S",
        piexif.GPSIFD.GPSLatitude: _dms(pose.lat),
        piexif.GPSIFD.GPSLongitudeRef: b"E" if pose.lon >= 0 else b"W",
        piexif.GPSIFD.GPSLongitude: _dms(pose.lon),
        piexif.GPSIFD.GPSAltitudeRef: 0 if pose.alt_amsl >= 0 else 1,
        piexif.GPSIFD.GPSAltitude: _rational(abs(pose.alt_amsl), 1000),
        piexif.GPSIFD.GPSMapDatum: b"WGS-84",
        piexif.GPSIFD.GPSTimeStamp: ((when.hour, 1), (when.minute, 1),
                                     _rational(when.second + when.microsecond / 1e6, 1000)),
        piexif.GPSIFD.GPSDateStamp: when.strftime("%Y:%m:%d").encode(),
    }
    return piexif.dump({"0th": zeroth, "Exif": exif, "GPS": gps})


def xmp_packet(pose: FramePose, camera: CameraProfile, time, scale: float) -> bytes:
    """A DJI-style XMP packet (what follows the ``http://ns.adobe.com/xap/1.0/`` header)."""
    width, height = rendered_size(camera, scale)
    f_px = camera.focal_length_mm * width / camera.sensor_width_mm
    when = _as_datetime(time).astimezone(timezone.utc)
    day = when.strftime("%Y-%m-%d")

    def sgn(v: float) -> str:
        return f"{v:+.2f}"

    text = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="DJI Meta Data"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/"
   xmp:ModifyDate="{day}"
   xmp:CreateDate="{day}"
   tiff:Make="{MAKE}"
   tiff:Model="sim-{camera.name}"
   dc:format="image/jpeg"
   drone-dji:GpsLatitude="{pose.lat:+.8f}"
   drone-dji:GpsLongitude="{pose.lon:+.8f}"
   drone-dji:AbsoluteAltitude="{sgn(pose.alt_amsl)}"
   drone-dji:RelativeAltitude="{sgn(pose.alt_rel)}"
   drone-dji:GimbalRollDegree="{sgn(pose.gimbal_roll_deg)}"
   drone-dji:GimbalYawDegree="{sgn(_yaw180(pose.gimbal_yaw_deg))}"
   drone-dji:GimbalPitchDegree="{sgn(pose.gimbal_pitch_deg)}"
   drone-dji:FlightRollDegree="{sgn(pose.flight_roll_deg)}"
   drone-dji:FlightYawDegree="{sgn(_yaw180(pose.flight_yaw_deg))}"
   drone-dji:FlightPitchDegree="{sgn(pose.flight_pitch_deg)}"
   drone-dji:CalibratedFocalLength="{f_px:.6f}"
   drone-dji:CalibratedOpticalCenterX="{width / 2:.6f}"
   drone-dji:CalibratedOpticalCenterY="{height / 2:.6f}"
   crs:Version="7.0"
   crs:HasSettings="False"
   crs:HasCrop="False"
   crs:AlreadyApplied="False">
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""
    # Writers leave padding so the packet can be edited in place; DJI does too.
    return (text + (" " * 99 + "\n") * 20 + '<?xpacket end="w"?>').encode("utf-8")


def _yaw180(deg: float) -> float:
    """DJI writes yaw in (-180, 180]."""
    d = math.fmod(deg, 360.0)
    if d > 180.0:
        d -= 360.0
    elif d <= -180.0:
        d += 360.0
    return d


def _segment(marker: int, payload: bytes) -> bytes:
    if len(payload) + 2 > 0xFFFF:
        raise SimulatorError(f"JPEG metadata segment of {len(payload)} bytes is too large")
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def encode_jpeg(image: np.ndarray, pose: FramePose, camera: CameraProfile, time, scale: float,
                quality: int = 90) -> bytes:
    """JPEG bytes of ``image`` with EXIF and XMP, segments ordered as in DJI files."""
    width, height = rendered_size(camera, scale)
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidInputError("frame image must be an (H, W, 3) uint8 BGR array")
    if image.shape[:2] != (height, width):
        raise InvalidInputError(
            f"frame image is {image.shape[1]}x{image.shape[0]} but camera {camera.name!r} at scale "
            f"{scale} renders {width}x{height}: the EXIF intrinsics would be wrong")
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise SimulatorError("OpenCV could not encode the frame as JPEG")
    data = buf.tobytes()
    # Drop OpenCV's JFIF APP0: EXIF files start with their APP1 (as DJI's do).
    pos = 2
    while data[pos] == 0xFF and data[pos + 1] in (0xE0,):
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        pos += 2 + length
    return (b"\xff\xd8" + _segment(0xE1, exif_bytes(pose, camera, time, scale))
            + _segment(0xE1, XMP_HEADER + xmp_packet(pose, camera, time, scale)) + data[pos:])


def write_frame(path, image: np.ndarray, pose: FramePose, camera_profile: CameraProfile, time,
                scale: float, quality: int = 90) -> Path:
    """Write one frame as a JPEG with EXIF and DJI-style XMP; returns its path.

    The file appears atomically (written aside, then renamed), so a folder watcher never reads
    half a frame.

    Parameters
    ----------
    path : path-like
    image : ndarray (H, W, 3) uint8, BGR, as :meth:`SimCamera.render` returns
    pose : FramePose
    camera_profile : CameraProfile
    time : datetime or float UNIX seconds
    scale : float
        The render scale, so EXIF describes the image actually written.
    """
    path = Path(path)
    data = encode_jpeg(image, pose, camera_profile, time, scale, quality)
    return write_atomic(path, data, error=SimulatorError, what="frame")


class FrameCollector:
    """Renders and files a frame at each camera trigger; writes ``truth.json`` at the end.

    Parameters
    ----------
    out_dir : path-like
        Created if missing; frames are ``SIM_00001.jpg``... named by trigger index.
    scene : Scene
    camera : CameraProfile
    scale : float
        Render scale (0.25 renders a 20 MP camera at ~1.3 MP).
    gimbal_pitch_deg : float
        The stabilised gimbal's pitch (-90 looks straight down); its yaw follows the aircraft.
    start_time : datetime
        Time of ``time_s == 0`` (``time_s`` above 1e9 is taken as UNIX time instead).
    quality : int
        JPEG quality.

    Examples
    --------
    >>> with FrameCollector("frames", scene, camera, 0.25) as fc:          # doctest: +SKIP
    ...     fc.on_trigger(43.1, 131.2, 160.0, 60.0, 90.0, 0.0, 0.0, 12.5, 1)
    """

    def __init__(self, out_dir, scene: Scene, camera: CameraProfile, scale: float = 0.25,
                 gimbal_pitch_deg: float = -90.0, start_time: datetime | None = None,
                 quality: int = 90):
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SimulatorError(f"cannot create the frames folder {self.out_dir}: {exc.strerror}") from None
        self.scene = scene
        self.camera_profile = camera
        self.scale = float(scale)
        self.sim_camera = SimCamera(scene, camera, scale)
        if not -90.0 <= gimbal_pitch_deg <= 30.0:
            raise InvalidInputError(f"gimbal pitch {gimbal_pitch_deg} deg is outside -90 (nadir) .. 30")
        self.gimbal_pitch_deg = float(gimbal_pitch_deg)
        self.start_time = _as_datetime(start_time or DEFAULT_START)
        self.quality = int(quality)
        self.frames: dict[int, dict] = {}
        self.skipped: list[dict] = []
        self.truth_path = self.out_dir / "truth.json"

    def __enter__(self) -> FrameCollector:
        return self

    def __exit__(self, *exc) -> None:
        self.finish()

    def on_trigger(self, lat: float, lon: float, alt_amsl: float, alt_rel: float, yaw: float,
                   pitch: float, roll: float, time_s: float, index: int, *,
                   gimbal_yaw: float | None = None, gimbal_pitch: float | None = None,
                   gimbal_roll: float | None = None) -> Path | None:
        """Render and write the frame of one camera trigger.

        ``yaw, pitch, roll`` are the aircraft's attitude in degrees (as CAMERA_FEEDBACK reports
        it); the gimbal looks along ``yaw`` at the collector's gimbal pitch unless given.
        Returns the frame's path, or None when the camera was too low to photograph the ground
        (the trigger is listed under ``skipped`` in the truth file).
        """
        when = (_as_datetime(time_s) if time_s > 1e9
                else self.start_time + timedelta(seconds=float(time_s)))
        pose = FramePose(
            lat=float(lat), lon=float(lon), alt_amsl=float(alt_amsl), alt_rel=float(alt_rel),
            gimbal_yaw_deg=float(yaw if gimbal_yaw is None else gimbal_yaw) % 360.0,
            gimbal_pitch_deg=float(self.gimbal_pitch_deg if gimbal_pitch is None else gimbal_pitch),
            gimbal_roll_deg=float(0.0 if gimbal_roll is None else gimbal_roll),
            flight_yaw_deg=float(yaw) % 360.0, flight_pitch_deg=float(pitch), flight_roll_deg=float(roll))
        if alt_amsl - self.scene.ground_alt_amsl <= 0.5:
            self.skipped.append({"index": int(index), "time": when.isoformat(), "pose": pose.to_dict(),
                                 "reason": f"camera {alt_amsl - self.scene.ground_alt_amsl:.1f} m above "
                                           "the ground: too low to photograph it"})
            return None
        cam = self.sim_camera
        view = cam.view(pose.lat, pose.lon, pose.alt_amsl, pose.gimbal_yaw_deg, pose.gimbal_pitch_deg,
                        pose.gimbal_roll_deg)
        image = cam.render_view(view)
        name = f"SIM_{int(index):05d}.jpg"
        path = write_frame(self.out_dir / name, image, pose, self.camera_profile, when, self.scale,
                           self.quality)
        foot = view.footprint_lonlat()
        self.frames[int(index)] = {
            "file": name, "index": int(index), "time": when.isoformat(), "time_s": float(time_s),
            "pose": pose.to_dict(),
            "footprint_lonlat": None if foot is None else [[round(a, 8), round(b, 8)] for a, b in foot],
            "objects": [v.to_dict() for v in view.visible_objects()],
        }
        return path

    def truth(self) -> dict:
        """The truth record as a dict (what :meth:`finish` writes)."""
        intr = self.sim_camera.intrinsics
        return {
            "format": TRUTH_FORMAT,
            "scene": self.scene.to_dict(),
            "camera": {"profile": self.camera_profile.name, "scale": self.scale,
                       "width": intr.width, "height": intr.height, "fx": intr.fx, "fy": intr.fy,
                       "cx": intr.cx, "cy": intr.cy,
                       "pixel_convention": "x right, y down, (0,0) = top-left corner of the top-left pixel"},
            "ground_alt_amsl": self.scene.ground_alt_amsl,
            "objects": [{"id": o.id, "kind": o.kind, "lon": o.lon, "lat": o.lat, "size_m": o.size_m,
                         "heading_deg": o.heading_deg} for o in self.scene.objects],
            "frames": [self.frames[k] for k in sorted(self.frames)],
            "skipped": self.skipped,
        }

    def finish(self) -> Path:
        """Write ``truth.json`` (atomically) and return its path."""
        return write_atomic(self.truth_path, json.dumps(self.truth(), indent=1), error=SimulatorError,
                            what="the truth file")


__all__ = ["FrameCollector", "FramePose", "encode_jpeg", "exif_bytes", "rendered_size", "write_frame",
           "xmp_packet"]
