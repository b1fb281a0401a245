"""Poses from the autopilot's logs: MAVLink telemetry (.tlog) or ArduPilot DataFlash (.bin).

Two ways to place frames, best first:

* **camera events** - ``CAMERA_FEEDBACK`` (tlog) or ``CAM``/``TRIG`` (DataFlash) are written by
  the autopilot at each shutter release with the vehicle's position and attitude.  They are
  matched to frames in capture order when the counts agree, otherwise by time.
* **interpolation** - ``GLOBAL_POSITION_INT`` + ``ATTITUDE`` (tlog) or ``POS``/``GPS`` + ``ATT``
  (DataFlash), interpolated to each frame's EXIF capture time.

Log times are UTC (the GCS clock in a tlog, GPS time in a DataFlash log); a frame's EXIF time
has no zone and is taken as UTC plus ``clock_offset_s`` (set it to the camera clock's offset,
e.g. ``-7200`` for a camera set to UTC+2).  The camera is taken to be gimbal-stabilised and
pointing straight down (``camera_pitch``) with the vehicle's heading as its yaw.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import dataclass, field

import numpy as np

from uav.errors import TelemetryError

from .frames import FrameMeta
from .poses import Pose

__all__ = ["TelemetryLog", "CameraEvent", "read_telemetry", "poses_from_telemetry"]


@dataclass
class CameraEvent:
    time: float          # unix seconds
    lat: float
    lon: float
    alt_amsl: float | None
    alt_rel: float | None
    roll: float
    pitch: float
    yaw: float
    index: int | None = None


@dataclass
class TelemetryLog:
    """What a log holds for placing frames.  Arrays are sorted by time (unix seconds)."""

    path: str
    events: list[CameraEvent] = field(default_factory=list)
    pos_t: np.ndarray = field(default_factory=lambda: np.empty(0))
    pos: np.ndarray = field(default_factory=lambda: np.empty((0, 4)))   # lat, lon, alt_amsl, alt_rel
    att_t: np.ndarray = field(default_factory=lambda: np.empty(0))
    att: np.ndarray = field(default_factory=lambda: np.empty((0, 3)))   # roll, pitch, yaw (deg)

    @property
    def track(self) -> list[tuple[float, float]]:
        """The flown track as ``(lon, lat)``."""
        return [(float(p[1]), float(p[0])) for p in self.pos]


def read_telemetry(path: str | os.PathLike) -> TelemetryLog:
    """Read camera events, positions and attitudes from a ``.tlog`` or ``.bin``.

    Raises
    ------
    TelemetryError
        The file is missing, unreadable, or holds no position at all.
    """
    from pymavlink import mavutil

    path = os.fspath(path)
    if not os.path.exists(path):
        raise TelemetryError(f"telemetry file {path} does not exist")
    if os.path.getsize(path) == 0:
        raise TelemetryError(f"telemetry file {path} is empty")
    log = TelemetryLog(path=os.path.abspath(path))
    types = ["CAMERA_FEEDBACK", "GLOBAL_POSITION_INT", "ATTITUDE", "CAM", "TRIG", "POS", "ATT"]
    pos_t, pos, att_t, att = [], [], [], []
    try:
        conn = mavutil.mavlink_connection(path, dialect="ardupilotmega", robust_parsing=True)
        while True:
            m = conn.recv_match(type=types, blocking=False)
            if m is None:
                break
            t = float(getattr(m, "_timestamp", 0.0))
            name = m.get_type()
            if name == "CAMERA_FEEDBACK":
                log.events.append(CameraEvent(t, m.lat / 1e7, m.lng / 1e7, m.alt_msl, m.alt_rel,
                                              m.roll, m.pitch, m.yaw, m.img_idx))
            elif name in ("CAM", "TRIG"):
                if name == "TRIG" and any(e.index is not None and e.index == getattr(m, "Img", None)
                                          for e in log.events[-2:]):
                    continue  # a TRIG duplicating the CAM of the same shot
                log.events.append(CameraEvent(t, m.Lat, m.Lng, getattr(m, "Alt", None),
                                              getattr(m, "RelAlt", None), m.R, m.P, m.Y,
                                              getattr(m, "Img", None)))
            elif name == "GLOBAL_POSITION_INT":
                if m.lat == 0 and m.lon == 0:
                    continue
                pos_t.append(t)
                pos.append((m.lat / 1e7, m.lon / 1e7, m.alt / 1000.0, m.relative_alt / 1000.0))
            elif name == "POS":
                pos_t.append(t)
                pos.append((m.Lat, m.Lng, m.Alt, getattr(m, "RelHomeAlt", float("nan"))))
            elif name == "ATTITUDE":
                att_t.append(t)
                att.append((math.degrees(m.roll), math.degrees(m.pitch), math.degrees(m.yaw)))
            elif name == "ATT":
                att_t.append(t)
                att.append((m.Roll, m.Pitch, m.Yaw))
        conn.close()
    except TelemetryError:
        raise
    except Exception as exc:  # pymavlink raises assorted errors on damaged logs
        raise TelemetryError(f"telemetry file {path} cannot be read: {exc}") from None
    if pos_t:
        o = np.argsort(pos_t, kind="stable")
        log.pos_t, log.pos = np.asarray(pos_t)[o], np.asarray(pos, float)[o]
    if att_t:
        o = np.argsort(att_t, kind="stable")
        log.att_t, log.att = np.asarray(att_t)[o], np.asarray(att, float)[o]
    if not log.events and not len(log.pos_t):
        raise TelemetryError(f"telemetry file {path} holds no camera events and no positions "
                             f"(not a MAVLink .tlog / DataFlash .bin, or the GPS never had a fix)")
    return log


def _unix(t: _dt.datetime, clock_offset_s: float) -> float:
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.timestamp() + clock_offset_s


def _interp_angle(t, ts, deg):
    r = np.unwrap(np.radians(deg))
    return math.degrees(float(np.interp(t, ts, r)))


def _event_pose(e: CameraEvent, camera_pitch: float, time: _dt.datetime | None) -> Pose:
    return Pose(lat=e.lat, lon=e.lon, alt_amsl=e.alt_amsl, alt_rel=e.alt_rel,
                yaw=(e.yaw + 180.0) % 360.0 - 180.0, pitch=camera_pitch, roll=0.0, flight_yaw=e.yaw,
                time=time or _dt.datetime.fromtimestamp(e.time, _dt.timezone.utc),
                source="telemetry-camera", notes=["camera assumed stabilised, pointing down"]
                if camera_pitch == -90.0 else [])


def poses_from_telemetry(telemetry, frames: list[tuple[str, FrameMeta]], *,
                         clock_offset_s: float = 0.0, camera_pitch: float = -90.0,
                         max_gap_s: float = 2.0) -> dict[str, Pose]:
    """Poses for frames from a log.

    Parameters
    ----------
    telemetry : path or TelemetryLog
    frames : list of (path, FrameMeta)
        In capture order.
    clock_offset_s : float
        Added to the frames' (zone-less) EXIF times to get UTC.
    camera_pitch : float
        Camera tilt (DJI convention, -90 = straight down).
    max_gap_s : float
        Largest distance in time from a frame to the nearest log record it may use.

    Returns
    -------
    dict
        ``path -> Pose`` for every frame the log covers (frames it does not cover are left out).

    Raises
    ------
    TelemetryError
        The log is unreadable, or camera events cannot be matched to the frames.
    """
    log = telemetry if isinstance(telemetry, TelemetryLog) else read_telemetry(telemetry)
    out: dict[str, Pose] = {}
    times = [None if m.time is None else _unix(m.time, clock_offset_s) for _, m in frames]
    if log.events:
        ev = sorted(log.events, key=lambda e: e.time)
        if len(ev) == len(frames):
            for (p, m), e in zip(frames, ev, strict=True):
                out[p] = _event_pose(e, camera_pitch, m.time)
            return out
        if any(t is None for t in times):
            raise TelemetryError(f"{log.path} has {len(ev)} camera events for {len(frames)} frames, "
                                 f"and some frames have no capture time to match them by")
        et = np.array([e.time for e in ev])
        for (p, m), t in zip(frames, times, strict=True):
            i = int(np.argmin(np.abs(et - t)))
            if abs(et[i] - t) <= max_gap_s:
                out[p] = _event_pose(ev[i], camera_pitch, m.time)
        return out
    if not len(log.pos_t):
        raise TelemetryError(f"{log.path} has no positions to interpolate")
    for (p, m), t in zip(frames, times, strict=True):
        if t is None:
            continue
        k = np.searchsorted(log.pos_t, t)
        near = min(abs(log.pos_t[min(k, len(log.pos_t) - 1)] - t), abs(log.pos_t[max(k - 1, 0)] - t))
        if near > max_gap_s:
            continue
        lat = float(np.interp(t, log.pos_t, log.pos[:, 0]))
        lon = float(np.interp(t, log.pos_t, log.pos[:, 1]))
        alt = float(np.interp(t, log.pos_t, log.pos[:, 2]))
        rel = float(np.interp(t, log.pos_t, log.pos[:, 3]))
        yaw = None
        if len(log.att_t):
            yaw = _interp_angle(t, log.att_t, log.att[:, 2])
            yaw = (yaw + 180.0) % 360.0 - 180.0
        out[p] = Pose(lat=lat, lon=lon, alt_amsl=alt, alt_rel=None if math.isnan(rel) else rel,
                      yaw=yaw, pitch=camera_pitch, roll=0.0, flight_yaw=yaw, time=m.time,
                      source="telemetry-interpolated",
                      notes=["camera assumed stabilised, pointing down"] if camera_pitch == -90.0 else [])
    return out
