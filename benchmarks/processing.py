"""Pipeline throughput next to its floor (decoding the same frames), and memory over a long run.

Two frame sets, each linked ``12 x copies`` times into a temporary folder: ``all``, the 12
Brighton photos (4000x2250 JPEG; 6 of them re-saved by a photo viewer, so the pipeline also
checks their pixels against an untouched neighbour: a worst case), and ``originals``, the 6
untouched ones (what a drone's own card holds).  For each
``--reduce`` floor (default 1: the pipeline decodes each JPEG at the coarsest libjpeg scale its
detectors need for the frame's GSD) and each of ``repeats`` rounds it measures, back to back,
on the same frames with the same number of worker processes:

* decode-only: read + decode every frame at FULL size in a process pool (what searching the
  frames as they come off the card would cost with no detector at all: the baseline);
* pipeline: ``process_frames`` into a fresh GeoPackage (metadata pre-pass, read, SHA-256,
  decode, pixel-rotation check, detectors, georeference, write) with the default detectors
  ``fire,smoke,vehicle`` unless ``--detectors`` says otherwise (``none``: no detector).  Its
  pool is started inside the timing.

The machine may be shared: each round's ratio is taken from two runs a few seconds apart, and
the median ratio over the rounds is reported next to every round's figures.  Because other
people's load makes wall-clock rates jump, the CPU time per frame of both (worker processes'
and this process's) is reported too: ``cpu_ratio`` = decode CPU / pipeline CPU per frame is
the frames/s ratio an otherwise idle machine would show.

Long run (``--long N``): N frames (the 12 cycled through symlinks) processed with the same
detectors while a thread samples the parent's and the workers' RSS; memory must stay flat.

Run: ``python -m benchmarks.processing [--copies 10] [--workers 2] [--repeats 3] [--long 2000]
[--detectors fire,smoke,vehicle|none]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _decode(args):
    from processing.frames import decode_frame, read_frame_bytes

    path, reduce = args
    c0 = time.thread_time()
    decode_frame(read_frame_bytes(path), path, reduce=reduce)
    return time.thread_time() - c0


def _link(src, folder: Path, n: int) -> list[str]:
    folder.mkdir()
    paths = []
    for k in range(n):
        p = src[k % len(src)]
        q = folder / f"c{k // len(src):05d}_{p.name}"
        os.symlink(p, q)
        paths.append(str(q))
    return paths


def _decode_rate(paths, reduce, workers) -> tuple[float, float]:
    """Frames/s, and CPU seconds per frame (workers + this process)."""
    from processing.runners import _init_worker, _mp_context

    with ProcessPoolExecutor(workers, initializer=_init_worker, mp_context=_mp_context()) as ex:
        list(ex.map(_decode, [(paths[0], reduce)] * workers))  # warm the pool
        t0, c0 = time.perf_counter(), time.process_time()
        cpu = sum(ex.map(_decode, [(p, reduce) for p in paths], chunksize=2))
        wall = time.perf_counter() - t0
        cpu += time.process_time() - c0
    return len(paths) / wall, cpu / len(paths)


SETS = {
    # the whole Brighton set: 6 of 12 re-saved by a photo viewer, each checked against its
    # untouched neighbours' pixels in the worker (a worst case)
    "all": lambda src: src,
    # what a drone's own card holds: no editor, no pixel check
    "originals": lambda src: [p for p in src if p.name <= "DJI_0023.JPG"],
}


DEFAULT_DETECTORS = ("fire", "smoke", "vehicle")


def run(copies: int = 10, workers: int | None = None, detectors=DEFAULT_DETECTORS, reduces=(1,),
        repeats: int = 3, long_frames: int = 0, sets=("all", "originals")) -> dict:
    """Measure; returns a dict of figures (frames/s, ratio to decode, memory)."""
    from processing.pipeline import process_frames

    src = sorted((DATA / "brighton").glob("DJI_*.JPG"))
    if not src:
        return {"skipped": "../shared/data/brighton not present"}
    workers = workers or os.cpu_count() or 1
    out = {"workers": workers, "frames": len(src) * copies, "frame_size": "4000x2250",
           "detectors": list(detectors), "repeats": repeats, "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in sets if repeats > 0 else ():  # --repeats 0: the long run only
            paths = _link(SETS[name](src), Path(tmp) / name, len(src) * copies)
            for reduce in reduces:
                rounds = []
                for r in range(repeats):
                    dec, dec_cpu = _decode_rate(paths, 1, workers)   # full size: the baseline
                    gpkg = Path(tmp) / f"{name}_{reduce}_{r}.gpkg"
                    t0 = time.perf_counter()
                    s = process_frames(paths, gpkg, detectors=detectors, workers=workers,
                                       reduce=reduce, progress=False)
                    pipe = len(paths) / (time.perf_counter() - t0)
                    assert s.done == len(paths), str(s)
                    pipe_cpu = (s.worker_cpu_s + s.parent_cpu_s) / len(paths)
                    rounds.append({"decode_fps": round(dec, 2), "pipeline_fps": round(pipe, 2),
                                   "ratio": round(pipe / dec, 3),
                                   "decode_cpu_ms_per_frame": round(1000 * dec_cpu, 1),
                                   "pipeline_cpu_ms_per_frame": round(1000 * pipe_cpu, 1),
                                   "cpu_ratio": round(dec_cpu / pipe_cpu, 3),
                                   "yaw_fixes": len(s.yaw_fixes)})
                    os.unlink(gpkg)
                out["results"][f"{name}, floor 1/{reduce}"] = {
                    "decoded_at": f"1/{_decoded_at(paths[0], detectors, reduce)}",
                    "median_ratio": round(statistics.median(x["ratio"] for x in rounds), 3),
                    "median_cpu_ratio": round(statistics.median(x["cpu_ratio"] for x in rounds), 3),
                    "rounds": rounds}
        if long_frames:
            out["long_run"] = long_run(src, long_frames, workers, tmp, detectors)
    return out


def _decoded_at(path, detectors, reduce) -> int:
    """The libjpeg reduction the pipeline picks for this frame with these detectors."""
    from processing.frames import read_metadata
    from processing.search import _search_reduction
    from processing.tasks import FrameTask

    return _search_reduction(FrameTask(path, detectors=tuple(detectors), reduce=reduce),
                             read_metadata(path), True)


def long_run(src, n: int, workers: int, tmp, detectors=(), reduce: int = 1) -> dict:
    """Process ``n`` frames and sample RSS (parent, workers) as the run goes."""
    import sqlite3

    import psutil

    from processing.pipeline import process_frames

    paths = _link(src, Path(tmp) / "long", n)
    gpkg = Path(tmp) / "long.gpkg"
    # what the pose pre-pass holds for the whole flight (freed frame by frame as it is processed)
    import tracemalloc

    from processing.prepass import _plan

    tracemalloc.start()
    plan = _plan(paths)
    plan_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    del plan
    me = psutil.Process()
    samples, stop = [], threading.Event()

    def sample():
        t0 = time.perf_counter()
        while not stop.wait(1.0):
            done = 0
            if gpkg.exists():
                try:
                    con = sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True, timeout=0.5)
                    done = con.execute("SELECT count(*) FROM frames").fetchone()[0]
                    con.close()
                except sqlite3.Error:
                    pass
            kids = me.children(recursive=True)
            workers_rss = [k.memory_info().rss for k in kids if k.is_running()]
            samples.append({"t_s": round(time.perf_counter() - t0, 1), "frames_done": done,
                            "parent_rss_mb": round(me.memory_info().rss / 2**20, 1),
                            "max_worker_rss_mb": round(max(workers_rss, default=0) / 2**20, 1)})

    th = threading.Thread(target=sample, daemon=True)
    rss0 = me.memory_info().rss
    th.start()
    t0 = time.perf_counter()
    s = process_frames(paths, gpkg, detectors=detectors, workers=workers, reduce=reduce, progress=False)
    elapsed = time.perf_counter() - t0
    stop.set()
    th.join()
    rss1 = me.memory_info().rss
    assert s.done == n, str(s)
    # growth measured between 20 % and 100 % of the frames (after pools and caches warmed up)
    warm = [x for x in samples if x["frames_done"] >= 0.2 * n]
    growth = (warm[-1]["parent_rss_mb"] - warm[0]["parent_rss_mb"]) if len(warm) >= 2 else None
    wgrowth = (warm[-1]["max_worker_rss_mb"] - warm[0]["max_worker_rss_mb"]) if len(warm) >= 2 else None
    half = [x for x in samples if x["frames_done"] >= 0.5 * n]
    return {"frames": n, "reduce": reduce, "elapsed_s": round(elapsed, 1),
            "pose_plan_mb": round(plan_mb, 2), "pose_plan_bytes_per_frame": round(plan_mb * 2**20 / n),
            "parent_growth_mb_last_half": round(half[-1]["parent_rss_mb"] - half[0]["parent_rss_mb"], 2)
            if len(half) >= 2 else None,
            "frames_per_s": round(n / elapsed, 1),
            "parent_rss_mb_before": round(rss0 / 2**20, 1), "parent_rss_mb_after": round(rss1 / 2**20, 1),
            "parent_growth_mb_20_to_100pct": growth, "worker_growth_mb_20_to_100pct": wgrowth,
            "parent_bytes_per_frame_20_to_100pct": None if growth is None or len(warm) < 2 else round(
                growth * 2**20 / max(1, warm[-1]["frames_done"] - warm[0]["frames_done"])),
            "samples": samples[:: max(1, len(samples) // 12)] + samples[-1:]}


def main(argv=None):
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reduce", type=int, action="append",
                    help="decode floors (1, 2, 4, 8; default 1); repeatable")
    ap.add_argument("--long", type=int, default=0, help="also run this many frames for memory")
    ap.add_argument("--detectors", default=",".join(DEFAULT_DETECTORS),
                    help="comma-separated detector names, or 'none' (default fire,smoke,vehicle)")
    ap.add_argument("--set", action="append", choices=sorted(SETS), help="frame sets (default both)")
    a = ap.parse_args(argv)
    dets = tuple(d for d in a.detectors.split(",") if d and d != "none")
    print(json.dumps(run(a.copies, a.workers, dets, tuple(a.reduce or (1,)), a.repeats, a.long,
                         tuple(a.set or SETS)), indent=1))


if __name__ == "__main__":
    main()
