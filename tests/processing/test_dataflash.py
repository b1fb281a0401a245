"""Poses from an ArduPilot DataFlash .bin log written here byte by byte (FMT, GPS, CAM, TRIG,
POS, ATT records), read back through pymavlink's DFReader."""

from __future__ import annotations

import datetime as dt
import struct

import pytest

from processing.frames import FrameMeta
from processing.telemetry import poses_from_telemetry, read_telemetry
from uav.errors import TelemetryError

T0 = dt.datetime(2024, 5, 1, 10, 0, 0, tzinfo=dt.timezone.utc)
LAT0, LON0 = -2.3, 34.8
BOOT_US = 60_000_000   # the autopilot had been up a minute at T0

# name: (id, DataFlash format, columns); L = degrees x 1e7 (int32), f = float, Q = uint64
MESSAGES = {
    "GPS": (130, "QBIHBLLf", "TimeUS,Status,GMS,GWk,NSats,Lat,Lng,Alt"),
    "CAM": (131, "QHLLfffff", "TimeUS,Img,Lat,Lng,Alt,RelAlt,R,P,Y"),
    "TRIG": (132, "QHLLfffff", "TimeUS,Img,Lat,Lng,Alt,RelAlt,R,P,Y"),
    "POS": (133, "QLLff", "TimeUS,Lat,Lng,Alt,RelHomeAlt"),
    "ATT": (134, "Qfff", "TimeUS,Roll,Pitch,Yaw"),
}
_STRUCT = {"Q": "Q", "B": "B", "I": "I", "H": "H", "L": "i", "f": "f"}


