"""The mosaic grows during the flight (`uav process --watch --mosaic`): after the first frames
arrive a COG of them is on disk, it grows as the rest come, and when the watch stops it is the
mosaic `uav mosaic` draws from the same frames at the same cell."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from mosaicflight import make_survey

from processing.orthomosaic import GrowingMosaic, build_mosaic, growing
from processing.orthomosaic.blend import Canvas, Grid
from processing.orthomosaic.build import MAX_CELLS
from processing.store import FlightStore
from processing.watch import watch_folder
from tests.readers.own_readers import needs_cog_validator, validate_cog

RES = 0.25


def _read(tif):
    import rasterio

    with rasterio.open(tif) as ds:
        return ds.read(), ds.transform


def test_a_canvas_moved_to_a_larger_grid_keeps_its_cells_in_place():
    small = Grid(32652, 100.0, 200.0, 0.5, 4, 3)
    c = Canvas(small, 1, 1.5)
    c.add(np.arange(12, dtype=np.float32).reshape(3, 4), np.ones((3, 4), bool), (0, 0, 4, 3), (101.0, 199.0))
    big = Grid(32652, 99.0, 201.0, 0.5, 9, 7)       # two cells more to the west, two to the north
    moved = c.moved(big)
    px, seen = moved.result()
    assert seen.sum() == 12 and seen[2:5, 2:6].all()
    np.testing.assert_allclose(px[2:5, 2:6, 0], np.arange(12).reshape(3, 4), atol=1e-4)
    px, seen = moved.result((2, 2, 6, 5))           # a window of the moved canvas
    assert seen.all() and px.shape == (3, 4, 1)
    with pytest.raises(ValueError, match="zone and cell"):
        c.moved(Grid(32652, 99.0, 201.0, 0.25, 9, 7))


def test_watch_grows_the_mosaic_and_ends_as_uav_mosaic_draws_it(tmp_path, monkeypatch):
    # no margin: the canvas must grow (and move what it holds) for every new row of frames
    monkeypatch.setattr(growing, "GROW_SHARE", 0.0)
    monkeypatch.setattr(growing, "GROW_MIN_CELLS", 0)
    s = make_survey(tmp_path / "src", cols=3, rows=2)
    card, gpkg = tmp_path / "card", tmp_path / "w.gpkg"
    card.mkdir()
    for p in s.paths[:3]:                            # the first line of the survey
        shutil.copy(p, card)
    lines, first = [], {}
    deadline = time.monotonic() + 120                # stops by itself even if something is wrong

    def stop():
        said = " ".join(lines)
        if "mosaic of 3 frame(s)" in said and not first:
            first["pixels"], first["transform"] = _read(tmp_path / "w_mosaic.tif")
            for p in s.paths[3:]:                    # the second line arrives
                shutil.copy(p, card)
        return "mosaic of 6 frame(s)" in said or time.monotonic() > deadline

    mosaic = GrowingMosaic(gpkg, resolution=RES, write_every_s=0)
    summary = watch_folder(card, gpkg, poll_s=0.1, settle_s=0.2, stop=stop, echo=lines.append,
                           detectors=(), workers=0, mosaic=mosaic)
    assert summary.done == 6, lines
    grown = [line for line in lines if line.startswith("mosaic: Wrote")]
    assert len(grown) == 2, lines
    assert f"{tmp_path / 'w_mosaic.tif'}: colour mosaic of 3 frame(s)" in grown[0]
    px1, t1 = first["pixels"], first["transform"]
    px2, t2 = _read(tmp_path / "w_mosaic.tif")
    # the first line's mosaic covers only its frames; the second line adds 15 m to the north
    assert px2.shape[2] == px1.shape[2] and px2.shape[1] == pytest.approx(px1.shape[1] + 15 / RES, abs=2)
    assert t2.f == pytest.approx(t1.f + 15, abs=2 * RES)
    # the south-west corner stays where it was
    assert (t1.c, t1.f - px1.shape[1] * RES) == (t2.c, t2.f - px2.shape[1] * RES)
    with FlightStore.open(gpkg) as st:
        assert st.get_meta("mosaic") == str(tmp_path / "w_mosaic.tif")
    # the same frames drawn at once by `uav mosaic`: the same grid, the same picture
    once = build_mosaic(gpkg, tmp_path / "once.tif", resolution=RES, seam_pairs=0)
    assert once.files[0].frames == 6
    px3, t3 = _read(tmp_path / "once.tif")
    assert t3 == t2 and px3.shape == px2.shape
    assert (px3[3] == px2[3]).all()                  # alpha: the same ground seen
    diff = np.abs(px3[:3].astype(int) - px2[:3].astype(int))[:, px3[3] > 0]
    assert diff.max() <= 1, diff.max()


def test_a_mosaic_that_cannot_go_on_is_said_and_the_watch_goes_on(tmp_path):
    s = make_survey(tmp_path / "src", cols=2, rows=1)
    card, gpkg = tmp_path / "card", tmp_path / "w.gpkg"
    card.mkdir()
    for p in s.paths:
        shutil.copy(p, card)
    lines = []
    deadline = time.monotonic() + 60
    # a cell so fine that no frame fits the memory a mosaic may take
    mosaic = GrowingMosaic(gpkg, resolution=1e-4, write_every_s=0)
    summary = watch_folder(card, gpkg, poll_s=0.1, settle_s=0.2, echo=lines.append, detectors=(), workers=0,
                           mosaic=mosaic, stop=lambda: bool(lines) or time.monotonic() > deadline)
    assert summary.done == 2 and mosaic.frames == 0
    assert not (tmp_path / "w_mosaic.tif").exists()
    said = [line for line in lines if f"would grow past {MAX_CELLS:,} cells" in line and "coarser --resolution" in line]
    assert len(said) == 2 and all(line.startswith("mosaic: note: DJI_000") for line in said), lines
    with pytest.raises(ValueError, match="--mosaic-resolution must be a ground size"):
        GrowingMosaic(gpkg, resolution=-1)


def _watch_card(card, gpkg, frames, *more) -> subprocess.Popen:
    """`uav process CARD --watch --mosaic` started, then ``frames`` copied onto the card."""
    card.mkdir()
    cmd = [sys.executable, "-m", "uav", "process", str(card), "--out", str(gpkg), "--watch", "--mosaic",
           *more, "--detectors", "none", "--workers", "0"]
    # SIGINT as a terminal's Ctrl-C delivers it (see test_first_run)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for path in frames:
        shutil.copy(path, card)
    return p


@needs_cog_validator
def test_uav_process_watch_mosaic_writes_a_valid_cog_during_the_flight(tmp_path):
    s = make_survey(tmp_path / "src", cols=3, rows=2)
    card, gpkg, tif = tmp_path / "card", tmp_path / "f.gpkg", tmp_path / "f_mosaic.tif"
    p = _watch_card(card, gpkg, s.paths)
    try:
        deadline = time.monotonic() + 120
        while not tif.exists() and time.monotonic() < deadline:   # the first batch's mosaic, at once
            time.sleep(0.2)
        assert tif.exists()
        verdict = validate_cog(tif)                  # a COG while the watch still runs
        assert verdict.ok and "WARNING" not in verdict.output, verdict
    finally:
        os.killpg(p.pid, signal.SIGINT)
        stdout, stderr = p.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    assert "mosaic: Wrote" in stdout and "colour mosaic of" in stdout, stdout
    assert f"`uav mosaic {gpkg}` draws it again" in stdout
    px, _ = _read(tif)
    assert px.shape[0] == 4 and (px[3] > 0).mean() > 0.5


def test_a_registered_watch_ends_with_the_mosaic_on_the_registered_poses(tmp_path):
    """With --register the frames move after they were drawn: when the watch stops the mosaic
    is drawn once more, on the final poses, at the grown mosaic's cell, with its seam check."""
    from tests.processing.test_registration_ground import _render

    s = _render(tmp_path / "src", 0.0, cols=3, rows=2)
    card, gpkg, tif = tmp_path / "card", tmp_path / "f.gpkg", tmp_path / "f_mosaic.tif"
    p = _watch_card(card, gpkg, s.paths, "--register")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:        # every frame done before Ctrl-C
            time.sleep(0.2)
            try:
                with FlightStore.open(gpkg) as st:
                    if len(st.frames("done")) == 6 and tif.exists():
                        break
            except Exception:                      # not made yet, or being written
                continue
        grown, t_grown = _read(tif)
    finally:
        os.killpg(p.pid, signal.SIGINT)
        stdout, stderr = p.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr
    assert "drawing the mosaic again on the registered poses" in stdout, stdout
    assert "colour mosaic of 6 frame(s) (6 registered)" in stdout and "seams:" in stdout, stdout
    final, t_final = _read(tif)
    assert t_final.a == t_grown.a                     # the grown mosaic's cell kept
    with FlightStore.open(gpkg) as st:
        assert st.get_meta("mosaic_seams") is not None
