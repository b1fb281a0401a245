"""A first run that cannot mislead (issue 27): thermal frames get people and vehicles by default,
what a frame was searched for is part of "done" (a re-run with other detectors searches again
for those only; a changed model is named), frames without a position still group into few
sightings, the Brighton car and the portable toilets stay two sightings, Ctrl-C says how to go
on.  Real frames are read in place from ../shared/data (linked, never copied); those tests skip
when it is absent, and synthetic frames cover the same code paths."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.sqlite_rows import rows as _q
from uav.cli import cli

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
HITUAV = DATA / "hit-uav" / "images" / "train"
BRIGHTON = DATA / "brighton"
needs_hituav = pytest.mark.skipif(not HITUAV.is_dir(), reason=f"HIT-UAV thermal frames not found at {HITUAV}")
needs_brighton = pytest.mark.skipif(not BRIGHTON.is_dir(), reason=f"Brighton frames not found at {BRIGHTON}")
RECORDING = "1_60_30_0_"    # a night recording at 60 m, 30 deg: people on a campus, no EXIF


def _uav(*args):
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def _recording(tmp_path, n=20) -> Path:
    """The first ``n`` frames of one HIT-UAV recording, linked into a folder (read in place)."""
    names = sorted(p for p in os.listdir(HITUAV) if p.startswith(RECORDING))[:n]
    folder = tmp_path / "thermal"
    folder.mkdir()
    for name in names:
        (folder / name).symlink_to(HITUAV / name)
    return folder


def _grey_frames(folder: Path, n: int, size=(640, 512)) -> Path:
    """Single-channel JPEGs (a thermal core's output, no EXIF) with a warm blob each."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        img = rng.integers(40, 70, size=(size[1], size[0]), dtype=np.uint8)
        cv2.circle(img, (100 + 5 * i % 400, 200), 6, 230, -1)
        cv2.imwrite(str(folder / f"IR_{i:05d}.jpg"), img)
    return folder


# --- thermal defaults, re-runs, image-space sightings (real frames) -----------------------------
@needs_hituav
def test_thermal_folder_with_default_options_flags_people_and_few_sightings(tmp_path):
    folder = _recording(tmp_path)
    out = tmp_path / "night.gpkg"
    text = _uav("process", folder, "--out", out, "--workers", 1, "--quiet")
    assert "thermal frames (20) searched for: person, vehicle (thermal model)" in text
    people = _q(out, "SELECT count(*) FROM flags WHERE class = 'person'")[0][0]
    assert people > 100, text
    # 20 frames of one recording, no position: grouped by their place in the picture
    flags, sightings = _q(out, "SELECT (SELECT count(*) FROM flags), (SELECT count(*) FROM sightings)")[0]
    assert sightings <= flags / 2, (flags, sightings)     # measured: 635 flags -> 248 sightings
    assert _q(out, "SELECT max(frames_flagged) FROM sightings")[0][0] >= 5
    # GeoJSON carries them with a null geometry, and says how many and why
    gj = tmp_path / "night.geojson"
    text = _uav("export", out, "--to", "geojson", "--status", "all", "-o", gj)
    feats = json.loads(gj.read_text())["features"]
    assert len(feats) == sightings and all(f["geometry"] is None for f in feats)
    assert f"{sightings} of {sightings} sighting(s) have no map position" in text
    assert "--telemetry" in text
    kml = tmp_path / "night.kml"
    text = _uav("export", out, "--to", "kml", "--status", "all", "-o", kml)
    assert "are left out of this KML" in text


@needs_hituav
def test_rerun_with_person_on_a_geopackage_made_with_other_detectors_flags_people(tmp_path):
    folder = _recording(tmp_path)
    out = tmp_path / "night.gpkg"
    text = _uav("process", folder, "--out", out, "--detectors", "fire,smoke,vehicle", "--workers", 1, "--quiet")
    assert "not fire, smoke (colour frames only; for people leave out --detectors or add person)" in text
    assert _q(out, "SELECT count(*) FROM flags WHERE class = 'person'")[0][0] == 0
    before = _q(out, "SELECT count(*) FROM flags WHERE class = 'vehicle'")[0][0]
    text = _uav("process", folder, "--out", out, "--detectors", "person,vehicle", "--workers", 1, "--quiet")
    assert "searched again: 20 frame(s) already done, for person (20) only" in text
    assert _q(out, "SELECT count(*) FROM flags WHERE class = 'person'")[0][0] > 100
    assert _q(out, "SELECT count(*) FROM flags WHERE class = 'vehicle'")[0][0] == before   # not searched twice
    rows = _q(out, "SELECT detector, count(*), min(model) FROM frame_searches GROUP BY detector ORDER BY detector")
    assert [(d, n) for d, n, _ in rows] == [("person", 20), ("thermal-vehicle", 20)]
    assert all(m.startswith("thermal.onnx ") for _, _, m in rows)
    text = _uav("process", folder, "--out", out, "--detectors", "person,vehicle", "--workers", 1, "--quiet")
    assert "nothing new to search for" in text


# --- the same paths on synthetic thermal frames (no shared data needed) --------------------------
def _downgrade(gpkg):
    """Make a file as an older amur-uav wrote it: no search record, no look or apart columns."""
    con = sqlite3.connect(gpkg)
    con.execute("DROP TABLE frame_searches")
    con.execute("DELETE FROM gpkg_contents WHERE table_name = 'frame_searches'")
    con.execute("ALTER TABLE flags DROP COLUMN look")
    con.execute("ALTER TABLE flags DROP COLUMN apart")
    con.commit()
    con.close()


def test_old_geopackage_still_reads_and_a_rerun_adds_only_the_missing_detector(tmp_path):
    folder = _grey_frames(tmp_path / "ir", 3)
    out = tmp_path / "old.gpkg"
    _uav("process", folder, "--out", out, "--detectors", "person", "--workers", 0, "--quiet")
    people = _q(out, "SELECT count(*) FROM flags WHERE detector = 'person'")[0][0]
    _downgrade(out)
    # read-only uses need no update
    csv = tmp_path / "old.csv"
    _uav("export", out, "--to", "csv", "--status", "all", "--per-flag", "-o", csv)
    assert "frame_searches" not in {r[0] for r in _q(out, "SELECT name FROM sqlite_master")}
    # a run writing to it brings it up to date and trusts its recorded detectors
    text = _uav("process", folder, "--out", out, "--detectors", "person,vehicle", "--workers", 0, "--quiet")
    assert "searched again: 3 frame(s) already done, for thermal-vehicle (3) only" in text
    assert _q(out, "SELECT count(*) FROM flags WHERE detector = 'person'")[0][0] == people
    assert sorted(_q(out, "SELECT detector, count(*) FROM frame_searches GROUP BY detector")) == [
        ("person", 3), ("thermal-vehicle", 3)]


def test_a_changed_model_is_named_and_redo_searches_again(tmp_path):
    folder = _grey_frames(tmp_path / "ir", 3)
    out = tmp_path / "f.gpkg"
    _uav("process", folder, "--out", out, "--detectors", "person", "--workers", 0, "--quiet")
    con = sqlite3.connect(out)
    con.execute("UPDATE frame_searches SET model = 'thermal.onnx 000000000000'")
    con.commit()
    con.close()
    text = _uav("process", folder, "--out", out, "--detectors", "person", "--workers", 0, "--quiet")
    assert "MODEL CHANGED: 3 frame(s) were searched for person with thermal.onnx 000000000000" in text
    assert "Add --redo" in text
    text = _uav("process", folder, "--out", out, "--detectors", "person", "--workers", 0, "--quiet", "--redo")
    assert "searched again: 3 frame(s) already done, for person (3)" in text
    assert {r[0] for r in _q(out, "SELECT model FROM frame_searches")} != {"thermal.onnx 000000000000"}


def test_default_detectors_fit_each_kind_of_frame(tmp_path):
    folder = _grey_frames(tmp_path / "mixed", 2)
    colour = np.full((240, 320, 3), (40, 110, 50), np.uint8)
    cv2.imwrite(str(folder / "DJI_0001.JPG"), colour)
    out = tmp_path / "m.gpkg"
    text = _uav("process", folder, "--out", out, "--workers", 0, "--quiet")
    assert "colour frames (1) searched for: fire, smoke, vehicle" in text
    assert "thermal frames (2) searched for: person, vehicle (thermal model)" in text
    rows = dict(_q(out, "SELECT fr.thermal, group_concat(s.detector) FROM frame_searches s "
                        "JOIN frames fr ON fr.fid = s.frame_fid GROUP BY fr.thermal"))
    assert sorted(rows[0].split(",")) == ["fire", "smoke", "vehicle"]
    assert sorted(rows[1].split(",")) == ["person", "person", "thermal-vehicle", "thermal-vehicle"]


def test_ctrl_c_says_where_it_stopped_and_the_same_command_resumes(tmp_path):
    folder = _grey_frames(tmp_path / "ir", 150)
    out = tmp_path / "long.gpkg"
    cmd = [sys.executable, "-m", "uav", "process", str(folder), "--out", str(out), "--detectors", "person",
           "--workers", "1", "--quiet"]
    # SIGINT as a terminal's Ctrl-C delivers it, even when these tests run in the background
    # (a shell starts background jobs with SIGINT ignored, and Python then keeps it ignored)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:   # Ctrl-C once some frames are written, as a terminal sends it
        time.sleep(0.1)
        try:
            if out.exists() and _q(out, "SELECT count(*) FROM frames")[0][0] >= 3:
                break
        except sqlite3.OperationalError:
            pass
    os.killpg(p.pid, signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, (stdout, stderr)
    assert "Aborted!" not in stdout + stderr and "Traceback" not in stderr
    assert "Stopped (Ctrl-C):" in stderr and "of 150 frame(s) are done in" in stderr
    assert "run the same command again" in stderr
    done = _q(out, "SELECT count(*) FROM frames WHERE status != 'failed'")[0][0]
    assert 0 < done < 150
    text = _uav(*cmd[3:])
    assert f"{150 - done} frame(s) processed" in text and f"{done} already done" in text


# --- Brighton: the car and the toilets; a truncated frame ----------------------------------------
@needs_brighton
def test_brighton_car_and_portable_toilets_are_not_one_sighting(tmp_path):
    out = tmp_path / "brighton.gpkg"
    _uav("process", BRIGHTON, "--out", out, "--workers", 1, "--quiet")
    rows = _q(out, "SELECT fr.name, f.sighting_id FROM flags f JOIN frames fr ON fr.fid = f.frame_fid "
                   "WHERE f.class = 'vehicle'")
    toilets = [sid for name, sid in rows if name == "DJI_0024.JPG"]   # the green toilets' one flag
    assert len(toilets) == 1
    assert [sid for _, sid in rows].count(toilets[0]) == 1
    # the silver car parked in DJI_0026-28 is one sighting, not spread towards the toilets
    assert _q(out, "SELECT max(spread_m), max(moving) FROM sightings WHERE class = 'vehicle'")[0] < (5, 1)
    assert _q(out, "SELECT max(n_flags) FROM sightings WHERE class = 'vehicle'")[0][0] == 3


@needs_brighton
def test_a_truncated_jpeg_that_failed_reports_no_yaw_correction(tmp_path):
    folder = tmp_path / "card"
    folder.mkdir()
    for p in sorted(BRIGHTON.glob("DJI_*.JPG")):
        if p.name == "DJI_0025.JPG":   # re-saved by a photo viewer: its yaw would be corrected
            (folder / p.name).write_bytes(p.read_bytes()[:2_000_000])
        else:
            (folder / p.name).symlink_to(p)
    r = CliRunner().invoke(cli, ["process", str(folder), "--out", str(tmp_path / "t.gpkg"), "--workers", "1",
                                 "--quiet"])
    assert "FAILED" in r.output and "DJI_0025.JPG is a damaged JPEG" in r.output
    assert "yaw corrected: DJI_0025" not in r.output
    assert "yaw corrected: DJI_0026" in r.output


def test_plan_show_on_a_flight_geopackage_says_what_it_is(tmp_path):
    out = tmp_path / "flight.gpkg"
    _uav("process", _grey_frames(tmp_path / "ir", 1), "--out", out, "--detectors", "none", "--workers", 0,
         "--quiet")
    r = CliRunner().invoke(cli, ["plan", "show", str(out)])
    assert r.exit_code == 2
    assert "is a GeoPackage, not a mission plan" in r.output and "uav review" in r.output
    assert "codec" not in r.output
