"""A mosaic run killed outright (a power cut, SIGKILL) leaves its tiles and its half-written
file hidden beside the mosaic; the next mosaic written there removes them and says so, and
leaves alone what a running process, or another computer's, is writing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from click.testing import CliRunner
from mosaicflight import make_survey

from processing import process_frames
from processing.orthomosaic import tiles
from uav.cli import cli
from uav.files import owner_tag

# the mosaic drawn with one small tile in memory and its plain copy on disk, and the process
# killing itself (SIGKILL: no handler, no cleanup) as GDAL starts writing the COG
KILLED = """
import os, signal, sys
import rasterio.shutil
import processing.orthomosaic.cog as cog
import processing.orthomosaic.tiles as tiles
from processing.orthomosaic import build_mosaic
tiles.TILE = 32
tiles.MEMORY_MB = 32 * 32 * 20 / 2**20
cog.IN_MEMORY_MB = 0.0
rasterio.shutil.copy = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
build_mosaic(sys.argv[1], sys.argv[2], seam_pairs=0)
"""


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_what_a_killed_mosaic_left_is_removed_by_the_next(tmp_path):
    s = make_survey(tmp_path / "src")
    gpkg = tmp_path / "f.gpkg"
    process_frames(sorted(s.frames.iterdir()), gpkg, detectors=(), workers=0, progress=False)
    out = tmp_path / "out"
    out.mkdir()
    killed = subprocess.run([sys.executable, "-c", KILLED, str(gpkg), str(out / "m.tif")],
                            capture_output=True, text=True, timeout=240)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = _hidden(out)
    assert any(n.startswith(tiles.PREFIX) for n in left), left
    assert any(n.startswith(".m.tif.") and n.endswith(".part") for n in left), left
    assert any(n.endswith(".part.plain.tif") for n in left), left
    (dead,) = [out / n for n in left if n.startswith(tiles.PREFIX)]
    assert len(list(dead.glob("*.npz"))) > 3
    # a canvas of a process still drawing (this one), and one on a computer sharing the disk
    live, other = out / f"{tiles.PREFIX}live", out / f"{tiles.PREFIX}other"
    for d, tag in ((live, owner_tag()), (other, "fieldpc2-" + str(os.getpid()))):
        d.mkdir()
        (d / tiles.OWNER).write_text(tag)
        (d / "0_0.npz").write_bytes(b"x" * 1000)
    live_part = out / f".m.tif.{owner_tag()}.abc123.part"
    live_part.write_bytes(b"y" * 10)

    res = CliRunner().invoke(cli, ["mosaic", str(gpkg), "-o", str(out / "m.tif"), "--seam-pairs", "0"])
    assert res.exit_code == 0, res.output
    assert "stopped outright" in res.output and "MB" in res.output, res.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["m.tif", live.name, other.name, live_part.name])
