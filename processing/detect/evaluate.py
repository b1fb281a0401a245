"""Evaluate the detectors on held-back data: per class precision, recall, AP50, false flags.

Run as ``python -m processing.detect.evaluate`` (``--help`` for options).  Held-back data is
split by *source* (a whole video, still photo, flight or mosaic part), never by random image:
frames of one video are near-copies, so a random split scores a model on what it has all but
seen (:mod:`processing.detect.datasets`).  Splits:

``fire-smoke``   the fire-smoke ``source-test`` split: three whole videos and a seeded 20 % of
                 the still photos (608x608 frames, searched as they are)
``aerial-cars``  the aerial-cars ``source-test`` split: the Minsk flight DJI_0762 (1920x1080
                 DJI frames) and the Munich mosaic part MOS155-179, at their GSD; town views
                 with no fire or smoke, so every fire or smoke flag there is a false flag
``brighton``     the 12 Brighton beach photos (4000x2250, 40 m), run through the processing
                 pipeline as a flight is (pose, GSD, reduced decoding): the parked cars are
                 labelled (``eval_labels/brighton_vehicles.json``), and none shows fire or smoke,
                 so every fire or smoke flag there is a false flag
``synthetic``    a held-back set of simulator frames (``--synthetic DIR`` with truth.json)

A detection matches a labelled box of its class when their intersection-over-union is at least
0.5, each labelled box matching once (highest score first); detections on boxes marked partial
(mostly outside the frame) count neither way.  AP50 is the area under the interpolated
precision-recall curve (all points, as in Pascal VOC 2010+) over detections down to a score of
0.05.  Precision, recall and false flags per 100 frames are at each class's operating
threshold: the one stored in the model's JSON (``--set-thresholds RECALL`` chooses, per class,
the highest threshold that still reaches that recall on its held-back split and stores it).
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

from uav.errors import DetectorError

from .base import FIRE, SMOKE, VEHICLE, Detector, FrameInfo
from .datasets import CANONICAL_GSD_M, aerial_cars_samples, fire_smoke_samples

AP_FLOOR = 0.05
# training renders scenes from seed 1000 up (python -m simulators.training_frames --seed 1000)
SYNTHETIC_VALID_SEED = 5000
SYNTHETIC_VALID_SCENES = 8
DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BRIGHTON_LABELS = Path(__file__).parent / "eval_labels" / "brighton_vehicles.json"


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
    frames: int = 0
    false_per_100: float = 0.0      # false flags per 100 frames at the operating threshold
    best_f1: float = 0.0            # best F1 over all thresholds (and the threshold giving it)
    best_f1_threshold: float = 0.0

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()
                if not k.startswith("_")}


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


def _gt_of(gt_boxes, gt_cls, c) -> np.ndarray:
    return np.array([b for b, k in zip(gt_boxes, gt_cls, strict=True) if k == c],
                    np.float32).reshape(-1, 4)


def score_records(records, classes: tuple[str, ...], thresholds: dict[str, float]
                  ) -> dict[str, ClassScore]:
    """Score detections already made: ``records`` are (detections, gt boxes, gt classes,
    ignore boxes) per frame."""
    per_cls = {c: {"scores": [], "hits": [], "gt": 0} for c in classes}
    frames = 0
    for dets, gt_boxes, gt_cls, ignore in records:
        frames += 1
        ign = np.asarray(ignore, np.float32).reshape(-1, 4)
        for c in classes:
            g = _gt_of(gt_boxes, gt_cls, c)
            dc = [(d.score, np.array([d.x0, d.y0, d.x1, d.y1])) for d in dets if d.cls == c]
            if len(ign) and dc:   # on a vehicle mostly outside the frame: neither hit nor miss
                ov = iou_matrix(np.array([b for _, b in dc]).reshape(-1, 4), ign).max(axis=1)
                dc = [x for x, o in zip(dc, ov, strict=True) if o < 0.3]
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
                            tp / max(v["gt"], 1), average_precision(s, h, v["gt"]),
                            frames, 100.0 * int((~h[op]).sum()) / max(frames, 1))
        out[c]._curve = (s, h)
        out[c].best_f1, out[c].best_f1_threshold = best_f1(s, h, v["gt"])
    return out


def best_f1(scores: np.ndarray, hits: np.ndarray, n_gt: int) -> tuple[float, float]:
    """The best F1 over every score threshold, and that threshold."""
    if n_gt == 0 or not len(scores):
        return 0.0, 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    f1 = 2 * tp / (np.arange(1, len(order) + 1) + n_gt)
    i = int(np.argmax(f1))
    return float(f1[i]), float(scores[order][i])


def score_split(frames, detectors: list[Detector], classes: tuple[str, ...],
                thresholds: dict[str, float], desc: str = "") -> dict[str, ClassScore]:
    """Run ``detectors`` over ``frames`` (iterable of (image, FrameInfo, gt boxes, gt classes
    [, ignore boxes]))."""
    def records():
        for fr in tqdm(frames, desc=desc, unit="frame", leave=False):
            img, info, gt_boxes, gt_cls = fr[:4]
            yield ([d for det in detectors for d in det.detect(img, info)], gt_boxes, gt_cls,
                   fr[4] if len(fr) > 4 else ())
    return score_records(records(), classes, thresholds)


def threshold_for_recall(score: ClassScore, recall: float) -> float | None:
    """The highest score threshold at which ``score``'s detections still reach ``recall``."""
    s, h = score._curve
    if score.ground_truth == 0 or not len(s):
        return None
    order = np.argsort(-s, kind="stable")
    rec = np.cumsum(h[order]) / score.ground_truth
    ok = np.nonzero(rec >= recall)[0]
    if not len(ok):
        return None
    return float(s[order][ok[0]])


