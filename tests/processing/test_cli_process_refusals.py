"""``uav process`` refuses what cannot be a flight before touching anything, and names what failed."""

from __future__ import annotations

import cv2
import numpy as np
from click.testing import CliRunner

from tests.processing.test_cli_process import _frame
from uav.cli import cli


def run(*args):
    return CliRunner().invoke(cli, ["process", *map(str, args)])


def test_an_empty_folder_is_an_error_and_nothing_is_created(tmp_path):
    folder = tmp_path / "card"
    folder.mkdir()
    (folder / "readme.txt").write_text("no photos here")
    out = tmp_path / "flight.gpkg"
    r = run(folder, "--out", out, "--detectors", "none", "--workers", 0, "--quiet")
    assert r.exit_code == 2, r.output
    assert "no frames" in r.output and str(folder) in r.output
    assert "0 frame(s) processed" not in r.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["card"]


def test_a_misspelt_detector_is_refused_before_any_frame_is_read(tmp_path):
    _frame(tmp_path / "a.jpg", 45.0)
    out = tmp_path / "flight.gpkg"
    r = run(tmp_path / "a.jpg", "--out", out, "--detectors", "fire,persn", "--workers", 0, "--quiet")
    assert r.exit_code == 2, r.output
    assert "unknown detector 'persn'" in r.output and "known detectors: fire" in r.output
    assert "frame(s) processed" not in r.output and not out.exists()
    r = run(tmp_path / "a.jpg", "--out", out, "--detectors", "vehicel", "--workers", 0, "--quiet")
    assert r.exit_code == 2 and "did you mean 'vehicle'?" in r.output


def test_a_frame_without_exif_is_named_and_a_batch_where_all_fail_exits_non_zero(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    _frame(folder / "DJI_0001.JPG", 45.0)
    cv2.imwrite(str(folder / "IMG_bare.jpg"), np.full((90, 120, 3), 70, np.uint8))  # no EXIF at all
    out = tmp_path / "flight.gpkg"
    r = run(folder, "--out", out, "--detectors", "none", "--workers", 0, "--quiet")
    assert r.exit_code == 0, r.output
    assert "no pose: 1" in r.output
    assert "NO POSE IMG_bare.jpg" in r.output  # named, with why
    broken = tmp_path / "broken"
    broken.mkdir()
    for k in range(2):
        (broken / f"DJI_{k}.JPG").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    r = run(broken, "--out", tmp_path / "b.gpkg", "--detectors", "none", "--workers", 0, "--quiet")
    assert r.exit_code != 0, r.output
    assert "failed: 2" in r.output and "every frame of this batch failed (2)" in r.output
