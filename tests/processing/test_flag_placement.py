"""A frame's flags are placed on the ground in one ray cast, as one box at a time would be."""

from __future__ import annotations

import math

import pytest

from processing.detect.base import Detection
from processing.georef import FlatGround, georeference_frame
from processing.poses import Intrinsics, Pose
from processing.worker import _place_flags

K = Intrinsics(focal_px=1000.0, cx=499.5, cy=374.5, width=1000, height=750,
               distortion=(-0.08, 0.02, 0.0005, -0.0003, 0.0))


def _one_at_a_time(d: Detection, geo, scale: int):
    """The placement of one box, with the camera model's own per-box calls."""
    x0, y0, x1, y1 = d.x0 * scale, d.y0 * scale, d.x1 * scale, d.y1 * scale
    lon, lat, _ = geo.camera.pixel_to_lonlat([(x0 + x1) / 2 - 0.5], [(y0 + y1) / 2 - 0.5])
    size = geo.camera.box_ground_size(x0 - 0.5, y0 - 0.5, x1 - 0.5, y1 - 0.5)
    return float(lon[0]), float(lat[0]), size


def test_boxes_are_placed_as_the_camera_model_places_each_one():
    # an oblique frame: boxes near the bottom are close, the top rows look past the horizon
    pose = Pose(lat=43.1, lon=131.9, alt_amsl=620.0, alt_rel=120.0, yaw=35.0, pitch=-20.0, roll=3.0)
    geo = georeference_frame(pose, K, FlatGround(500.0))
    dets = [Detection("vehicle", 0.9, 480, 700, 508, 716, "t"),
            Detection("fire", 0.7, 400, 600, 460, 700, "t"),
            Detection("smoke", 0.5, 10, 1, 90, 40, "t"),          # above the horizon
            Detection("person", 0.6, 480, 2, 520, 420, "t")]      # top corners miss the ground
    scale = 2
    flags = _place_flags([Detection(d.cls, d.score, d.x0 / scale, d.y0 / scale, d.x1 / scale,
                                    d.y1 / scale, d.detector) for d in dets], geo, scale, None)
    assert [f.cls for f in flags] == [d.cls for d in dets]
    for f, d in zip(flags, dets, strict=True):
        assert (f.px_x0, f.px_y0, f.px_x1, f.px_y1) == (d.x0, d.y0, d.x1, d.y1)
        lon, lat, size = _one_at_a_time(d, geo, 1)
        if math.isnan(lon):
            assert f.lon is None and f.lat is None
            assert "above the horizon" in f.position_note
        else:
            assert f.lon == pytest.approx(lon, abs=1e-12) and f.lat == pytest.approx(lat, abs=1e-12)
            assert f.position_note is None
        if size is None:
            assert f.ground_size_m is None and f.size_ok is None
        else:
            assert f.ground_size_m == pytest.approx(size, rel=1e-12)
    # the case mix the test is for: placed boxes, a box in the sky, a box half in the sky
    assert flags[0].lon is not None and flags[1].ground_size_m is not None
    assert flags[2].lon is None
    assert flags[3].lon is not None and flags[3].ground_size_m is None
    # sizes are judged: a 4-5 m car box passes the vehicle size check
    assert 2.0 < flags[0].ground_size_m < 15.0 and flags[0].size_ok is True


def test_flags_of_a_frame_without_a_pose_say_why():
    flags = _place_flags([Detection("fire", 0.8, 1, 2, 3, 4)], None, 4, "no GPS in the tags")
    assert (flags[0].px_x0, flags[0].px_y1) == (4, 16)
    assert flags[0].lon is None and flags[0].position_note == "no GPS in the tags"
    assert _place_flags([], None, 1, None) == []
