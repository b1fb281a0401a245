"""A mosaic larger than the memory it may take: the canvas's tiles go to disk and come back,
and the file written is the one drawn wholly in memory (a park-wide survey on a field laptop)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from mosaicflight import make_survey

from processing import process_frames
from processing.orthomosaic import build_mosaic, cog, tiles
from processing.orthomosaic.blend import Canvas, Grid
from tests.readers.own_readers import needs_cog_validator, validate_cog
from uav.errors import MosaicError


def _draw(canvas: Canvas, seed: int = 3) -> Canvas:
    """Forty frames of random pixels on random windows, some crossing the tiles' edges, the
    canvas moved to a larger grid half-way (as a growing mosaic does)."""
    rng = np.random.default_rng(seed)
    g = canvas.grid
    for k in range(40):
        if k == 20:
            big = Grid(g.epsg, g.x0 - 7 * g.res, g.y1 + 5 * g.res, g.res, g.width + 12, g.height + 9)
            canvas, g = canvas.moved(big), big
        w, h = rng.integers(5, 40, 2)
        c0, r0 = rng.integers(0, g.width - w), rng.integers(0, g.height - h)
        valid = np.ones((h, w), bool)
        valid[rng.integers(0, h), :] = False            # a hole in the frame's view
        pixels = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
        nadir = (g.x0 + (c0 + w / 2) * g.res + rng.normal(), g.y1 - (r0 + h / 2) * g.res)
        canvas.add(pixels, valid, (c0, r0, c0 + w, r0 + h), nadir)
    return canvas


def test_a_canvas_on_disk_holds_the_same_sums_as_one_in_memory(tmp_path, monkeypatch):
    grid = Grid(32652, 500.0, 900.0, 0.5, 70, 50)
    monkeypatch.setattr(tiles, "TILE", 256)                 # tiles larger than the canvas
    whole = _draw(Canvas(grid, 3, 1.5))
    ref_px, ref_seen = whole.result()
    assert whole.spilled == 0 and ref_seen.sum() > 2000
    monkeypatch.setattr(tiles, "TILE", 16)                  # 5 x 4 tiles at first, 6 x 5 after the move
    held = _draw(Canvas(grid, 3, 1.5, memory_mb=100))
    tight = _draw(Canvas(grid, 3, 1.5, memory_mb=16 * 16 * 20 * 2 / 2**20, spill_dir=tmp_path))   # 2 tiles held
    assert held.spilled == 0 and tight.spilled > 10
    (folder,) = [p for p in tmp_path.iterdir() if p.name.startswith(".uav-mosaic-tiles-")]
    assert len(list(folder.glob("*.npz"))) == tight.spilled
    for c in (held, tight):
        px, seen = c.result()
        np.testing.assert_array_equal(seen, ref_seen)
        np.testing.assert_array_equal(px, ref_px)
    px, seen = tight.result((10, 7, 41, 33))             # a window across tiles on disk and held
    np.testing.assert_array_equal(px, ref_px[7:33, 10:41])
    tight.close()
    assert not folder.exists()


def test_a_canvas_that_cannot_spill_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(tiles, "TILE", 8)
    c = Canvas(Grid(32652, 0.0, 100.0, 1.0, 40, 40), 1, 3.0, memory_mb=1e-6, spill_dir=tmp_path / "gone")
    with pytest.raises(MosaicError, match="cannot be kept on disk .*free some disk space or use a coarser"):
        c.add(np.ones((30, 30), np.float32), np.ones((30, 30), bool), (0, 0, 30, 30), (15.0, 85.0))


@needs_cog_validator
def test_a_mosaic_larger_than_its_memory_is_the_same_file(tmp_path, monkeypatch):
    """The mosaic of a survey drawn with room for 2 tiles of 32 cells, its plain copy on disk:
    the same cells as drawn in memory, a valid COG, and no tile left behind."""
    s = make_survey(tmp_path / "src")
    gpkg = tmp_path / "f.gpkg"
    process_frames(sorted(s.frames.iterdir()), gpkg, detectors=(), workers=0, progress=False)
    import rasterio

    def cells(tif):
        with rasterio.open(tif) as ds:
            return ds.read(), ds.transform

    free = build_mosaic(gpkg, tmp_path / "free.tif", seam_pairs=0).files[0]
    monkeypatch.setattr(tiles, "TILE", 32)
    monkeypatch.setattr(tiles, "MEMORY_MB", 32 * 32 * 20 * 2 / 2**20)
    monkeypatch.setattr(cog, "IN_MEMORY_MB", 0.0)
    spills = []
    real_spill = tiles.Tiles._spill
    monkeypatch.setattr(tiles.Tiles, "_spill", lambda tiles, key, tile: (spills.append(key), real_spill(tiles, key, tile)))
    out = tmp_path / "out"
    out.mkdir()
    tight = build_mosaic(gpkg, out / "tight.tif", seam_pairs=0).files[0]
    assert len(spills) > 50
    assert free.size == tight.size and free.size[0] * free.size[1] > 50 * 32 * 32
    a, ta = cells(free.path)
    b, tb = cells(tight.path)
    assert ta == tb
    np.testing.assert_array_equal(a, b)
    verdict = validate_cog(tight.path)
    assert verdict.ok and "ERROR" not in verdict.output and "WARNING" not in verdict.output, verdict
    assert sorted(os.listdir(out)) == ["tight.tif"]          # no tiles, no plain copy left
