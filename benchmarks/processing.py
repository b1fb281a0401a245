"""Pipeline throughput next to its floor (decoding the same frames), and memory over a long run.

The frames are the 12 Brighton photos (4000x2250 JPEG), linked ``copies`` times into a temporary
folder so the run is long enough to watch memory.  For each resolution (full, 1/2, 1/4 via
libjpeg scaling) it measures, in the same run and with the same number of worker processes:

* decode-only: read + decode every frame (the floor no pipeline can beat);
* pipeline: ``process_frames`` into a fresh GeoPackage (read, SHA-256, decode, detectors,
  georeference, write), detectors as given (none by default: the detectors have their own
  benchmark), pose pre-pass included.

Memory: the parent's RSS before and after the longest run, and the peak RSS of a worker.

Run: ``python -m benchmarks.processing [copies] [workers]``
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _decode(args):
    from processing.frames import decode_frame, read_frame_bytes

    path, reduce = args
    img = decode_frame(read_frame_bytes(path), path, reduce=reduce)
    return img.shape


def _peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker_peak(_):
    return _peak_rss_mb()


def run(copies: int = 10, workers: int | None = None, detectors=(), reduces=(1, 2, 4)) -> dict:
    """Measure; returns a dict of figures (frames/s, ratio to decode, memory)."""
    import psutil

    from processing.pipeline import _init_worker, _mp_context, process_frames

    src = sorted((DATA / "brighton").glob("DJI_*.JPG"))
    if not src:
        return {"skipped": "../shared/data/brighton not present"}
    workers = workers or os.cpu_count() or 1
    proc = psutil.Process()
    out = {"workers": workers, "frames": len(src) * copies, "frame_size": "4000x2250",
           "detectors": list(detectors), "by_resolution": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "frames"
        folder.mkdir()
        paths = []
        for c in range(copies):
            for p in src:
                q = folder / f"c{c:03d}_{p.name}"
                os.symlink(p, q)
                paths.append(str(q))
        for reduce in reduces:
            with ProcessPoolExecutor(workers, initializer=_init_worker, mp_context=_mp_context()) as ex:
                list(ex.map(_decode, [(paths[0], reduce)] * workers))  # warm the pool
                t0 = time.perf_counter()
                list(ex.map(_decode, [(p, reduce) for p in paths], chunksize=2))
                dec = time.perf_counter() - t0
            from processing.pipeline import prepare_tasks

            t0 = time.perf_counter()
            prepare_tasks(paths)
            prep = time.perf_counter() - t0
            gpkg = Path(tmp) / f"r{reduce}.gpkg"
            rss0 = proc.memory_info().rss
            t0 = time.perf_counter()
            s = process_frames(paths, gpkg, detectors=detectors, workers=workers, reduce=reduce,
                               progress=False)
            pipe = time.perf_counter() - t0
            rss1 = proc.memory_info().rss
            assert s.done == len(paths), str(s)
            out["by_resolution"][f"1/{reduce}"] = {
                "decode_fps": round(len(paths) / dec, 2), "pipeline_fps": round(len(paths) / pipe, 2),
                "ratio": round(dec / pipe, 2),
                "pose_prepass_s": round(prep, 2),  # EXIF/XMP + yaw and pixel-rotation checks, in the parent
                "parent_rss_mb_before": round(rss0 / 2**20, 1), "parent_rss_mb_after": round(rss1 / 2**20, 1)}
        # memory flatness: the parent's RSS across a second long run on the same process
        gpkg = Path(tmp) / "long.gpkg"
        samples = []

        def note(_flag, _frame):  # pragma: no cover - no detectors by default
            pass

        rss_a = proc.memory_info().rss
        process_frames(paths[: len(paths) // 2], gpkg, detectors=detectors, workers=workers,
                       reduce=reduces[-1], progress=False, on_flag=note)
        samples.append(proc.memory_info().rss)
        process_frames(paths, gpkg, detectors=detectors, workers=workers, reduce=reduces[-1],
                       progress=False, on_flag=note)
        samples.append(proc.memory_info().rss)
        out["memory"] = {"parent_rss_mb_start": round(rss_a / 2**20, 1),
                         "after_half": round(samples[0] / 2**20, 1),
                         "after_all": round(samples[1] / 2**20, 1)}
        with ProcessPoolExecutor(1, mp_context=_mp_context()) as ex:
            out["memory"]["fresh_worker_peak_rss_mb"] = round(ex.submit(_worker_peak, 0).result(), 1)
    return out


if __name__ == "__main__":
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    copies = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else None
    print(json.dumps(run(copies, workers), indent=1))
