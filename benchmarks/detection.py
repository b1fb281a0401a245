"""Detector quality and speed: P/R/AP50 per class, Brighton false alarms, ONNX backends.

- quality: :func:`processing.detect.evaluate.evaluate` on the splits held back by source
  (whole fire-smoke videos and stills, an aerial-cars flight and mosaic part, and a synthetic
  split rendered here from scene seeds never used in training), the colour-rule baselines
  next to the learned detectors;
- real full-size frames: the 12 Brighton beach photos through the pipeline (GSD, reduced
  decoding): vehicles against the labelled parked cars, and every fire or smoke flag false;
- speed: one network forward and one whole frame (tiled as in production) per detector, on
  onnxruntime and on OpenCV DNN in the same run, 1 thread each; fire/smoke also with its
  finer pass over the whole frame (``frame_ms_zoom_all``: what the zoom gates save on a frame
  with nothing fire-like in it).

    .venv/bin/python -m benchmarks.detection [--no-quality]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from processing.detect.evaluate import (
    SYNTHETIC_VALID_SCENES,
    SYNTHETIC_VALID_SEED,
    data_root,
    evaluate,
    format_table,
)
from processing.detect.learned import FIRE_SMOKE_MODEL, VEHICLE_MODEL, LearnedDetector
from processing.detect.onnx_runner import OnnxModel


def _ms(fn, n: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1000.0


def speed(frame: np.ndarray, repeats: int = 10) -> dict:
    """Milliseconds per forward and per frame for each model on both backends."""
    out = {}
    for label, path, kw in (("fire_smoke", FIRE_SMOKE_MODEL, {"zoom_levels": (2.0,)}),
                            ("vehicle", VEHICLE_MODEL, {"scale": 1.0})):
        for backend in ("onnxruntime", "opencv"):
            classes = tuple(OnnxModel(path, backend).info.classes)
            det = LearnedDetector(path, classes, 0.4, backend=backend, **kw)
            m = det.model
            w, h = m.info.input_size
            x = m._prep(cv2.resize(frame, (w, h)))
            out[f"{label}.{backend}"] = {
                "forward_ms": round(_ms(lambda m=m, x=x: m.forward(x), repeats * 3), 2),
                "frame_ms": round(_ms(lambda det=det: det.raw(frame), repeats), 1),
            }
            if det.zoom_gates is not None:
                every = LearnedDetector(path, classes, 0.4, backend=backend,
                                        **{**kw, "zoom_gates": None})
                out[f"{label}.{backend}"]["frame_ms_zoom_all"] = round(
                    _ms(lambda d=every: d.raw(frame), repeats), 1)
    return out


def run(quality: bool = True, verbose: bool = False) -> dict:
    root = data_root()
    figures: dict = {}
    # a 1320x989 frame (the simulator's rehearsal size) of real aerial texture when we have it
    src = root / "brighton" / "DJI_0018.JPG"
    frame = cv2.imread(str(src), cv2.IMREAD_REDUCED_COLOR_2) if src.exists() else None
    if frame is None:
        frame = np.random.default_rng(0).integers(0, 255, (989, 1320, 3), dtype=np.uint8)
    frame = cv2.resize(frame, (1320, 989), interpolation=cv2.INTER_AREA)
    sp = speed(frame)
    figures["speed_1320x989"] = {f"{k}.{kk}": v for k, d in sp.items() for kk, v in d.items()}
    faster = {}
    for label in ("fire_smoke", "vehicle"):
        a, b = sp[f"{label}.onnxruntime"]["frame_ms"], sp[f"{label}.opencv"]["frame_ms"]
        faster[label] = f"onnxruntime {b / a:.2f}x faster" if a < b else f"opencv {a / b:.2f}x faster"
    figures["backend"] = faster
    if not quality:
        return figures
    if not root.is_dir():
        figures["quality"] = f"skipped: no data folder at {root}"
        return figures
    with tempfile.TemporaryDirectory() as tmp:
        syn = None
        try:
            from simulators.training_frames import render_set

            syn = Path(tmp) / "syn-valid"
            render_set(syn, scenes=SYNTHETIC_VALID_SCENES, frames_per_scene=8,
                       seed=SYNTHETIC_VALID_SEED)
        except ImportError as exc:   # simulator not installed with this checkout
            figures["synthetic"] = f"skipped: {exc}"
        res = evaluate(root, ("fire-smoke", "aerial-cars", "brighton", "synthetic"), syn)
    if verbose:
        print(format_table(res))
    for split in ("fire-smoke", "aerial-cars", "aerial-cars DJI", "brighton", "synthetic"):
        for kind in ("learned", "colour-baseline"):
            for c, s in res.get(split, {}).get(kind, {}).items():
                figures[f"{split}.{kind}.{c}"] = {"P": s["precision"], "R": s["recall"],
                                                  "AP50": s["ap50"], "GT": s["ground_truth"],
                                                  "false_per_100_frames": s["false_per_100"]}
    fa = res.get("brighton_false_alarms", {})
    figures["brighton_false_flags_per_frame"] = {k: v["per_frame"] for k, v in fa.items()
                                                 if isinstance(v, dict)}
    return figures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-quality", action="store_true", help="speed only")
    a = ap.parse_args(argv)
    for k, v in run(not a.no_quality, verbose=True).items():
        print(k, v)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