def _gps_week_ms(t: dt.datetime) -> tuple[int, int]:
    gps_epoch = dt.datetime(1980, 1, 6, tzinfo=dt.timezone.utc)
    s = (t - gps_epoch).total_seconds() + 18  # GPS time is 18 leap seconds ahead of UTC
    return int(s // 604800), int(round((s % 604800) * 1000))


class DataFlash:
    """Writes a DataFlash log: one FMT record per message type, then the records."""

    def __init__(self):
        self.out = bytearray()
        self._record(128, struct.pack("<BB4s16s64s", 128, 89, b"FMT", b"BBnNZ",
                                      b"Type,Length,Name,Format,Columns"))
        for name, (mid, fmt, cols) in MESSAGES.items():
            length = 3 + struct.calcsize("<" + "".join(_STRUCT[c] for c in fmt))
            self._record(128, struct.pack("<BB4s16s64s", mid, length, name.encode(), fmt.encode(),
                                          cols.encode()))

    def _record(self, mid: int, payload: bytes):
        self.out += b"\xa3\x95" + bytes([mid]) + payload

    def add(self, name: str, *values):
        mid, fmt, _ = MESSAGES[name]
        self._record(mid, struct.pack("<" + "".join(_STRUCT[c] for c in fmt), *values))


def _us(s: float) -> int:
    return BOOT_US + int(round(s * 1e6))


def _lat(s: float) -> float:
    return LAT0 + s * 5 / 111_320  # flying north at 5 m/s


def write_bin(path, cam_at=(), trig_dup=True, seconds=20):
    log = DataFlash()
    wk, ms = _gps_week_ms(T0)
    log.add("GPS", _us(0), 3, ms, wk, 12, int(LAT0 * 1e7), int(LON0 * 1e7), 1500.0)
    for i in range(seconds * 10 + 1):
        s = i / 10
        log.add("POS", _us(s), int(_lat(s) * 1e7), int(LON0 * 1e7), 1500.0 + s, 100.0)
        log.add("ATT", _us(s), 1.0, -2.0, s * 90 / seconds)
        for k, c in enumerate(cam_at):
            if abs(c - s) < 1e-9:
                vals = (_us(s), k + 1, int(_lat(s) * 1e7), int(LON0 * 1e7), 1500.0 + s, 100.0,
                        1.0, -2.0, s * 4.5)
                log.add("CAM", *vals)
                if trig_dup:  # the same shot logged again as TRIG: must not count twice
                    log.add("TRIG", *vals)
    path.write_bytes(bytes(log.out))
    return path


def _frames(offsets):
    return [(f"/f{k}.jpg", FrameMeta(path=f"/f{k}.jpg", time=(T0 + dt.timedelta(seconds=s)).replace(tzinfo=None)))
            for k, s in enumerate(offsets)]


def test_cam_records_place_frames_by_order_and_by_time(tmp_path):
    log = write_bin(tmp_path / "00000042.BIN", cam_at=(2.0, 4.0, 6.0))
    tl = read_telemetry(log)
    assert len(tl.events) == 3 and [e.index for e in tl.events] == [1, 2, 3]
    assert len(tl.pos_t) == 201 and len(tl.att_t) == 201
    # GPS week/ms set the log's clock: event times are real UTC times
    assert tl.events[1].time == pytest.approx((T0 + dt.timedelta(seconds=4)).timestamp(), abs=0.01)
    assert tl.events[1].lat == pytest.approx(_lat(4.0), abs=1e-6) and tl.events[1].lon == pytest.approx(LON0)
    poses = poses_from_telemetry(log, [(f"/x{k}.jpg", FrameMeta(path="")) for k in range(3)])
    assert [round(poses[f"/x{k}.jpg"].yaw, 3) for k in range(3)] == [9.0, 18.0, 27.0]
    p = poses["/x2.jpg"]
    assert p.alt_amsl == pytest.approx(1506.0) and p.alt_rel == pytest.approx(100.0)
    assert p.source == "telemetry-camera" and p.pitch == -90
    # two frames for three shots: matched by capture time
    poses = poses_from_telemetry(log, _frames([4.2, 6.1]))
    assert poses["/f0.jpg"].yaw == pytest.approx(18.0) and poses["/f1.jpg"].yaw == pytest.approx(27.0)


def test_pos_and_att_interpolated_without_camera_records(tmp_path):
    log = write_bin(tmp_path / "plain.bin")
    poses = poses_from_telemetry(log, _frames([10.0, 5.05, 99.0]))
    assert set(poses) == {"/f0.jpg", "/f1.jpg"}  # 99 s is after the log ends
    p = poses["/f0.jpg"]
    assert p.lat == pytest.approx(_lat(10.0), abs=1e-6) and p.lon == pytest.approx(LON0, abs=1e-6)
    assert p.alt_amsl == pytest.approx(1510.0, abs=0.01) and p.alt_rel == pytest.approx(100.0)
    assert p.yaw == pytest.approx(45.0, abs=0.01) and p.source == "telemetry-interpolated"


def test_damaged_bin_is_a_clear_error(tmp_path):
    bad = tmp_path / "cut.bin"
    bad.write_bytes(bytes(write_bin(tmp_path / "ok.bin").read_bytes()[:300]))  # formats, no records
    with pytest.raises(TelemetryError, match="no camera events and no positions"):
        read_telemetry(bad)


def test_pipeline_places_gps_less_frames_from_the_bin(tmp_path):
    import cv2
    import numpy as np
    import piexif

    from processing.pipeline import process_frames
    from processing.store import FlightStore

    folder = tmp_path / "frames"
    folder.mkdir()
    for k, s in enumerate((2.0, 4.0, 6.0)):
        img = np.full((120, 160, 3), 90, np.uint8)
        t = (T0 + dt.timedelta(seconds=s)).strftime("%Y:%m:%d %H:%M:%S").encode()
        exif = piexif.dump({"0th": {}, "Exif": {piexif.ExifIFD.FocalLengthIn35mmFilm: 36,
                                                piexif.ExifIFD.DateTimeOriginal: t}})
        cv2.imwrite(str(folder / f"IMG_{k}.jpg"), img)
        piexif.insert(exif, str(folder / f"IMG_{k}.jpg"))
    log = write_bin(tmp_path / "flight.bin", cam_at=(2.0, 4.0, 6.0))
    s = process_frames([folder], tmp_path / "f.gpkg", telemetry=str(log), detectors=(), workers=0,
                       progress=False)
    assert s.done == 3 and s.no_pose == 0, str(s)
    with FlightStore.open(tmp_path / "f.gpkg") as st:
        frames = sorted(st.frames(), key=lambda f: f.name)
        assert st.get_meta("telemetry") == str(log)
    assert [f.pose_source for f in frames] == ["telemetry-camera"] * 3
    assert [round(f.yaw, 3) for f in frames] == [9.0, 18.0, 27.0]
    assert frames[2].lat == pytest.approx(_lat(6.0), abs=1e-6) and frames[2].footprint is not None
