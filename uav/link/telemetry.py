"""Recording a flight: the .tlog, the track as GeoJSON, mission progress and camera feedback.

A ``.tlog`` is what MAVProxy, Mission Planner and QGroundControl write and read: for every
message, an 8-byte big-endian timestamp (microseconds since 1970) and the raw MAVLink packet.
We record both directions, so a log shows what was asked as well as what was answered.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TelemetryError
from .connection import Link


class TlogWriter:
    """Write every message received (and sent) on ``link`` to ``path``."""

    def __init__(self, link: Link, path: str | Path, include_sent: bool = True):
        self.path = Path(path)
        try:
            self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise TelemetryError(f"cannot write the telemetry log {self.path}: "
                                 f"{exc.strerror}") from exc
        self.count = 0
        self.link = link
        self.include_sent = include_sent
        link.add_listener(self._on_message)
        if include_sent:
            link.add_send_listener(self._on_sent)

    def _write(self, buf: bytes) -> None:
        if self._fh is None:
            return
        usec = int(time.time() * 1e6)
        self._fh.write(struct.pack(">Q", usec) + bytes(buf))
        self.count += 1

    def _on_message(self, msg) -> None:
        self._write(msg.get_msgbuf())

    def _on_sent(self, buf: bytes) -> None:
        self._write(buf)

    def close(self) -> None:
        self.link.remove_listener(self._on_message)
        self.link.remove_send_listener(self._on_sent)
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@dataclass
class TrackPoint:
    time_s: float        # seconds since the recorder started
    lat: float
    lon: float
    alt_amsl_m: float
    alt_rel_m: float
    heading_deg: float


@dataclass
class CameraEvent:
    """One CAMERA_FEEDBACK: where the camera fired."""

    image_index: int
    time_usec: int
    lat: float
    lon: float
    alt_amsl_m: float
    alt_rel_m: float
    roll_deg: float
    pitch_deg: float
    yaw_deg: float


@dataclass
class MissionProgress:
    """What the vehicle says about the mission: current item and items reached."""

    current: int = -1
    total: int | None = None
    reached: list[int] = field(default_factory=list)

    def describe(self) -> str:
        total = f"/{self.total}" if self.total else ""
        last = self.reached[-1] if self.reached else "-"
        return f"item {self.current}{total}, last reached {last}"


class Recorder:
    """Listen on a link and keep the flight: track, mission progress, camera feedback, .tlog.

    Parameters
    ----------
    link : Link
    tlog : path, optional
        Write a .tlog of everything here.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, link: Link, tlog: str | Path | None = None):
        self.link = link
        self.started = time.monotonic()
        self.track: list[TrackPoint] = []
        self.camera: list[CameraEvent] = []
        self.progress = MissionProgress()
        self.tlog = TlogWriter(link, tlog) if tlog else None
        link.add_listener(self._on_message)

    def _on_message(self, msg) -> None:
        mtype = msg.get_type()
        if mtype == "GLOBAL_POSITION_INT":
            if msg.lat == 0 and msg.lon == 0:
                return  # no position yet
            hdg = msg.hdg / 100.0 if msg.hdg != 65535 else float("nan")
            self.track.append(TrackPoint(time.monotonic() - self.started, msg.lat / 1e7,
                                         msg.lon / 1e7, msg.alt / 1000.0,
                                         msg.relative_alt / 1000.0, hdg))
        elif mtype == "MISSION_CURRENT":
            self.progress.current = int(msg.seq)
            total = getattr(msg, "total", 0)
            if total and total != 65535:
                self.progress.total = int(total)
        elif mtype == "MISSION_ITEM_REACHED":
            if not self.progress.reached or self.progress.reached[-1] != msg.seq:
                self.progress.reached.append(int(msg.seq))
        elif mtype == "CAMERA_FEEDBACK":
            self.camera.append(CameraEvent(
                int(msg.img_idx), int(msg.time_usec), msg.lat / 1e7, msg.lng / 1e7,
                float(msg.alt_msl), float(msg.alt_rel), float(msg.roll), float(msg.pitch),
                float(msg.yaw)))

    def track_geojson(self) -> dict:
        """The track as a GeoJSON FeatureCollection (lon, lat, alt AMSL), plus camera points."""
        features = []
        if self.track:
            features.append({
                "type": "Feature",
                "geometry": {"type": "LineString",
                             "coordinates": [[p.lon, p.lat, p.alt_amsl_m] for p in self.track]},
                "properties": {"kind": "track", "points": len(self.track),
                               "duration_s": round(self.track[-1].time_s, 2),
                               "max_alt_rel_m": max(p.alt_rel_m for p in self.track)},
            })
        for ev in self.camera:
            features.append({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [ev.lon, ev.lat, ev.alt_amsl_m]},
                "properties": {"kind": "camera", "image_index": ev.image_index,
                               "time_usec": ev.time_usec, "alt_rel_m": ev.alt_rel_m,
                               "yaw_deg": ev.yaw_deg},
            })
        return {"type": "FeatureCollection", "features": features}

    def write_track(self, path: str | Path) -> Path:
        """Write :meth:`track_geojson` to ``path``."""
        path = Path(path)
        try:
            path.write_text(json.dumps(self.track_geojson(), indent=1))
        except OSError as exc:
            raise TelemetryError(f"cannot write the track {path}: {exc.strerror}") from exc
        return path

    def close(self) -> None:
        self.link.remove_listener(self._on_message)
        if self.tlog is not None:
            self.tlog.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
