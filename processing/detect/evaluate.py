"""Evaluate the detectors on the held-back splits: precision, recall and AP50 per class.

Run as ``python -m processing.detect.evaluate`` (``--help`` for options).  Splits:

``fire-smoke``   the fire-smoke data set's ``valid/`` folder (never used in training)
``aerial-cars``  the fixed seeded 20 % of aerial-cars images held back from training
``synthetic``    a held-back set of simulator frames (``--synthetic DIR`` with truth.json)
``brighton``     the 12 Brighton beach photos, which contain no fire or smoke: every fire or
                 smoke flag there is a false alarm

A detection matches a labelled box of its class when their intersection-over-union is at least
0.5, each labelled box matching once (highest score first).  AP50 is the area under the
interpolated precision-recall curve (all points, as in Pascal VOC 2010+) over detections down
to a score of 0.05; precision and recall are given at the detector's own threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .base import FIRE, SMOKE, VEHICLE, Detector, FrameInfo
from .datasets import CANONICAL_GSD_M, aerial_cars_samples, fire_smoke_samples

AP_FLOOR = 0.05
# training renders scenes from seed 1000 up (python -m simulators.training_frames --seed 1000)
SYNTHETIC_VALID_SEED = 5000
SYNTHETIC_VALID_SCENES = 8
DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def data_root() -> Path:
    """``$AMUR_UAV_DATA`` or ``../shared/data`` beside the project folder."""
    return Path(os.environ.get("AMUR_UAV_DATA", DEFAULT_DATA))


@dataclass
class ClassScore:
    """Scores for one class on one split."""

    cls: str
    ground_truth: int
    detections: int
    precision: float
    recall: float
    ap50: float

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` with every box in ``b``."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = (x1 - x0).clip(0) * (y1 - y0).clip(0)
    aa = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    ab = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(aa[:, None] + ab[None, :] - inter, 1e-9)


def match(dets: list[tuple[float, np.ndarray]], gts: np.ndarray, iou: float = 0.5) -> list[bool]:
    """For each detection (score, box), sorted by score, whether it hits an unmatched label."""
    order = sorted(range(len(dets)), key=lambda i: -dets[i][0])
    used = np.zeros(len(gts), bool)
    hit = [False] * len(dets)
    if len(gts):
        m = iou_matrix(np.array([dets[i][1] for i in order]).reshape(-1, 4), gts)
        for r, i in enumerate(order):
            cand = np.where(~used & (m[r] >= iou))[0]
            if len(cand):
                used[cand[np.argmax(m[r, cand])]] = True
                hit[i] = True
    return hit


def average_precision(scores: np.ndarray, hits: np.ndarray, n_gt: int) -> float:
    """All-point interpolated AP from per-detection scores and hit flags."""
    if n_gt == 0 or len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    fp = np.cumsum(~hits[order])
    rec = tp / n_gt
    prec = tp / np.maximum(tp + fp, 1e-9)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def score_split(frames, detectors: list[Detector], classes: tuple[str, ...],
                thresholds: dict[str, float], desc: str = "") -> dict[str, ClassScore]:
    """Run ``detectors`` over ``frames`` (iterable of (image, FrameInfo, gt boxes, gt classes))."""
    per_cls = {c: {"scores": [], "hits": [], "gt": 0} for c in classes}
    for img, info, gt_boxes, gt_cls in tqdm(frames, desc=desc, unit="frame", leave=False):
        dets = [d for det in detectors for d in det.detect(img, info)]
        for c in classes:
            g = np.array([b for b, k in zip(gt_boxes, gt_cls, strict=True) if k == c], np.float32).reshape(-1, 4)
            dc = [(d.score, np.array([d.x0, d.y0, d.x1, d.y1])) for d in dets if d.cls == c]
            per_cls[c]["gt"] += len(g)
            per_cls[c]["scores"] += [s for s, _ in dc]
            per_cls[c]["hits"] += match(dc, g)
    out = {}
    for c, v in per_cls.items():
        s = np.array(v["scores"], float)
        h = np.array(v["hits"], bool)
        op = s >= thresholds.get(c, 0.0)
        tp = int(h[op].sum())
        out[c] = ClassScore(c, v["gt"], int(op.sum()), tp / max(int(op.sum()), 1),
                            tp / max(v["gt"], 1), average_precision(s, h, v["gt"]))
    return out


def _read(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{path}: cannot be read")
    return img


def fire_smoke_frames(root: Path):
    for s in fire_smoke_samples(root / "fire-smoke", "valid"):
        yield _read(s.path), FrameInfo(str(s.path)), s.boxes, s.classes


def aerial_frames(root: Path):
    for s in aerial_cars_samples(root / "aerial-cars", "valid"):
        # the detector resizes to its training resolution from the frame's GSD
        yield (_read(s.path), FrameInfo(str(s.path), gsd_m=CANONICAL_GSD_M * s.scale),
               s.boxes, s.classes)


def synthetic_frames(folder: Path):
    from .synthetic import load_truth

    for fr in load_truth(folder):
        yield (_read(folder / fr["file"]), FrameInfo(str(folder / fr["file"]), gsd_m=fr["gsd_m"]),
               np.array([o["box"] for o in fr["objects"]], np.float32).reshape(-1, 4),
               [o["cls"] for o in fr["objects"]])


def false_alarms(root: Path, detectors: list[Detector]) -> dict:
    """Fire/smoke flags per Brighton photo (none of them shows fire or smoke)."""
    paths = sorted((root / "brighton").glob("*.JPG"))
    per = {d.name: [] for d in detectors}
    for p in tqdm(paths, desc="brighton", unit="frame", leave=False):
        img = _read(p)
        for d in detectors:
            per[d.name].append(len(d.detect(img, FrameInfo(str(p)))))
    return {"frames": len(paths),
            **{n: {"flags": int(sum(v)), "per_frame": round(sum(v) / max(len(v), 1), 3),
                   "frames_with_flags": int(sum(1 for x in v if x))} for n, v in per.items()}}


def _learned(name: str):
    from .registry import get_detector

    # run low so AP sees the whole curve; precision/recall use the default threshold
    det = get_detector(name, threshold=AP_FLOOR)
    default = get_detector(name).threshold
    return det, default


def evaluate(root: Path | None = None, splits=("fire-smoke", "aerial-cars", "brighton"),
             synthetic: Path | None = None) -> dict:
    """Scores of the learned detectors and the colour baselines on the requested splits."""
    from .registry import get_detector

    root = Path(root or data_root())
    res: dict = {"data": str(root)}
    t0 = time.perf_counter()
    if "fire-smoke" in splits or "synthetic" in splits:
        fire, fire_thr = _learned("fire")
        smoke, smoke_thr = _learned("smoke")
        thr = {FIRE: fire_thr, SMOKE: smoke_thr}
        base = [get_detector("fire-colour", min_score=AP_FLOOR),
                get_detector("smoke-colour", min_score=AP_FLOOR)]
        base_thr = {FIRE: get_detector("fire-colour").min_score,
                    SMOKE: get_detector("smoke-colour").min_score}
    if "vehicle" in splits or "aerial-cars" in splits or "synthetic" in splits:
        veh, veh_thr = _learned("vehicle")
    if "fire-smoke" in splits and (root / "fire-smoke").is_dir():
        frames = list(fire_smoke_frames(root))
        res["fire-smoke"] = {
            "images": len(frames),
            "learned": {c: s.as_dict() for c, s in
                        score_split(frames, [fire, smoke], (FIRE, SMOKE), thr, "fire-smoke").items()},
            "colour-baseline": {c: s.as_dict() for c, s in
                                score_split(frames, base, (FIRE, SMOKE), base_thr,
                                            "fire-smoke colour").items()},
        }
    if "aerial-cars" in splits and (root / "aerial-cars").is_dir():
        frames = list(aerial_frames(root))
        res["aerial-cars"] = {
            "images": len(frames),
            "learned": {c: s.as_dict() for c, s in
                        score_split(frames, [veh], (VEHICLE,), {VEHICLE: veh_thr},
                                    "aerial-cars").items()},
        }
    if "synthetic" in splits and synthetic is not None and Path(synthetic).is_dir():
        frames = list(synthetic_frames(Path(synthetic)))
        res["synthetic"] = {
            "images": len(frames),
            "learned": {c: s.as_dict() for c, s in
                        score_split(frames, [fire, smoke, veh], (FIRE, SMOKE, VEHICLE),
                                    {**thr, VEHICLE: veh_thr}, "synthetic").items()},
            "colour-baseline": {c: s.as_dict() for c, s in
                                score_split(frames, base, (FIRE, SMOKE), base_thr,
                                            "synthetic colour").items()},
        }
    if "brighton" in splits and (root / "brighton").is_dir():
        dets = [get_detector(n) for n in ("fire", "smoke", "fire-colour", "smoke-colour")]
        res["brighton_false_alarms"] = false_alarms(root, dets)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    return res


def format_table(res: dict) -> str:
    """The results as a plain-text table."""
    lines = [f"{'split':12} {'detector':16} {'class':8} {'GT':>5} {'det':>5} "
             f"{'P':>6} {'R':>6} {'AP50':>6}"]
    for split in ("fire-smoke", "aerial-cars", "synthetic"):
        for kind in ("learned", "colour-baseline"):
            for c, s in res.get(split, {}).get(kind, {}).items():
                lines.append(f"{split:12} {kind:16} {c:8} {s['ground_truth']:5d} "
                             f"{s['detections']:5d} {s['precision']:6.3f} {s['recall']:6.3f} "
                             f"{s['ap50']:6.3f}")
    fa = res.get("brighton_false_alarms")
    if fa:
        for n, v in fa.items():
            if isinstance(v, dict):
                lines.append(f"brighton     {n:16} false flags {v['flags']} in {fa['frames']} "
                             f"frames ({v['per_frame']}/frame, {v['frames_with_flags']} frames "
                             "with any)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m processing.detect.evaluate",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="shared data folder "
                    "(default: $AMUR_UAV_DATA or ../shared/data)")
    ap.add_argument("--splits", default="fire-smoke,aerial-cars,brighton,synthetic")
    ap.add_argument("--synthetic", type=Path, default=None,
                    help="held-back synthetic frames (truth.json); rendered afresh from "
                         f"scene seeds {SYNTHETIC_VALID_SEED}+ when not given")
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args(argv)
    root = a.data or data_root()
    if not root.is_dir():
        print(f"no data folder at {root}; pass --data or set AMUR_UAV_DATA")
        return 2
    splits = tuple(a.splits.split(","))
    syn = a.synthetic
    if syn is None and "synthetic" in splits:
        # The held-back synthetic split (scene seeds training never used) is rendered by the
        # simulator, which processing does not import: render it first, or let
        # benchmarks/detection.py do both.
        print("synthetic split skipped: render it with `python -m simulators.training_frames "
              f"--out DIR --scenes {SYNTHETIC_VALID_SCENES} --frames-per-scene 8 --seed "
              f"{SYNTHETIC_VALID_SEED}` and pass --synthetic DIR")
        splits = tuple(s for s in splits if s != "synthetic")
    res = evaluate(root, splits, syn)
    print(format_table(res))
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
