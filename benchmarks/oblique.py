"""Vehicles on oblique DJI frames through the analyst's path (``benchmarks.user_path oblique``).

The two ``aerial-oblique`` frames (Mavic Pro, 120 m, gimbal pitch -41 and -49 deg) are run
through ``uav process --detectors vehicle`` and ``uav export --to csv --per-flag --status all``.
The near field is the rows whose ground resolution (the project's own camera model on the
frame's pose, :meth:`processing.georef.CameraModel.row_gsd`) is finer than 15 cm/px; a box is
in it when its centre is.  Reported: near-field vehicle recall (labelled car, truck, bus or
minibus matched by a flag at IoU >= 0.5) and the share of near-field flags on a labelled
vehicle (IoU >= 0.5; and, looser, overlapping one at all).  The labels are incomplete away from
the main road (parked cars in yards): an unmatched flag there is not necessarily false, so the
unmatched flags are listed with their boxes for a look.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VEHICLE_CLASSES = {0, 1, 2, 3}   # car, truck, bus, minibus (cyclist is not a vehicle flag)
NEAR_FIELD_GSD_M = 0.15


def _labels(path: Path, w: int, h: int) -> np.ndarray:
    rows = [list(map(float, ln.split())) for ln in path.read_text().splitlines() if ln.strip()]
    boxes = [((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
             for c, cx, cy, bw, bh in rows if int(c) in VEHICLE_CLASSES]
    return np.array(boxes, np.float32).reshape(-1, 4)


def _row_gsd(path: Path):
    from processing.frames import read_frame_bytes, read_metadata
    from processing.georef import FlatGround, georeference_frame
    from processing.poses import intrinsics_from_metadata, pose_from_metadata

    meta = read_metadata(str(path), read_frame_bytes(str(path)))
    geo = georeference_frame(pose_from_metadata(meta), intrinsics_from_metadata(
        meta, None, meta.width, meta.height), FlatGround())
    return geo.camera.row_gsd(), meta.width, meta.height


def oblique(root: Path, work: Path, extra: list[str]) -> dict:
    from benchmarks.cli_path import process_and_export
    from processing.detect.bands import gsd_at
    from processing.detect.evaluate import iou_matrix, match

    folder = root / "aerial-oblique"
    frames = sorted((folder / "images").glob("*.JPG"))
    rows = process_and_export(frames, work, ["--detectors", "vehicle", *extra])
    out: dict = {"frames": {}}
    tot = {"labelled_near": 0, "found_near": 0, "flags_near": 0, "flags_near_on_label": 0,
           "flags_near_touching_label": 0, "flags_far": 0}
    for p in frames:
        rg, w, h = _row_gsd(p)
        gt = _labels(folder / "labels" / (p.stem + ".txt"), w, h)
        mine = [r for r in rows if Path(r["frame_path"]).name == p.name and r["class"] == "vehicle"]
        boxes = np.array([[float(r[k]) for k in ("px_x0", "px_y0", "px_x1", "px_y1")] for r in mine],
                         np.float32).reshape(-1, 4)
        scores = [float(r["score"]) for r in mine]
        near_gt = gsd_at(rg, (gt[:, 1] + gt[:, 3]) / 2) < NEAR_FIELD_GSD_M if len(gt) else np.zeros(0, bool)
        near_fl = gsd_at(rg, (boxes[:, 1] + boxes[:, 3]) / 2) < NEAR_FIELD_GSD_M if len(boxes) else np.zeros(0, bool)
        gt_n = gt[near_gt]
        # recall: near labels matched by any flag (flags anywhere may match them)
        iou = iou_matrix(gt_n, boxes)
        found = int(sum(1 for i in range(len(gt_n)) if len(boxes) and (iou[i] >= 0.5).any()))
        hits = match(list(zip(scores, boxes, strict=True)), gt) if len(boxes) else []
        on = np.array(hits, bool)[near_fl] if len(boxes) else np.zeros(0, bool)
        touch = (iou_matrix(boxes, gt).max(1) > 0 if len(gt) and len(boxes) else np.zeros(len(boxes), bool))[near_fl]
        stray = [[round(float(v)) for v in b] for b, k, n in zip(boxes, hits, near_fl, strict=True) if n and not k]
        out["frames"][p.name] = {
            "near_field_rows_from": int(next((r for r, g in rg if g < NEAR_FIELD_GSD_M), h)),
            "labelled_near": int(len(gt_n)), "found_near": found, "flags_near": int(near_fl.sum()),
            "flags_near_on_label": int(on.sum()), "flags_near_touching_label": int(touch.sum()),
            "flags_far": int((~near_fl).sum()), "unmatched_near_boxes": stray[:40]}
        for k in tot:
            tot[k] += out["frames"][p.name][k]
    tot["near_recall"] = round(tot["found_near"] / max(tot["labelled_near"], 1), 3)
    tot["near_flags_on_label_share"] = round(tot["flags_near_on_label"] / max(tot["flags_near"], 1), 3)
    tot["near_flags_touching_label_share"] = round(tot["flags_near_touching_label"] / max(tot["flags_near"], 1), 3)
    out["total"] = tot
    return out
