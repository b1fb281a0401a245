"""Thermal people and vehicles at heights the model was not trained at, with and without the
frame's height (``FrameInfo.height_m``; ``trained_heights_m`` in ``thermal.json``).

HIT-UAV has no frame flown outside 60-130 m, so other heights are simulated from the held-out
80 m test recordings (116 frames, an altitude no training or tuning step saw): a frame "flown at
H m" is the 80 m frame resized by 80 / H (people and vehicles 80 / H times their size, the frame
as many times smaller; above 80 m the detail is really lost, below it the frame is only
enlarged, softer than a real low flight).  Each is searched twice: as the pipeline does without
a height (the frame as it is), and with the height (resized by H / nearest trained height, as
:meth:`processing.detect.thermal_models.ThermalDetector.height_factor` does).  AP50 at IoU 0.5
as :mod:`processing.detect.evaluate_thermal` scores (DontCare and bicycles ignored).

    .venv/bin/python -m benchmarks.thermal_height [--heights 40,160,200,260]
"""

from __future__ import annotations

import argparse
import json
import os

import cv2
import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
TEST_HEIGHT_M = 80.0


def run(heights: list[float]) -> dict:
    from processing.detect.base import FrameInfo
    from processing.detect.evaluate import AP_FLOOR, average_precision, data_root, match
    from processing.detect.evaluate_thermal import _inside
    from processing.detect.hituav import THERMAL_CLASSES, hituav_samples
    from processing.detect.thermal_models import PersonDetector, ThermalVehicleDetector

    samples = hituav_samples(data_root() / "hit-uav", "test")
    dets = {"person": PersonDetector(threshold=AP_FLOOR), "vehicle": ThermalVehicleDetector(threshold=AP_FLOOR)}
    frames = [(s, cv2.imread(str(s.path), cv2.IMREAD_UNCHANGED)) for s in samples]
    out: dict = {"frames": len(frames), "simulated_from_m": TEST_HEIGHT_M}
    for h in heights:
        f = TEST_HEIGHT_M / h
        row: dict = {"factor_used": dets["person"].height_factor(FrameInfo(height_m=h))}
        for aware in (False, True):
            acc = {c: ([], [], 0) for c in THERMAL_CLASSES}
            for s, img in frames:
                small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
                info = FrameInfo(str(s.path), thermal=True, height_m=h if aware else None)
                for k, cls in enumerate(THERMAL_CLASSES):
                    found = dets[cls].detect(small, info)
                    gt = s.boxes[s.labels == k] * f
                    pairs = [(d.score, np.array([d.x0, d.y0, d.x1, d.y1])) for d in found]
                    hits = np.array(match(pairs, gt), bool)
                    centres = np.array([[(d.x0 + d.x1) / 2, (d.y0 + d.y1) / 2] for d in found]).reshape(-1, 2)
                    keep = hits | ~_inside(centres, s.ignore * f)
                    sc, hi, n = acc[cls]
                    acc[cls] = (sc + [d.score for d, k2 in zip(found, keep, strict=True) if k2],
                                hi + list(hits[keep]), n + len(gt))
            row["with height" if aware else "without height"] = {
                c: round(average_precision(np.array(sc), np.array(hi, bool), n), 3) for c, (sc, hi, n) in acc.items()}
        out[f"{h:g} m"] = row
        print(f"{h:g} m: {row}", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.thermal_height", description=__doc__.split("\n\n")[0])
    ap.add_argument("--heights", default="40,160,200,260")
    a = ap.parse_args(argv)
    print(json.dumps(run([float(x) for x in a.heights.split(",")]), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
