"""The mosaic grown during a flight (``uav process --watch --mosaic``) against drawing it once.

A simulator survey (:func:`benchmarks.mosaic._sim_frames`: 1320x989 frames, a photo every
20 m, lines 50 m apart) is processed in batches of ``--batch`` frames into one GeoPackage, as a
watch does (``--detectors none``, in-process), and after each batch
:meth:`processing.orthomosaic.GrowingMosaic.update` draws the new frames:

* ``write_every_batch``: the file rewritten after every batch (``write_every_s=0``, the most a
  watch can cost: frames arriving slower than the 30 s write interval);
* ``write_every_30s``: the command line's interval (here the batches come faster than that, so
  the file is written after the first batch and when the watch stops);

against ``build_mosaic`` of the finished GeoPackage at the same cell (the grown one's, chosen
from its first batch) with the seam check off
(the same work once), and the same frames decoded at full size (decode-only).  Also the
largest difference between the grown and the one-shot file (grey levels), the canvas's
grid, and each phase's own peak memory (Linux: the peak is reset before each phase, and the
memory held when it starts is printed beside it).
Run: ``python -m benchmarks.mosaic_growing [--sim 120,1200] [--batch 10] [--canvas-mb 128]`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path


def _memory_mb(field: str) -> float | None:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of this process, MB; None off Linux."""
    try:
        with open("/proc/self/status") as f:
            line = next(x for x in f if x.startswith(field + ":"))
        return round(int(line.split()[1]) / 1024)
    except (OSError, StopIteration):
        return None


def _peak_reset() -> float | None:
    """Start a new peak (Linux: ``clear_refs`` 5 sets VmHWM to the RSS now); the RSS now."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _memory_mb("VmRSS")


def _grow(paths, tmp: Path, tag: str, batch: int, write_every_s: float) -> tuple[dict, Path]:
    from processing import process_frames
    from processing.orthomosaic import GrowingMosaic

    rss0 = _peak_reset()
    gpkg = tmp / f"grow-{tag}.gpkg"
    gm = GrowingMosaic(gpkg, tmp / f"grow-{tag}.tif", write_every_s=write_every_s)
    spent, cpu, writes = 0.0, 0.0, 0
    for k in range(0, len(paths) + batch, batch):   # the last round is the watch stopping
        if k < len(paths):
            process_frames(paths[k:k + batch], gpkg, detectors=(), workers=0, progress=False)
        c0, t0 = time.process_time(), time.perf_counter()
        writes += (gm.update() if k < len(paths) else gm.finish()) is not None
        spent += time.perf_counter() - t0
        cpu += time.process_time() - c0
    grid = next(iter(gm.grids.values()))
    return {"mosaic_s": round(spent, 2), "s_per_frame": round(spent / len(paths), 4),
            "cpu_s": round(cpu, 2), "writes": writes, "frames": gm.frames,
            "canvas_px": [grid.width, grid.height], "cell_m": grid.res,
            "rss_mb_before": rss0, "peak_rss_mb": _memory_mb("VmHWM")}, gpkg


def flight(tmp: Path, n: int, batch: int) -> dict:
    from benchmarks.mosaic import _decode_s, _sim_frames
    from processing.orthomosaic import build_mosaic

    _, paths = _sim_frames(tmp, n)
    out = {"frames": n, "batch": batch}
    out["decode_only_s_per_frame"] = round(_decode_s(paths) / n, 4)
    out["write_every_batch"], gpkg = _grow(paths, tmp, f"{n}-b", batch, 0.0)
    out["write_every_30s"], _ = _grow(paths, tmp, f"{n}-30", batch, 30.0)
    rss0 = _peak_reset()
    c0, t0 = time.process_time(), time.perf_counter()
    # at the grown mosaic's cell (chosen from its first batch, within a hair of the flight's)
    once = build_mosaic(gpkg, tmp / f"once-{n}.tif", resolution=out["write_every_batch"]["cell_m"], seam_pairs=0)
    wall, f = time.perf_counter() - t0, once.files[0]
    out["once"] = {"mosaic_s": round(wall, 2), "s_per_frame": round(wall / n, 4),
                   "cpu_s": round(time.process_time() - c0, 2), "mosaic_px": list(f.size),
                   "cell_m": f.res_m, "rss_mb_before": rss0, "peak_rss_mb": _memory_mb("VmHWM")}
    out["grown_vs_once_max_grey"] = _max_diff(tmp / f"grow-{n}-b.tif", Path(f.path))
    out["peak_rss_mb_whole_run"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def _max_diff(a: Path, b: Path):
    import numpy as np
    import rasterio

    with rasterio.open(a) as da, rasterio.open(b) as db:
        if (da.transform, da.shape) != (db.transform, db.shape):
            return f"different grids: {da.shape} {da.transform.c, da.transform.f} vs {db.shape} {db.transform.c, db.transform.f}"
        worst = 0
        for _, w in da.block_windows(1):      # block by block: the files are not held whole
            pa, pb = da.read(window=w).astype(int), db.read(window=w).astype(int)
            seen = (pa[3] > 0) & (pb[3] > 0)
            if seen.any():
                worst = max(worst, int(np.abs(pa[:3] - pb[:3])[:, seen].max()))
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", default="120", help="simulator flight sizes, comma-separated")
    ap.add_argument("--batch", type=int, default=10, help="frames per watch batch")
    ap.add_argument("--canvas-mb", type=float, default=None,
                    help="memory a canvas's tiles may take before they go to disk (default: the program's)")
    a = ap.parse_args(argv)
    from processing.orthomosaic import tiles

    if a.canvas_mb is not None:
        tiles.MEMORY_MB = a.canvas_mb
    with tempfile.TemporaryDirectory(prefix="uav-grow-") as t:
        res = {"load_before": list(os.getloadavg()), "canvas_mb": tiles.MEMORY_MB}
        for n in (int(x) for x in a.sim.split(",") if x):
            res[f"simulator_{n}"] = flight(Path(t), n, a.batch)
        res["load_after"] = list(os.getloadavg())
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