def _read(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{path}: cannot be read")
    return img


def fire_smoke_frames(root: Path, split: str = "source-test"):
    for s in fire_smoke_samples(root / "fire-smoke", split):
        yield _read(s.path), FrameInfo(str(s.path)), s.boxes, s.classes


def aerial_frames(root: Path, split: str = "source-test"):
    for s in aerial_cars_samples(root / "aerial-cars", split):
        # the detector resizes to its training resolution from the frame's GSD
        yield (_read(s.path), FrameInfo(str(s.path), gsd_m=CANONICAL_GSD_M * s.scale),
               s.boxes, s.classes)


def synthetic_frames(folder: Path):
    from .synthetic import load_truth

    for fr in load_truth(folder):
        yield (_read(folder / fr["file"]), FrameInfo(str(folder / fr["file"]), gsd_m=fr["gsd_m"]),
               np.array([o["box"] for o in fr["objects"]], np.float32).reshape(-1, 4),
               [o["cls"] for o in fr["objects"]])


def brighton_labels() -> dict:
    """Frame name -> (boxes, partial boxes) of the labelled vehicles on the Brighton photos."""
    d = json.loads(BRIGHTON_LABELS.read_text())
    out = {}
    for name, objs in d["frames"].items():
        full = [o["box"] for o in objs if not o.get("partial")]
        part = [o["box"] for o in objs if o.get("partial")]
        out[name] = (np.array(full, np.float32).reshape(-1, 4),
                     np.array(part, np.float32).reshape(-1, 4))
    return out


def pipeline_records(paths, detectors: list[Detector], labels: dict | None = None):
    """Frames searched by the processing pipeline itself (pose, GSD, reduced decoding), as
    (detections, gt boxes, gt classes, ignore boxes) in full-frame pixels."""
    from processing.pipeline import FrameTask, process_frame

    from .base import Detection

    for p in tqdm(paths, desc="pipeline", unit="frame", leave=False):
        out = process_frame(FrameTask(str(p), detectors=tuple(detectors)))
        if out.frame.status == "failed":
            raise RuntimeError(f"{p}: {out.frame.error}")
        dets = [Detection(f.cls, f.score, f.px_x0, f.px_y0, f.px_x1, f.px_y1, f.detector or "")
                for f in out.flags]
        gt, part = (labels or {}).get(Path(p).name, (np.zeros((0, 4)), np.zeros((0, 4))))
        yield dets, gt, [VEHICLE] * len(gt), part


def false_alarms(root: Path, detectors: list[Detector]) -> dict:
    """Flags per Brighton photo decoded at full size with no GSD (the colour rules' view)."""
    paths = sorted((root / "brighton").glob("*.JPG"))
    per = {d.name: [] for d in detectors}
    for p in tqdm(paths, desc="brighton", unit="frame", leave=False):
        img = _read(p)
        for d in detectors:
            per[d.name].append(len(d.detect(img, FrameInfo(str(p)))))
    return {"frames": len(paths),
            **{n: {"flags": int(sum(v)), "per_frame": round(sum(v) / max(len(v), 1), 3),
                   "frames_with_flags": int(sum(1 for x in v if x))} for n, v in per.items()}}


def _learned(name: str, level: str = "normal"):
    from .registry import get_detector

    # run low so AP sees the whole curve; precision/recall use the operating threshold
    det = get_detector(name, threshold=AP_FLOOR)
    try:
        default = get_detector(name, sensitivity=level).threshold
    except DetectorError:   # that level is not chosen yet: scored at normal until it is
        default = get_detector(name).threshold
    return det, default


def _as_dicts(scores: dict[str, ClassScore]) -> dict:
    return {c: s.as_dict() for c, s in scores.items()}


def evaluate(root: Path | None = None, splits=("fire-smoke", "aerial-cars", "brighton"),
             synthetic: Path | None = None, set_recall: float | dict | None = None,
             level: str = "normal") -> dict:
    """Scores of the learned detectors and the colour baselines on the requested splits.

    With ``set_recall``, each learned class's operating threshold is chosen for that recall on
    its held-back split (fire and smoke on fire-smoke, vehicles on aerial-cars), stored in the
    model's JSON, and the scores are given at the new thresholds.  ``level`` (``low``,
    ``high``) stores them as that sensitivity level's operating points instead, and scores at
    that level (:mod:`processing.detect.sensitivity`); ``normal`` is ``operating_thresholds``.
    """
    from .registry import get_detector

    root = Path(root or data_root())
    res: dict = {"data": str(root), "split": "by source (datasets.source_of)"}
    t0 = time.perf_counter()
    fire, fire_thr = _learned("fire", level)
    smoke, smoke_thr = _learned("smoke", level)
    veh, veh_thr = _learned("vehicle", level)
    thr = {FIRE: fire_thr, SMOKE: smoke_thr, VEHICLE: veh_thr}
    base = [get_detector("fire-colour", min_score=AP_FLOOR),
            get_detector("smoke-colour", min_score=AP_FLOOR)]
    base_thr = {FIRE: get_detector("fire-colour").min_score,
                SMOKE: get_detector("smoke-colour").min_score}
    scored: dict[str, dict[str, ClassScore]] = {}
    if "fire-smoke" in splits and (root / "fire-smoke").is_dir():
        frames = list(fire_smoke_frames(root))
        scored["fire-smoke"] = score_split(frames, [fire, smoke], (FIRE, SMOKE), thr, "fire-smoke")
        res["fire-smoke"] = {"images": len(frames),
                             "colour-baseline": _as_dicts(score_split(
                                 frames, base, (FIRE, SMOKE), base_thr, "fire-smoke colour"))}
    if "aerial-cars" in splits and (root / "aerial-cars").is_dir():
        frames = list(aerial_frames(root))
        # town views with no fire or smoke anywhere: every fire or smoke flag there is false
        scored["aerial-cars"] = score_split(frames, [veh, fire, smoke], (VEHICLE, FIRE, SMOKE),
                                            thr, "aerial-cars")
        res["aerial-cars"] = {"images": len(frames)}
        dji = [f for f in frames if Path(f[1].path).name.startswith("DJI_")]
        scored["aerial-cars DJI"] = score_split(dji, [veh], (VEHICLE,), thr, "DJI frames")
        res["aerial-cars DJI"] = {"images": len(dji)}
    if set_recall is not None:
        res["thresholds_set"] = store_thresholds(scored, set_recall, level)
        thr.update({c: v["threshold"] for c, v in res["thresholds_set"].items()})
        for split in scored.values():
            for c, sc in split.items():
                _rescore(sc, thr[c])
    for split, sc in scored.items():
        res[split]["learned"] = _as_dicts(sc)
    if "synthetic" in splits and synthetic is not None and Path(synthetic).is_dir():
        frames = list(synthetic_frames(Path(synthetic)))
        res["synthetic"] = {
            "images": len(frames),
            "learned": _as_dicts(score_split(frames, [fire, smoke, veh], (FIRE, SMOKE, VEHICLE),
                                             thr, "synthetic")),
            "colour-baseline": _as_dicts(score_split(frames, base, (FIRE, SMOKE), base_thr,
                                                     "synthetic colour")),
        }
    if "brighton" in splits and (root / "brighton").is_dir():
        paths = sorted((root / "brighton").glob("*.JPG"))
        recs = list(pipeline_records(paths, [fire, smoke, veh], brighton_labels()))
        res["brighton"] = {"images": len(paths),
                           "learned": _as_dicts(score_records(recs, (FIRE, SMOKE, VEHICLE), thr))}
        dets = [get_detector(n) for n in ("fire", "smoke", "fire-colour", "smoke-colour")]
        res["brighton_false_alarms"] = false_alarms(root, dets)
    res["thresholds"] = thr
    res["seconds"] = round(time.perf_counter() - t0, 1)
    return res


def _rescore(sc: ClassScore, t: float) -> None:
    s, h = sc._curve
    op = s >= t
    tp = int(h[op].sum())
    sc.detections, sc.precision = int(op.sum()), tp / max(int(op.sum()), 1)
    sc.recall = tp / max(sc.ground_truth, 1)
    sc.false_per_100 = 100.0 * int((~h[op]).sum()) / max(sc.frames, 1)


def store_thresholds(scored: dict, recall: float, level: str = "normal") -> dict:
    """Choose each class's threshold for ``recall`` and write it into the model's JSON (as
    ``operating_thresholds`` at ``normal``, else as ``sensitivity`` -> class -> ``level``)."""
    from .learned import FIRE_SMOKE_MODEL, VEHICLE_MODEL

    where = {FIRE: ("fire-smoke", FIRE_SMOKE_MODEL), SMOKE: ("fire-smoke", FIRE_SMOKE_MODEL),
             VEHICLE: ("aerial-cars", VEHICLE_MODEL)}
    chosen = {}
    for c, (split, model) in where.items():
        sc = scored.get(split, {}).get(c)
        if sc is None:
            continue
        target = recall.get(c) if isinstance(recall, dict) else recall
        if target is None:
            continue
        t = threshold_for_recall(sc, target)
        if t is None:   # the recall is out of reach: the lowest score evaluated
            t = AP_FLOOR
        t = max(np.floor(t * 1000) / 1000, AP_FLOOR)   # down: the recall must still be met
        side = Path(model).with_suffix(".json")
        d = json.loads(side.read_text())
        point = {"threshold": float(t), "target_recall": target, "chosen_on": f"{split} source-test"}
        if level == "normal":
            d.setdefault("operating_thresholds", {})[c] = point
        else:
            d.setdefault("sensitivity", {}).setdefault(c, {})[level] = point
        side.write_text(json.dumps(d, indent=1) + "\n")
        chosen[c] = {"threshold": float(t), "target_recall": target, "split": split, "level": level}
    return chosen


SPLIT_ORDER = ("fire-smoke", "aerial-cars", "aerial-cars DJI", "brighton", "synthetic")


def format_table(res: dict) -> str:
    """The results as a plain-text table (P, R and false flags at the operating threshold)."""
    lines = [f"{'split':16} {'detector':16} {'class':8} {'frames':>6} {'GT':>5} {'det':>5} "
             f"{'P':>6} {'R':>6} {'AP50':>6} {'false/100fr':>11} {'bestF1':>6}"]
    for split in SPLIT_ORDER:
        for kind in ("learned", "colour-baseline"):
            for c, s in res.get(split, {}).get(kind, {}).items():
                lines.append(f"{split:16} {kind:16} {c:8} {s['frames']:6d} {s['ground_truth']:5d} "
                             f"{s['detections']:5d} {s['precision']:6.3f} {s['recall']:6.3f} "
                             f"{s['ap50']:6.3f} {s['false_per_100']:11.1f} {s['best_f1']:6.3f}")
    lines.append("operating thresholds: " + ", ".join(
        f"{c} {t:.3f}" for c, t in res.get("thresholds", {}).items()))
    fa = res.get("brighton_false_alarms")
    if fa:
        for n, v in fa.items():
            if isinstance(v, dict):
                lines.append(f"brighton, full size, no GSD: {n:12} {v['flags']} flags in "
                             f"{fa['frames']} frames ({v['frames_with_flags']} frames with any)")
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
    ap.add_argument("--set-thresholds", metavar="RECALL", default=None,
                    help="choose each class's operating threshold for this recall on its "
                         "held-back split and store it in the model's JSON: one number, or "
                         "per class (fire=0.7,smoke=0.5,vehicle=0.8)")
    ap.add_argument("--level", choices=("low", "normal", "high"), default="normal",
                    help="the sensitivity level scored, and set by --set-thresholds (normal: the "
                         "operating thresholds; low/high: the ranger's --sensitivity levels)")
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
    recall = None
    if a.set_thresholds:
        try:
            recall = (dict((k.strip(), float(v)) for k, v in
                           (x.split("=") for x in a.set_thresholds.split(",")))
                      if "=" in a.set_thresholds else float(a.set_thresholds))
        except ValueError:
            print(f"--set-thresholds: {a.set_thresholds!r} is not a recall (0.8) or per-class "
                  "recalls (fire=0.7,smoke=0.5,vehicle=0.8)")
            return 2
    res = evaluate(root, splits, syn, recall, a.level)
    print(format_table(res))
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
