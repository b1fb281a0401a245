"""Detector figures through the analyst's own path: ``uav process … && uav export --to csv
--per-flag --status all``, the flags scored from the CSV (IoU 0.5, each labelled box once, as
:mod:`processing.detect.evaluate` scores; AP50 over the flags the run wrote, so the curve stops
at the operating threshold of the level asked for).

    .venv/bin/python -m benchmarks.user_path fire-smoke --sensitivity smoke=high
    .venv/bin/python -m benchmarks.user_path beach
    .venv/bin/python -m benchmarks.user_path oblique
    .venv/bin/python -m benchmarks.user_path oblique-cost

``fire-smoke``: the held-back ``source-test`` photos (222); ``beach``: the 12 Brighton photos
(no fire or smoke: every such flag is false); ``oblique``: the two aerial-oblique DJI frames,
vehicles in the near field (rows whose ground resolution is finer than 15 cm/px), see
:func:`oblique`; ``oblique-cost``: what COCO's second opinion on those frames' vehicle flags
(:mod:`processing.detect.coco_check`) costs, see :func:`oblique_cost`.  Frames are linked into
a scratch folder, never copied.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.cli_path import process_and_export


def score_rows(rows: list[dict], labels: dict, cls: str) -> dict:
    """``labels``: frame name -> labelled boxes of ``cls`` (x0, y0, x1, y1, full-frame pixels)."""
    from processing.detect.evaluate import average_precision, match

    scores, hits, n_gt = [], [], 0
    by_frame: dict = {}
    for r in rows:
        if r["class"] == cls:
            by_frame.setdefault(Path(r["frame_path"]).name, []).append(
                (float(r["score"]), np.array([float(r[k]) for k in ("px_x0", "px_y0", "px_x1", "px_y1")])))
    for name in set(labels) | set(by_frame):
        gts = np.asarray(labels.get(name, []), np.float32).reshape(-1, 4)
        dets = by_frame.get(name, [])
        n_gt += len(gts)
        scores += [d[0] for d in dets]
        hits += match(dets, gts)
    s, h = np.array(scores), np.array(hits, bool)
    tp = int(h.sum())
    return {"class": cls, "labelled": n_gt, "flags": len(s), "hits": tp,
            "precision": round(tp / max(len(s), 1), 3), "recall": round(tp / max(n_gt, 1), 3),
            "ap50": round(average_precision(s, h, n_gt), 3)}


def fire_smoke(root: Path, work: Path, extra: list[str]) -> dict:
    from processing.detect.datasets import fire_smoke_samples

    samples = fire_smoke_samples(root / "fire-smoke", "source-test")
    rows = process_and_export([s.path for s in samples], work, ["--detectors", "fire,smoke", *extra])
    out = {"frames": len(samples)}
    for cls in ("fire", "smoke"):
        labels = {s.path.name: [b for b, c in zip(s.boxes, s.classes, strict=True) if c == cls]
                  for s in samples}
        out[cls] = score_rows(rows, labels, cls)
    return out


def beach(root: Path, work: Path, extra: list[str]) -> dict:
    frames = sorted((root / "brighton").glob("*.JPG"))
    rows = process_and_export(frames, work, extra)
    out = {"frames": len(frames)}
    for cls in ("fire", "smoke", "vehicle"):
        mine = [r for r in rows if r["class"] == cls]
        out[cls] = {"flags": len(mine), "scores": sorted(round(float(r["score"]), 3) for r in mine)}
    return out


def oblique_cost(root: Path, repeats: int = 3) -> dict:
    """CPU seconds per oblique frame through the worker (``process_frame``: decode, pose,
    vehicle search, COCO check, flags), with the COCO check off and on, interleaved; the median
    of ``repeats`` each.  The difference is the check's cost on that frame."""
    from processing.detect.coco_check import MODEL_ENV
    from processing.tasks import FrameTask
    from processing.worker import limit_threads, process_frame

    limit_threads()
    was = os.environ.get(MODEL_ENV)
    out: dict = {}
    try:
        for p in sorted((root / "aerial-oblique" / "images").glob("*.JPG")):
            task = FrameTask(str(p), detectors=("vehicle",))
            process_frame(task)   # models loaded, caches warm
            cpu: dict = {"off": [], "on": []}
            for _ in range(repeats):
                for how in ("off", "on"):
                    if how == "off":
                        os.environ[MODEL_ENV] = "off"
                    elif was is None:
                        os.environ.pop(MODEL_ENV, None)
                    else:
                        os.environ[MODEL_ENV] = was
                    res = process_frame(task)
                    cpu[how].append(res.cpu_s)
            on, off = float(np.median(cpu["on"])), float(np.median(cpu["off"]))
            out[p.name] = {"cpu_s_check_off": round(off, 2), "cpu_s_check_on": round(on, 2),
                           "check_cpu_s": round(on - off, 2), "note": res.frame.error}
    finally:
        if was is None:
            os.environ.pop(MODEL_ENV, None)
        else:
            os.environ[MODEL_ENV] = was
    return out


def main(argv=None) -> int:
    from processing.detect.evaluate import data_root

    ap = argparse.ArgumentParser(prog="python -m benchmarks.user_path", description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("fire-smoke", "beach", "oblique", "oblique-cost"))
    ap.add_argument("--sensitivity", default=None)
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    a = ap.parse_args(argv)
    root = data_root()
    extra = ["--sensitivity", a.sensitivity] if a.sensitivity else []
    with tempfile.TemporaryDirectory() as tmp:
        work = a.keep or Path(tmp)
        if a.what == "fire-smoke":
            res = fire_smoke(root, work, extra)
        elif a.what == "beach":
            res = beach(root, work, extra)
        elif a.what == "oblique-cost":
            res = oblique_cost(root)
        else:
            from benchmarks.oblique import oblique

            res = oblique(root, work, extra)
    res["sensitivity"] = a.sensitivity or "normal"
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
