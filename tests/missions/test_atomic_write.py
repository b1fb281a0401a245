"""The shared all-at-once writer behind the .plan, .geojson and .waypoints files."""

from __future__ import annotations

import pytest

from missions.formats.atomic import write_file_atomic
from uav.errors import PlanFileError


def test_writes_whole_file_and_leaves_no_part_file(tmp_path):
    out = tmp_path / "new" / "plan.geojson"
    write_file_atomic(out, b"{}\n")
    assert out.read_bytes() == b"{}\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["plan.geojson"]


def test_unwritable_place_names_the_file(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    target = blocker / "plan.plan"
    with pytest.raises(PlanFileError, match=r"cannot write .*not-a-folder/plan\.plan"):
        write_file_atomic(target, b"{}")
