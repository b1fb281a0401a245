"""``uav process --sensitivity``: a ranger's level per class, refused when misspelt before any
frame is read, recorded per frame in the GeoPackage, and letting more through at ``high``.
Real fire/smoke photos are read in place from ../shared/data (skipped when absent)."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from processing.detect.datasets import fire_smoke_samples
from tests.processing.test_cli_process import _frame
from tests.sqlite_rows import rows as _q
from uav.cli import cli

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FIRE_SMOKE = DATA / "fire-smoke"
MODELS = Path(__file__).resolve().parents[2] / "processing" / "detect" / "models"
needs_fire_smoke = pytest.mark.skipif(not FIRE_SMOKE.is_dir(),
                                      reason=f"fire-smoke photos not found at {FIRE_SMOKE}")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("ask, said", [
    ("hgh", "unknown level 'hgh'; did you mean 'high'?"),
    ("smok=high", "unknown class 'smok'; did you mean 'smoke'?"),
    ("smoke=loud", "unknown level 'loud'"),
    ("smoke=high,smoke=low", "smoke is given twice"),
])
def test_an_unknown_level_or_class_is_refused_before_any_frame_is_read(tmp_path, ask, said):
    _frame(tmp_path / "a.jpg", 45.0)
    out = tmp_path / "flight.gpkg"
    r = run("process", tmp_path / "a.jpg", "--out", out, "--sensitivity", ask, "--workers", 0, "--quiet")
    assert r.exit_code == 2, r.output
    assert said in r.output and "--sensitivity" in r.output
    assert "frame(s) processed" not in r.output and not out.exists()


def _smoke_photos(tmp_path, n=12) -> tuple[Path, dict]:
    """The first ``n`` held-back (source-test) photos with smoke, linked in place, and their
    smoke boxes by file name."""
    folder = tmp_path / "photos"
    folder.mkdir()
    boxes = {}
    for s in fire_smoke_samples(FIRE_SMOKE, "source-test"):
        smoke = [b for b, c in zip(s.boxes, s.classes, strict=True) if c == "smoke"]
        if smoke:
            (folder / s.path.name).symlink_to(s.path)
            boxes[s.path.name] = smoke
        if len(boxes) == n:
            break
    return folder, boxes


def _smoke_rows(gpkg, tmp_path, name):
    csv_path = tmp_path / f"{name}.csv"
    r = run("export", gpkg, "--to", "csv", "--per-flag", "--status", "all", "-o", csv_path)
    assert r.exit_code == 0, r.output
    with open(csv_path, newline="") as f:
        return [row for row in csv.DictReader(f) if row["class"] == "smoke"]


@needs_fire_smoke
def test_high_smoke_sensitivity_flags_more_smoke_and_is_recorded_per_frame(tmp_path):
    folder, boxes = _smoke_photos(tmp_path)
    high_thr = json.loads((MODELS / "fire_smoke.json").read_text())["sensitivity"]["smoke"]["high"]["threshold"]
    normal = tmp_path / "normal.gpkg"
    r = run("process", folder, "--out", normal, "--detectors", "smoke", "--workers", 0, "--quiet")
    assert r.exit_code == 0, r.output
    assert "sensitivity:" not in r.output          # a normal run says nothing new
    high = tmp_path / "high.gpkg"
    r = run("process", folder, "--out", high, "--detectors", "smoke", "--sensitivity", "smoke=high",
            "--workers", 0, "--quiet")
    assert r.exit_code == 0, r.output
    assert "sensitivity: normal for fire, vehicle, person; high for smoke" in r.output
    # per frame: the level and the threshold it stands for
    assert _q(high, "SELECT DISTINCT detector, sensitivity, threshold FROM frame_searches") == [
        ("smoke", "high", round(high_thr, 4))]
    assert {r[0] for r in _q(normal, "SELECT DISTINCT sensitivity FROM frame_searches")} == {"normal"}
    # what the analyst exports: more smoke flags, every one at or above the high threshold
    n_rows, h_rows = _smoke_rows(normal, tmp_path, "normal"), _smoke_rows(high, tmp_path, "high")
    assert len(h_rows) > len(n_rows)
    assert min(float(r["score"]) for r in h_rows) >= high_thr - 1e-6
    # a re-run at another level names the change and searches again only when asked
    r = run("process", folder, "--out", high, "--detectors", "smoke", "--workers", 0, "--quiet")
    assert r.exit_code == 0, r.output
    assert "SENSITIVITY CHANGED: 12 frame(s) were searched for smoke with" in r.output
    assert "(high sensitivity)" in r.output and "(normal sensitivity)" in r.output
    r = run("process", folder, "--out", high, "--detectors", "smoke", "--redo", "--workers", 0, "--quiet")
    assert r.exit_code == 0, r.output
    assert {r[0] for r in _q(high, "SELECT DISTINCT sensitivity FROM frame_searches")} == {"normal"}
    assert len(_smoke_rows(high, tmp_path, "again")) == len(n_rows)


def test_an_older_search_record_gains_the_sensitivity_column_when_written(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    _frame(folder / "DJI_0001.JPG", 45.0)
    out = tmp_path / "f.gpkg"
    assert run("process", folder, "--out", out, "--detectors", "none", "--workers", 0, "--quiet").exit_code == 0
    con = sqlite3.connect(out)
    con.execute("ALTER TABLE frame_searches DROP COLUMN sensitivity")
    con.commit()
    con.close()
    _frame(folder / "DJI_0002.JPG", 45.0001)
    r = run("process", folder, "--out", out, "--detectors", "smoke", "--sensitivity", "high",
            "--workers", 0, "--quiet")
    assert r.exit_code == 0, r.output
    assert ("smoke", "high") in _q(out, "SELECT detector, sensitivity FROM frame_searches")


def test_thermal_frames_take_their_own_levels_and_vehicle_high_reaches_the_thermal_model(tmp_path):
    from tests.processing.test_first_run import _grey_frames

    folder = _grey_frames(tmp_path / "ir", 2)
    levels = json.loads((MODELS / "thermal.json").read_text())["sensitivity"]
    out = tmp_path / "ir.gpkg"
    r = run("process", folder, "--out", out, "--sensitivity", "high,person=low", "--workers", 0, "--quiet")
    assert r.exit_code == 0, r.output
    assert "sensitivity: high for fire, smoke, vehicle; low for person" in r.output
    assert sorted(_q(out, "SELECT DISTINCT detector, sensitivity, threshold FROM frame_searches")) == [
        ("person", "low", levels["person"]["low"]["threshold"]),
        ("thermal-vehicle", "high", levels["vehicle"]["high"]["threshold"])]
