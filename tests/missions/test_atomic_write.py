"""The kernel's all-at-once writer behind every file the project writes (plans, exports, frames)."""

from __future__ import annotations

from functools import partial

import pytest

from uav.errors import PlanFileError
from uav.files import write_atomic

write_file_atomic = partial(write_atomic, error=PlanFileError)


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


def test_content_may_be_text_or_a_writer_and_gets_shared_permissions(tmp_path):
    import os
    import stat

    from uav.files import FILE_MODE

    write_atomic(tmp_path / "a.txt", "é\n")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "é\n"
    write_atomic(tmp_path / "b.bin", lambda p: p.write_bytes(b"xy"))
    assert (tmp_path / "b.bin").read_bytes() == b"xy"
    assert stat.S_IMODE(os.stat(tmp_path / "b.bin").st_mode) == FILE_MODE  # not mkstemp's 0600


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    out = tmp_path / "export.geojson"
    out.write_text("old")

    def half(p):
        p.write_text("half")
        raise RuntimeError("disk pulled")

    with pytest.raises(RuntimeError, match="disk pulled"):
        write_atomic(out, half)
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.geojson"]
