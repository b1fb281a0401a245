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
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from processing.pipeline import process_frames
from tests.processing.test_pipeline import batch
from uav.cli import cli

pytestmark = pytest.mark.slow
DASK = Path(sys.executable).with_name("dask")
BRIGHTON = Path(__file__).resolve().parents[3] / "shared" / "data" / "brighton"


def _unshare_works() -> str | None:
    if not DASK.exists():
        return f"no {DASK} (install dask[distributed])"
    if not shutil.which("unshare"):
        return "no unshare command to give the worker its own mount namespace"
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    if r.returncode:
        return f"cannot make a mount namespace here ({r.stderr.decode().strip()}); needs root"
    return None


def _scheduler(tmp: Path) -> tuple[subprocess.Popen, str]:
    info = tmp / "scheduler.json"
    proc = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
                             "--no-dashboard", "--scheduler-file", str(info)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    deadline = time.monotonic() + 30
    while not info.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    import json

    for _ in range(50):
        try:
            return proc, json.loads(info.read_text())["address"]
        except (ValueError, KeyError, FileNotFoundError):
            time.sleep(0.1)
    proc.kill()
    pytest.fail("dask scheduler did not start")


def _worker(address: str, cwd: Path, hidden: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    cwd.mkdir(exist_ok=True)
    cmd = [str(DASK), "worker", address, "--nthreads", "1", "--no-dashboard", "--local-directory",
           str(cwd), "--name", cwd.name]
    if hidden is not None:   # its own mount namespace, an empty tmpfs over the frames' folder
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               'mount -t tmpfs none "$0" && exec "$@"', str(hidden), *cmd]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})


def _stop(*procs):
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.fixture(scope="module")
def blind_cluster(tmp_path_factory):
    """A scheduler and one worker that cannot see ``root/frames`` (the analyst's card)."""
    why = _unshare_works()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("cluster")
    (root / "frames").mkdir()
    sched, address = _scheduler(root)
    worker = _worker(address, root / "elsewhere", hidden=root / "frames")
    from distributed import Client

    with Client(address, timeout=20) as client:
        client.wait_for_workers(1, timeout=60)
    try:
        yield root, address
    finally:
        _stop(worker, sched)


def _frames(db) -> dict:
    con = sqlite3.connect(db)
    try:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT name, status, sha256, yaw_corrected, round(lat, 7), round(lon, 7) FROM frames")}
    finally:
        con.close()


def _flags(db) -> list:
    con = sqlite3.connect(db)
    try:
        return sorted(con.execute(
            "SELECT fr.name, f.class, round(f.score, 3), round(f.px_x0), round(f.px_y0), round(f.px_x1), "
            "round(f.px_y1), round(f.lat, 6), round(f.lon, 6) FROM flags f JOIN frames fr ON fr.fid = f.frame_fid"))
    finally:
        con.close()


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
    r = CliRunner().invoke(cli, ["process", str(frames), "--out", str(out), "--dask", address, "--quiet"])
    assert r.exit_code == 0, r.output
    assert "5 frame(s) processed" in r.output
    size = sum(os.path.getsize(p) for p in (*good, noexif, bad)) / 1e6
    assert f"sent over the network: 5 frame(s), {size:.1f} MB (1 worker(s) could not read" in r.output
    assert _frames(out) == _frames(local)          # SHA-256 of the files, statuses, poses
    assert _flags(out) == _flags(local)
    con = sqlite3.connect(out)
    err = con.execute("SELECT error FROM frames WHERE name = 'f04.jpg'").fetchone()[0]
    assert "cut short" in err                      # decoded there from the bytes it was sent


@pytest.mark.skipif(not BRIGHTON.is_dir(), reason=f"no real frames at {BRIGHTON} (../shared/data)")
def test_brighton_on_a_blind_worker_gives_the_local_flags(blind_cluster):
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
    assert _frames(out) == _frames(local)
    assert _flags(out) == _flags(local) and _flags(out)


def test_no_worker_then_another_version_are_refused_naming_them(tmp_path):
    if not DASK.exists():
        pytest.skip(f"no {DASK}")
    sched, address = _scheduler(tmp_path)
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
        old = _worker(address, tmp_path / "old-pc", env={"PYTHONPATH": str(fake)})
        r = CliRunner().invoke(cli, ["process", str(frames), "--out", str(out), "--dask", address,
                                     "--dask-timeout", "60", "--quiet"])
        from processing.cluster import installed_version

        assert r.exit_code == 2, r.output
        assert "runs amur-uav 0.0.1" in r.output and f"than this computer ({installed_version()})" in r.output
        assert "Traceback" not in r.output and not out.exists()
    finally:
        _stop(*(p for p in (old, sched) if p is not None))
