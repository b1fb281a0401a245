"""Choose where the fire/smoke model's finer pass looks: the per-class zoom gates.

The fire/smoke detector searches a frame twice: fitted whole into the network input, then at
about twice that resolution (small fires are a few pixels in the first pass).  The finer pass
costs three whole-frame ones, and most survey frames show no fire at all, so it looks only
around what the first pass already scored at least the class's *zoom gate*
(:class:`processing.detect.learned.LearnedDetector`).

A gate is chosen on simulator frames that neither training nor evaluation uses (scene seeds
7000 and up; training renders from 1000, the held-back split from 5000): every object the
ungated detector finds at its operating threshold must still be seeded, i.e. overlap a
first-pass box of its class scoring at least the gate (``--keep`` lowers that share).  "Finds"
is at the operating thresholds stored in the model's JSON, so choose the gates after
``evaluate --set-thresholds``.  Run as::

    python -m simulators.training_frames --out /tmp/syn-tune --scenes 8 --frames-per-scene 8 \\
        --seed 7000
    python -m processing.detect.zoom_gates --synthetic /tmp/syn-tune --write

and check the result on the held-back split with ``python -m processing.detect.evaluate``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from .base import FIRE, SMOKE

__all__ = ["TUNING_SEED", "seed_scores", "choose_gates", "store_gates"]

TUNING_SEED = 7000
GATE_FLOOR = 0.05   # the lowest score the first pass reports; a gate below it is no gate
CLASSES = (FIRE, SMOKE)


def seed_scores(frames) -> dict[str, list[float]]:
    """Per class, for each labelled object the ungated detector finds at its operating
    threshold: the best first-pass score of a box of that class overlapping it (0 when none).

    ``frames``: (image, FrameInfo, gt boxes, gt classes) as
    :func:`processing.detect.evaluate.synthetic_frames` yields them.
    """
    from .evaluate import iou_matrix
    from .registry import get_detector

    dets = {c: get_detector(c, zoom_gates=None) for c in CLASSES}
    model = dets[FIRE].model
    names = model.info.classes
    out: dict[str, list[float]] = {c: [] for c in CLASSES}
    for img, info, gt_boxes, gt_cls in frames:
        first = model.detect(img, None, dets[FIRE].overlap, GATE_FLOOR, dets[FIRE].nms_iou)
        for c in CLASSES:
            gts = np.array([b for b, k in zip(gt_boxes, gt_cls, strict=True) if k == c],
                           np.float32).reshape(-1, 4)
            found = np.array([[d.x0, d.y0, d.x1, d.y1] for d in dets[c].detect(img, info)],
                             np.float32).reshape(-1, 4)
            if not len(gts) or not len(found):
                continue
            hit = iou_matrix(gts, found).max(axis=1) >= 0.5
            mine = first[first[:, 5] == names.index(c)]
            for touching in iou_matrix(gts[hit], mine[:, :4]) > 0:
                near = mine[touching]
                out[c].append(float(near[:, 4].max()) if len(near) else 0.0)
    return out


def choose_gates(scores: dict[str, list[float]], keep: float = 1.0) -> dict[str, float]:
    """The highest gate per class that still seeds ``keep`` of the found objects (two
    decimals, rounded down; at least :data:`GATE_FLOOR`)."""
    gates = {}
    for c, s in scores.items():
        if not s:
            continue
        s = np.sort(np.asarray(s))[::-1]
        g = float(s[max(math.ceil(keep * len(s)) - 1, 0)])
        gates[c] = max(math.floor(g * 100) / 100, GATE_FLOOR)
    return gates


def store_gates(model_json: Path, gates: dict[str, float], scores: dict[str, list[float]],
                chosen_on: str) -> None:
    """Write the gates into the model's JSON description (``zoom_gates``)."""
    d = json.loads(model_json.read_text())
    d["zoom_gates"] = {c: {"gate": g, "objects_seeded": sum(x >= g for x in scores[c]),
                           "objects": len(scores[c]), "chosen_on": chosen_on}
                       for c, g in gates.items()}
    model_json.write_text(json.dumps(d, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    from .evaluate import synthetic_frames
    from .learned import FIRE_SMOKE_MODEL

    ap = argparse.ArgumentParser(prog="python -m processing.detect.zoom_gates",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--synthetic", type=Path, required=True,
                    help=f"tuning frames (truth.json), rendered from scene seeds {TUNING_SEED}+")
    ap.add_argument("--keep", type=float, default=1.0,
                    help="share of the found objects the gates must still seed (default 1)")
    ap.add_argument("--write", action="store_true", help="store the gates in the model's JSON")
    a = ap.parse_args(argv)
    if not (a.synthetic / "truth.json").exists():
        print(f"{a.synthetic}: no truth.json; render the tuning frames first (see --help)")
        return 2
    if not 0.0 < a.keep <= 1.0:
        print(f"--keep {a.keep}: a share between 0 and 1")
        return 2
    scores = seed_scores(synthetic_frames(a.synthetic))
    gates = choose_gates(scores, a.keep)
    for c in CLASSES:
        s = sorted(scores[c])
        print(f"{c:6} found objects {len(s):3d}  first-pass scores "
              f"{' '.join(f'{x:.2f}' for x in s)}  gate {gates.get(c, '-')}")
    if a.write:
        side = Path(FIRE_SMOKE_MODEL).with_suffix(".json")
        store_gates(side, gates, scores, f"simulator frames {a.synthetic.name} "
                    f"(scene seeds {TUNING_SEED}+), keep {a.keep:g}")
        print(f"stored in {side}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
