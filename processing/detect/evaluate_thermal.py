"""Evaluate the thermal ``person`` and ``vehicle`` detectors on HIT-UAV, split by recording.

Run as ``python -m processing.detect.evaluate_thermal`` (``--help`` for options)::

    python -m processing.detect.evaluate_thermal --split test          # the README figures
    python -m processing.detect.evaluate_thermal --split val --choose-thresholds
    python -m processing.detect.evaluate_thermal --split val --choose-thresholds --level high

The splits (:mod:`processing.detect.hituav`): ``test`` is every 80 m recording (an altitude no
training or tuning step saw), ``val`` the 40 deg recordings at other altitudes; operating
thresholds are chosen on ``val`` only, as the highest score threshold whose recall there is at
least :data:`TARGET_RECALL` for the class, and written into the model's JSON.

Scoring is the one of :mod:`processing.detect.evaluate` (IoU >= 0.5, each labelled box matched
once, all-point AP50 over detections down to 0.05), with one addition: a detection that matches
no labelled box and whose centre lies in a DontCare region or on a bicycle is not counted (the
data set marks those as not to be scored).  Figures are given for all frames, day and night.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from .base import FrameInfo
from .evaluate import AP_FLOOR, average_precision, data_root, match
from .hituav import SPLITS, THERMAL_CLASSES, hituav_samples
from .thermal_models import THERMAL_MODEL, PersonDetector, ThermalVehicleDetector

TARGET_RECALL = {"person": 0.75, "vehicle": 0.85}
# The ranger's --sensitivity levels: each a recall to reach on val (normal is TARGET_RECALL).
LEVEL_RECALL = {"low": {"person": 0.6, "vehicle": 0.75}, "normal": TARGET_RECALL,
                "high": {"person": 0.85, "vehicle": 0.92}}


def _inside(centres: np.ndarray, regions: np.ndarray) -> np.ndarray:
    if not len(regions) or not len(centres):
        return np.zeros(len(centres), bool)
    c = centres[:, None]
    return ((c[..., 0] >= regions[None, :, 0]) & (c[..., 0] <= regions[None, :, 2])
            & (c[..., 1] >= regions[None, :, 1]) & (c[..., 1] <= regions[None, :, 3])).any(1)


def collect(samples, model: Path = THERMAL_MODEL, scale: float | None = None) -> list[dict]:
    """Per frame and class: scores, hit flags and the number of labelled boxes."""
    dets = {"person": PersonDetector(threshold=AP_FLOOR, model=model, scale=scale),
            "vehicle": ThermalVehicleDetector(threshold=AP_FLOOR, model=model, scale=scale)}
    rows = []
    for s in samples:
        img = cv2.imread(str(s.path), cv2.IMREAD_UNCHANGED)
        info = FrameInfo(str(s.path), thermal=True)
        for k, cls in enumerate(THERMAL_CLASSES):
            found = dets[cls].detect(img, info)
            gt = s.boxes[s.labels == k]
            pairs = [(d.score, np.array([d.x0, d.y0, d.x1, d.y1])) for d in found]
            hits = np.array(match(pairs, gt), bool)
            scores = np.array([d.score for d in found], float)
            centres = np.array([[(d.x0 + d.x1) / 2, (d.y0 + d.y1) / 2] for d in found]
                               ).reshape(-1, 2)
            keep = hits | ~_inside(centres, s.ignore)
            rows.append({"cls": cls, "night": s.recording.night, "scores": scores[keep],
                         "hits": hits[keep], "gt": len(gt)})
    return rows


def scores(rows: list[dict], cls: str, threshold: float, night: bool | None = None) -> dict:
    sel = [r for r in rows if r["cls"] == cls and (night is None or r["night"] == night)]
    s = np.concatenate([r["scores"] for r in sel]) if sel else np.zeros(0)
    h = np.concatenate([r["hits"] for r in sel]) if sel else np.zeros(0, bool)
    n_gt = sum(r["gt"] for r in sel)
    op = s >= threshold
    tp = int(h[op].sum())
    return {"frames": len(sel), "ground_truth": n_gt, "detections": int(op.sum()),
            "precision": round(tp / max(int(op.sum()), 1), 4),
            "recall": round(tp / max(n_gt, 1), 4),
            "ap50": round(average_precision(s, h, n_gt), 4),
            "false_per_frame": round(float((op & ~h).sum()) / max(len(sel), 1), 3)}


def threshold_for_recall(rows: list[dict], cls: str, recall: float) -> float:
    """The highest threshold whose recall is at least ``recall`` (the lowest score seen if
    none reaches it)."""
    sel = [r for r in rows if r["cls"] == cls]
    s = np.concatenate([r["scores"] for r in sel])
    h = np.concatenate([r["hits"] for r in sel])
    n_gt = max(sum(r["gt"] for r in sel), 1)
    order = np.argsort(-s, kind="stable")
    rec = np.cumsum(h[order]) / n_gt
    ok = np.nonzero(rec >= recall)[0]
    i = ok[0] if len(ok) else len(order) - 1
    return float(max(AP_FLOOR, s[order][i] - 1e-4))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m processing.detect.evaluate_thermal",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=SPLITS, default="test")
    ap.add_argument("--data", type=Path, default=None, help="folder holding hit-uav/")
    ap.add_argument("--model", type=Path, default=THERMAL_MODEL)
    ap.add_argument("--choose-thresholds", action="store_true",
                    help="choose each class's operating threshold here and store it in the "
                         "model's JSON (use with --split val)")
    ap.add_argument("--level", choices=tuple(LEVEL_RECALL), default="normal",
                    help="the sensitivity level chosen (--choose-thresholds, for the recall in "
                         "LEVEL_RECALL) and scored")
    ap.add_argument("--scale", type=float, default=None,
                    help="resize frames by this before the model (default: the model's own)")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    a = ap.parse_args(argv)
    root = (a.data or data_root()) / "hit-uav"
    if not root.is_dir():
        print(f"no HIT-UAV data at {root} (set AMUR_UAV_DATA or --data)", file=sys.stderr)
        return 2
    rows = collect(hituav_samples(root, a.split), a.model, a.scale)
    side_path = a.model.with_suffix(".json")
    side = json.loads(side_path.read_text())
    if a.choose_thresholds:
        if a.split == "test":
            ap.error("thresholds are chosen on --split val, never on the test recordings")
        want = LEVEL_RECALL[a.level]
        points = {}
        for c in THERMAL_CLASSES:
            t = round(threshold_for_recall(rows, c, want[c]), 4)
            # the recall met there: below the target when the model's scores stop short of it
            points[c] = {"threshold": t, "target_recall": want[c],
                         "recall_reached": scores(rows, c, t)["recall"],
                         "chosen_on": f"HIT-UAV {a.split} split"}
        if a.level == "normal":
            side["operating_thresholds"] = points
        else:
            for c, point in points.items():
                side.setdefault("sensitivity", {}).setdefault(c, {})[a.level] = point
        side_path.write_text(json.dumps(side, indent=1) + "\n")
    stored = (side.get("operating_thresholds") if a.level == "normal" else
              {c: v.get(a.level) for c, v in (side.get("sensitivity") or {}).items()}) or {}
    thr = {c: float((stored.get(c) or {}).get("threshold", 0.3)) for c in THERMAL_CLASSES}
    out = {"split": a.split, "model": str(a.model), "scale": a.scale or 1.0, "level": a.level,
           "thresholds": thr}
    for c in THERMAL_CLASSES:
        out[c] = {"all": scores(rows, c, thr[c]), "day": scores(rows, c, thr[c], False),
                  "night": scores(rows, c, thr[c], True)}
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        a.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
