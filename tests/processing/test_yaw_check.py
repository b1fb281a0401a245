"""Yaw sanity: isolated 180-degree metadata flips, and Brighton's editor-rotated pixels."""

from __future__ import annotations

from pathlib import Path

import pytest

from processing.poses import Pose
from processing.yaw_check import angle_diff, check_pixel_rotation, check_yaws, is_edited
from uav.geo import offset_lonlat

BRIGHTON = Path(__file__).resolve().parents[3] / "shared" / "data" / "brighton"


def _line(yaws, bearing=45.0, step=10.0):
    out = []
    for i, y in enumerate(yaws):
        import math

        lon, lat = offset_lonlat(10.0, 50.0, i * step * math.sin(math.radians(bearing)),
                                 i * step * math.cos(math.radians(bearing)))
        out.append(None if y == "none" else Pose(lat=float(lat), lon=float(lon), alt_rel=40, yaw=y))
    return out


def test_isolated_flip_is_turned_and_turns_are_left_alone():
    poses, fixes = check_yaws(_line([45, 44, -135, 46, 45]))
    assert [f.index for f in fixes] == [2] and poses[2].yaw == pytest.approx(45.0)
    assert poses[2].yaw_corrected and "180 deg off" in poses[2].notes[-1]
    # a whole line flown backwards (fixed heading survey): yaws agree with each other -> kept
    poses, fixes = check_yaws(_line([-135, -135, -135, -135]))
    assert fixes == []
    # missing yaw taken from the flight direction; a frame without a pose is skipped
    poses, fixes = check_yaws(_line([45, None, 45, "none"]))
    assert poses[1].yaw == pytest.approx(45.0, abs=0.1) and not poses[1].yaw_corrected
    assert angle_diff(179, -179) == 2 and is_edited("Microsoft Windows Photo Viewer 10.0")
    assert not is_edited("v01.23.4920")


@pytest.mark.skipif(not BRIGHTON.exists(), reason="../shared/data not present")
def test_brighton_rotated_pixels_are_found():
    from processing.frames import decode_frame, read_frame_bytes, read_metadata
    from processing.poses import pose_from_metadata

    paths = sorted(BRIGHTON.glob("DJI_00*.JPG"))[3:9]  # 0021..0026: three original, three re-saved
    metas = [read_metadata(p) for p in paths]
    poses = [pose_from_metadata(m) for m in metas]
    assert check_yaws(poses)[1] == []  # the metadata alone is consistent
    new, fixes = check_pixel_rotation(poses, [m.software for m in metas], lambda i: decode_frame(
        read_frame_bytes(paths[i]), str(paths[i]), reduce=8), names=[p.name for p in paths])
    assert [paths[f.index].name for f in fixes] == ["DJI_0024.JPG", "DJI_0025.JPG", "DJI_0026.JPG"]
    assert new[3].yaw == pytest.approx(40.0) and new[3].yaw_corrected
