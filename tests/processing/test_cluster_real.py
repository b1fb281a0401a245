"""``uav process --dask`` on real ``dask scheduler`` / ``dask worker`` processes (Dask's own
commands from the venv), whose worker cannot see the frames' folder: a tmpfs is mounted over it
in the worker's own mount namespace (``unshare --mount``; needs root, skipped with the reason
otherwise).  The flags, hashes and failures must be those of a local run; the summary says which
frames travelled.  Also: a cluster with no worker, and a worker with another amur-uav.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from processing.pipeline import process_frames
from tests.processing.dask_procs import (
    BRIGHTON,
    DASK,
    flags_table,
    frames_table,
    start_scheduler,
    start_worker,
    stop,
    unshare_works,
)
from tests.processing.test_pipeline import LAT, LON, batch
from uav.cli import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def blind_cluster(tmp_path_factory):
    """A scheduler and one worker that cannot see ``root/frames`` (the analyst's card)."""
    why = unshare_works()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("cluster")
    (root / "frames").mkdir()
    sched, address = start_scheduler(root)
    worker = start_worker(address, root / "elsewhere", hidden=root / "frames")
    from distributed import Client

    with Client(address, timeout=20) as client:
        client.wait_for_workers(1, timeout=60)
    try:
        yield root, address
    finally:
        stop(worker, sched)


def test_a_worker_that_cannot_see_the_frames_gets_their_bytes(blind_cluster):
    root, address = blind_cluster
    frames = root / "frames" / "card"
    good, noexif, bad = batch(frames)
    from distributed import Client

    with Client(address, timeout=20) as client:   # the worker really is blind
        assert set(client.run(os.path.exists, good[0]).values()) == {False}
    local = root / "local.gpkg"
    process_frames([frames], local, workers=0, progress=False)
    out = root / "cluster.gpkg"
    r = CliRunner().invoke(cli, ["process", str(frames), "--out", str(out), "--dask", address,
                                 "--progress-every", "0"])
    assert r.exit_code == 0, r.output
    assert "5 frame(s) processed" in r.output
    # a line per frame at --progress-every 0: done/failed, frames/s, the scheduler's workers
    lines = [ln for ln in r.output.splitlines() if ln.startswith("progress:")]
    assert len(lines) == 5 and lines[-1].startswith("progress: 5 of 5 frames (1 failed), ")
    assert lines[0].endswith(" left") and "1 Dask worker" in lines[0], lines
    size = sum(os.path.getsize(p) for p in (*good, noexif, bad)) / 1e6
    assert f"sent over the network: 5 frame(s), {size:.1f} MB (1 worker(s) could not read" in r.output
    assert frames_table(out) == frames_table(local)          # SHA-256 of the files, statuses, poses
    assert flags_table(out) == flags_table(local)
    con = sqlite3.connect(out)
    err = con.execute("SELECT error FROM frames WHERE name = 'f04.jpg'").fetchone()[0]
    assert "cut short" in err                      # decoded there from the bytes it was sent


@pytest.mark.skipif(not BRIGHTON.is_dir(), reason=f"no real frames at {BRIGHTON} (../shared/data)")
def test_brighton_on_a_blind_worker_gives_the_localflags_table(blind_cluster):
    """Real DJI frames, six re-saved by a photo viewer: their pixel check needs the bytes of
    their untouched neighbours too, which the worker cannot read either."""
    root, address = blind_cluster
    frames = root / "frames" / "brighton"
    frames.mkdir()
    for p in sorted(BRIGHTON.glob("DJI_*.JPG")):
        os.symlink(p, frames / p.name)             # the worker cannot follow what it cannot see
    local = root / "b-local.gpkg"
    s = process_frames([frames], local, workers=2, progress=False)
    out = root / "b-cluster.gpkg"
    r = CliRunner().invoke(cli, ["process", str(frames), "--out", str(out), "--dask", address,
                                 "--ship-frames", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "sent over the network: 12 frame(s)" in r.output and "(--ship-frames)" in r.output
    assert s.yaw_fixed == 6 and r.output.count("pixels rotated 180 deg") == 6
    assert frames_table(out) == frames_table(local)
    assert flags_table(out) == flags_table(local) and flags_table(out)


def test_no_worker_then_another_version_are_refused_naming_them(tmp_path):
    if not DASK.exists():
        pytest.skip(f"no {DASK}")
    sched, address = start_scheduler(tmp_path)
    frames = tmp_path / "card"
    batch(frames)
    out = tmp_path / "flight.gpkg"
    old = None
    try:
        r = CliRunner().invoke(cli, ["process", str(frames), "--out", str(out), "--dask", address,
                                     "--dask-timeout", "2", "--quiet"])
        assert r.exit_code == 2, r.output
        assert f"waiting for a Dask worker at {address}" in r.output
        assert f"no Dask worker joined the scheduler at {address} within 2 s" in r.output
        assert "--dask-timeout" in r.output and not out.exists()
        # a worker whose Python finds another amur-uav first (as a PC not updated would)
        fake = tmp_path / "old-site"
        (fake / "amur_uav-0.0.1.dist-info").mkdir(parents=True)
        (fake / "amur_uav-0.0.1.dist-info" / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: amur-uav\nVersion: 0.0.1\n")
        old = start_worker(address, tmp_path / "old-pc", env={"PYTHONPATH": str(fake)})
        r = CliRunner().invoke(cli, ["process", str(frames), "--out", str(out), "--dask", address,
                                     "--dask-timeout", "60", "--quiet"])
        from processing.cluster import installed_version

        assert r.exit_code == 2, r.output
        assert "runs amur-uav 0.0.1" in r.output and f"than this computer ({installed_version()})" in r.output
        assert "Traceback" not in r.output and not out.exists()
    finally:
        stop(*(p for p in (old, sched) if p is not None))


def _slope_dem(path: Path) -> Path:
    """A DEM under the synthetic frames (UTM 32N): 195 m rising 0.1 m per metre to the east."""
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    x0, y0 = Transformer.from_crs(4326, 32632, always_xy=True).transform(LON, LAT)
    n, res = 200, 2.0
    xs = x0 - n / 2 * res + (np.arange(n) + 0.5) * res
    z = (195.0 + 0.1 * (xs - x0))[None, :].repeat(n, 0).astype("float32")
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs="EPSG:32632", transform=from_origin(x0 - n / 2 * res, y0 + n * res / 2, res, res),
                       nodata=-9999) as ds:
        ds.write(z, 1)
    return path


def test_a_dem_the_worker_cannot_read_is_sent_with_the_run(blind_cluster):
    """``--dem`` on the analyst's disk only: it travels once, is held in the worker's memory,
    and the frames land on the terrain exactly as in a local run."""
    root, address = blind_cluster
    frames = root / "frames" / "dem-card"
    batch(frames)
    dem = _slope_dem(root / "frames" / "gis" / "slope.tif")
    local = root / "dem-local.gpkg"
    process_frames([frames], local, workers=0, dem=str(dem), progress=False)
    out = root / "dem-cluster.gpkg"
    r = CliRunner().invoke(cli, ["process", str(frames), "--out", str(out), "--dask", address,
                                 "--dem", str(dem), "--quiet"])
    assert r.exit_code == 0, r.output
    size = dem.stat().st_size / 1e6
    assert (f"sent over the network: the DEM slope.tif, {size:.1f} MB, held in each Dask worker's "
            f"memory (1 worker(s) could not read {dem})") in r.output
    assert "georeferenced: 3" in r.output, r.output
    assert frames_table(out) == frames_table(local) and flags_table(out) == flags_table(local)
    flat = root / "flat-local.gpkg"   # the DEM did move the footprints: not flat ground's
    process_frames([frames], flat, workers=0, progress=False)

    def footprints(db):
        with sqlite3.connect(db) as con:
            return dict(con.execute("SELECT name, geom FROM frames WHERE geom IS NOT NULL"))

    assert footprints(out) == footprints(local) != footprints(flat) and len(footprints(out)) == 3
    from distributed import Client

    with Client(address, timeout=20) as client:   # nothing left behind on the worker
        assert client.run(lambda: __import__("processing.sent_dem").sent_dem.SENT_DEMS) == {
            w: {} for w in client.nthreads()}


def test_a_dem_too_big_to_send_is_refused_saying_what_to_do(blind_cluster, monkeypatch):
    root, address = blind_cluster
    frames = root / "frames" / "big-dem-card"
    batch(frames)
    dem = _slope_dem(root / "frames" / "gis" / "slope2.tif")
    monkeypatch.setattr("processing.cluster.DEM_SEND_LIMIT_MB", 0.1)   # the slope is 0.2 MB
    r = CliRunner().invoke(cli, ["process", str(frames), "--out", str(root / "big.gpkg"), "--dask", address,
                                 "--dem", str(dem), "--quiet"])
    assert r.exit_code == 2, r.output
    assert f"1 Dask worker(s) cannot read the DEM {dem} and it is too big to send them" in r.output
    assert "same path on each worker PC" in r.output and "Traceback" not in r.output


def test_a_blind_workers_tie_features_come_back_for_registration(blind_cluster, monkeypatch):
    """``--register`` on Dask: the worker describes each frame from the bytes it was sent, the
    parent caches them, and registration decodes nothing again (the same rows as without them)."""
    from processing.tie_cache import tie_cache_dir
    from tests.processing.test_registration_cache import _register_counting, _rows, _sha
    from tests.processing.test_registration_ground import _render

    root, address = blind_cluster
    s = _render(root / "frames" / "survey", 0.0, cols=3, rows=2)
    out = root / "reg-cluster.gpkg"
    r = CliRunner().invoke(cli, ["process", str(s.paths[0].parent), "--out", str(out), "--dask", address,
                                 "--register", "--detectors", "none", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "sent over the network: 6 frame(s)" in r.output and "6 of 6 frame(s) tied" in r.output
    assert sorted(p.stem for p in tie_cache_dir(out).glob("*.npz")) == sorted(_sha(out).values())
    first = _rows(out)
    assert _register_counting(monkeypatch, out) == [] and _rows(out) == first
    # the features the worker sent are those the parent finds itself (the same GeoPackage,
    # so the same frame order, registered without its cache)
    alone = root / "reg-alone" / "flight.gpkg"
    alone.parent.mkdir()
    shutil.copy(out, alone)
    assert len(_register_counting(monkeypatch, alone)) == 6 and _rows(alone) == first
