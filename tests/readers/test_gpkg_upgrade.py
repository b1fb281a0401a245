"""Flight GeoPackages written by older amur-uav versions: read as they are, upgraded when opened
for writing (a flight re-processed or reviewed keeps every decision), and then valid by GDAL's
own GeoPackage validator.  The old files were made by those versions' own code
(``tests/processing/old_flights/make_old_flights.py`` says how)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from own_readers import needs_gdal, needs_gpkg_validator, ogr_layers, validate_gpkg

from processing.store import FlightDB, FlightStore
from tests.sqlite_rows import rows as _q
from uav.cli import cli

OLD = Path(__file__).resolve().parents[1] / "processing" / "old_flights"
# first release (no sightings), sightings without a search record, the version before this fix
VERSIONS = ["4ffcc4b", "ab84678", "6cccc78"]
WITH_SIGHTINGS = ["ab84678", "6cccc78"]


def _old(tmp_path, version) -> Path:
    gpkg = tmp_path / f"flight-{version}.gpkg"
    shutil.copy(OLD / f"flight-{version}.gpkg", gpkg)
    return gpkg


def _tables(gpkg) -> set[str]:
    return {r[0] for r in _q(gpkg, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def _work(gpkg) -> dict:
    """Everything an analyst did or recorded in the file, to compare before and after."""
    work = {
        "flags": _q(gpkg, "SELECT fid, frame_fid, class, score, status, note, reviewer, reviewed_at, version "
                          "FROM flags ORDER BY fid"),
        "decisions": _q(gpkg, "SELECT id, flag_fid, status, note, reviewer, at FROM decisions ORDER BY id"),
        "meta": dict(_q(gpkg, "SELECT key, value FROM flight_meta")),
        "frames": _q(gpkg, "SELECT fid, path, status, error, sha256 FROM frames ORDER BY fid"),
        "track": _q(gpkg, "SELECT fid, geom FROM track ORDER BY fid"),
    }
    if "sightings" in _tables(gpkg):
        work["sightings"] = _q(gpkg, "SELECT uid, status, note, reviewer, version FROM sightings "
                                     "WHERE status != 'new' ORDER BY uid")
        work["sighting_decisions"] = _q(gpkg, "SELECT * FROM sighting_decisions ORDER BY id")
    return work


def _kept(before: dict, after: dict) -> None:
    for part, rows in before.items():
        if part == "meta":
            assert {k: after["meta"].get(k) for k in rows} == rows
        elif part == "sightings":
            assert set(rows) <= set(after["sightings"]), "a decided sighting was lost"
        else:
            assert after[part][:len(rows)] == rows, part


def _integer_primary_keys(gpkg) -> dict[str, list]:
    """Every table listed in gpkg_contents -> its primary-key columns and their types."""
    out = {}
    for (table,) in _q(gpkg, "SELECT table_name FROM gpkg_contents"):
        out[table] = [(r[1], r[2].upper()) for r in _q(gpkg, f"PRAGMA table_info({table})") if r[5]]
    return out


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _ir_frames(folder: Path, n: int = 2) -> Path:
    """Single-channel JPEGs (a thermal core's output) with a warm blob each."""
    folder.mkdir()
    rng = np.random.default_rng(7)
    for i in range(n):
        img = rng.integers(40, 70, size=(512, 640), dtype=np.uint8)
        cv2.circle(img, (120 + 40 * i, 200), 6, 230, -1)
        cv2.imwrite(str(folder / f"IR_{i:05d}.jpg"), img)
    return folder


def _uav(*args) -> str:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


# --- the old files fail the validator as they are (what the upgrade is for) -------------------
@needs_gpkg_validator
@pytest.mark.parametrize("version", VERSIONS)
def test_old_files_fail_gdal_validator_on_flight_meta(version):
    verdict = validate_gpkg(OLD / f"flight-{version}.gpkg")
    assert not verdict.ok
    assert "Req 119: table flight_meta has a PRIMARY KEY of type TEXT instead of INTEGER" in verdict.output


# --- read-only uses change nothing --------------------------------------------------------------
@pytest.mark.parametrize("version", WITH_SIGHTINGS)
def test_an_old_file_is_exported_and_listed_without_being_changed(tmp_path, version):
    gpkg = _old(tmp_path, version)
    sha = _sha(gpkg)
    csv = tmp_path / "sightings.csv"
    _uav("export", gpkg, "--to", "csv", "--status", "all", "-o", csv)
    text = csv.read_text()
    assert "grass fire, team 2 sent" in text and "confirmed" in text
    db = FlightDB(gpkg)
    try:
        summary = db.summary()
    finally:
        db.close()
    assert summary["meta"]["detectors"] == "fire,smoke,vehicle"
    assert summary["flags"]["by_status"]["confirmed"] >= 1
    assert _sha(gpkg) == sha, "a read-only use changed the file"


# --- opened for writing: upgraded, every decision kept, valid -----------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_a_review_decision_upgrades_the_file_and_keeps_every_earlier_one(tmp_path, version):
    gpkg = _old(tmp_path, version)
    before = _work(gpkg)
    new_flag = next(fid for fid, *_rest, status, _n, _r, _at, _v in before["flags"] if status == "new")
    db = FlightDB(gpkg)
    try:
        db.decide(new_flag, "confirmed", "seen from the tower too", "Sidorov", None)
    finally:
        db.close()
    after = _work(gpkg)
    _kept({k: v for k, v in before.items() if k != "flags"}, after)
    decided = {r[0]: r for r in after["flags"]}
    for row in before["flags"]:
        if row[0] != new_flag:
            assert decided[row[0]] == row
    assert decided[new_flag][4:7] == ("confirmed", "seen from the tower too", "Sidorov")
    assert after["decisions"][-1][1:5] == (new_flag, "confirmed", "seen from the tower too", "Sidorov")
    assert {t: pk for t, pk in _integer_primary_keys(gpkg).items() if pk[0][1] != "INTEGER" or len(pk) != 1} == {}


@pytest.mark.parametrize("version", VERSIONS)
def test_reprocessing_into_an_old_file_upgrades_it_and_keeps_every_decision(tmp_path, version):
    gpkg = _old(tmp_path, version)
    before = _work(gpkg)
    text = _uav("process", _ir_frames(tmp_path / "ir"), "--out", gpkg, "--detectors", "person",
                "--workers", 0, "--quiet")
    assert "2 frame" in text, text
    after = _work(gpkg)
    assert after["meta"].pop("detectors") == "person"   # the last run's, by design
    before["meta"].pop("detectors")
    _kept(before, after)
    assert len(after["frames"]) == len(before["frames"]) + 2
    # the metadata table is keyed by an integer and still read by key
    assert [c for c, _ in _integer_primary_keys(gpkg)["flight_meta"]] == ["id"]
    with FlightStore.open(gpkg) as store:   # opening again finds nothing to do
        assert store.get_meta("camera") == "mavic3e-wide"
        store.set_meta("camera", "m3t-thermal")
    assert _q(gpkg, "SELECT count(*) FROM flight_meta WHERE key = 'camera'") == [(1,)]


@needs_gpkg_validator
@needs_gdal
@pytest.mark.parametrize("version", VERSIONS)
def test_an_upgraded_old_file_passes_gdal_validator_and_opens_in_ogrinfo(tmp_path, version):
    gpkg = _old(tmp_path, version)
    with FlightStore.open(gpkg):
        pass
    verdict = validate_gpkg(gpkg)
    assert verdict.ok and verdict.output == "", verdict
    layers = ogr_layers(gpkg)
    assert layers["frames"] == {"geometry": "Polygon", "features": 5}
    assert layers["flags"]["geometry"] == "Point" and layers["flags"]["features"] == 7
    assert layers["flight_meta"]["features"] == len(_work(OLD / f"flight-{version}.gpkg")["meta"])
    assert {"track", "decisions", "frame_searches"} <= set(layers)
