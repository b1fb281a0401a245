"""Poses from a real MAVLink .tlog written here with pymavlink: camera feedback and interpolation."""

from __future__ import annotations

import datetime as dt
import math
import struct

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from processing.frames import FrameMeta
from processing.telemetry import poses_from_telemetry, read_telemetry
from uav.errors import TelemetryError

T0 = dt.datetime(2024, 5, 1, 10, 0, 0, tzinfo=dt.timezone.utc).timestamp()
LAT0, LON0 = -2.3, 34.8


class _Sink:
    def __init__(self):
        self.buf = b""

    def write(self, b):
        self.buf += b


def write_tlog(path, seconds=20, feedback_at=()):
    """10 Hz position/attitude flying north at 5 m/s, heading 0 -> 90 deg; camera events."""
    mav = mavlink.MAVLink(_Sink(), srcSystem=1, srcComponent=1)
    out = bytearray()

    def put(t, msg):
        out.extend(struct.pack(">Q", int(t * 1e6)))
        out.extend(msg.pack(mav))

    for i in range(seconds * 10 + 1):
        s = i / 10
        t = T0 + s
        lat = LAT0 + s * 5 / 111_320
        put(t, mavlink.MAVLink_global_position_int_message(int(s * 1000), int(lat * 1e7), int(LON0 * 1e7),
                                                           int(1500_000 + s * 1000), 100_000, 500, 0, 0, 0))
        put(t, mavlink.MAVLink_attitude_message(int(s * 1000), 0.01, -0.02, math.radians(s * 90 / seconds), 0, 0, 0))
    for k, s in enumerate(feedback_at):
        lat = LAT0 + s * 5 / 111_320
        put(T0 + s, mavlink.MAVLink_camera_feedback_message(int((T0 + s) * 1e6), 1, 0, k, int(lat * 1e7),
                                                            int(LON0 * 1e7), 1500.0 + s, 100.0, 1.0, -2.0,
                                                            s * 4.5, 0.0, k + 1))
    path.write_bytes(bytes(out))
    return path


def _frames(offsets):
    return [(f"/f{k}.jpg", FrameMeta(path=f"/f{k}.jpg", time=dt.datetime(2024, 5, 1, 10, 0, 0)
                                     + dt.timedelta(seconds=s))) for k, s in enumerate(offsets)]


def test_interpolated_poses(tmp_path):
    log = write_tlog(tmp_path / "flight.tlog")
    tl = read_telemetry(log)
    assert len(tl.pos_t) == 201 and len(tl.att_t) == 201 and not tl.events
    poses = poses_from_telemetry(log, _frames([5.05, 10.0, 60.0]))
    assert set(poses) == {"/f0.jpg", "/f1.jpg"}  # 60 s is after the log ends
    p = poses["/f1.jpg"]
    assert p.lat == pytest.approx(LAT0 + 50 / 111_320, abs=1e-7) and p.lon == pytest.approx(LON0)
    assert p.alt_amsl == pytest.approx(1510.0, abs=0.01) and p.alt_rel == pytest.approx(100.0)
    assert p.yaw == pytest.approx(45.0, abs=0.01) and p.pitch == -90 and p.source == "telemetry-interpolated"
    assert poses["/f0.jpg"].yaw == pytest.approx(5.05 * 4.5, abs=0.01)
    # a camera clock two hours ahead, corrected
    ahead = [(p_, FrameMeta(path=p_, time=m.time + dt.timedelta(hours=2))) for p_, m in _frames([10.0])]
    assert poses_from_telemetry(log, ahead) == {}
    assert poses_from_telemetry(log, ahead, clock_offset_s=-7200)["/f0.jpg"].yaw == pytest.approx(45.0, abs=0.01)


def test_camera_feedback_by_order_and_by_time(tmp_path):
    log = write_tlog(tmp_path / "cam.tlog", feedback_at=(2.0, 4.0, 6.0))
    assert len(read_telemetry(log).events) == 3
    poses = poses_from_telemetry(log, [(f"/x{k}.jpg", FrameMeta(path="")) for k in range(3)])
    assert [round(poses[f"/x{k}.jpg"].yaw, 3) for k in range(3)] == [9.0, 18.0, 27.0]
    assert poses["/x2.jpg"].alt_amsl == 1506.0 and poses["/x2.jpg"].source == "telemetry-camera"
    # two frames for three events: matched by time
    poses = poses_from_telemetry(log, _frames([4.2, 6.1]))
    assert poses["/f0.jpg"].yaw == pytest.approx(18.0) and poses["/f1.jpg"].yaw == pytest.approx(27.0)
    with pytest.raises(TelemetryError, match="3 camera events for 2 frames"):
        poses_from_telemetry(log, [("/a", FrameMeta(path="")), ("/b", FrameMeta(path=""))])


def test_unreadable_telemetry(tmp_path):
    with pytest.raises(TelemetryError, match="does not exist"):
        read_telemetry(tmp_path / "none.tlog")
    (tmp_path / "empty.tlog").write_bytes(b"")
    with pytest.raises(TelemetryError, match="is empty"):
        read_telemetry(tmp_path / "empty.tlog")
    (tmp_path / "junk.tlog").write_bytes(b"\x00garbage" * 500)
    with pytest.raises(TelemetryError, match="no camera events and no positions"):
        read_telemetry(tmp_path / "junk.tlog")
