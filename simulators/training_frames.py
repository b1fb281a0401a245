"""Labelled training frames rendered by the simulator camera (our own data).

Renders frames of procedural scenes (:mod:`simulators.scene`, :mod:`simulators.camera`) with
planted fires, smoke plumes and vehicles, from random nadir and oblique poses, and writes them
into a folder with a ``truth.json`` of pixel boxes, which detector training and evaluation read
(:func:`processing.detect.synthetic.load_truth`).  Offline tooling: nothing at run time imports
it.  The shipped detectors mixed in the first set; the second is the held-back split::

    python -m simulators.training_frames --out /tmp/syn-train --scenes 30 --seed 1000
    python -m simulators.training_frames --out /tmp/syn-valid --scenes 8 --frames-per-scene 8 --seed 5000

``truth.json``: ``{"frames": [{"file", "gsd_m", "objects": [{"cls", "box", "id"}]}]}`` with
boxes as x0, y0, x1, y1 in frame pixels.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm


def render_set(out: Path, scenes: int, frames_per_scene: int = 10, seed: int = 1000,
               render_scale: float = 0.25) -> int:
    """Render ``scenes`` x ``frames_per_scene`` frames into ``out``; returns the frame count."""
    from uav.profiles import get_camera

    from .camera import SimCamera
    from .scene import Scene

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    frames = []
    cams = ["mavic3e-wide", "phantom4pro"]
    for k in tqdm(range(scenes), desc="synthetic scenes", unit="scene"):
        lon0 = 131.0 + rng.uniform(0, 1)
        lat0 = 43.0 + rng.uniform(0, 1)
        scene = Scene.generate((lon0, lat0, lon0 + 0.01, lat0 + 0.007), seed=seed + k,
                               n_fire=int(rng.integers(2, 6)), n_smoke=int(rng.integers(1, 4)),
                               n_vehicle=int(rng.integers(4, 10)))
        cam = SimCamera(scene, get_camera(cams[k % len(cams)]), scale=render_scale)
        ground = scene.ground_alt_amsl
        for j in range(frames_per_scene):
            if rng.random() < 0.85:
                o = scene.objects[int(rng.integers(len(scene.objects)))]
                lat, lon = o.lat, o.lon
            else:
                lat, lon = lat0 + rng.uniform(0.001, 0.006), lon0 + rng.uniform(0.001, 0.009)
            agl = rng.uniform(60.0, 200.0)
            pitch = -90.0 if rng.random() < 0.7 else rng.uniform(-85.0, -55.0)
            # offset the aim point so objects are not always at the centre
            dlat = rng.uniform(-1, 1) * agl * 0.35 / 111_000.0
            dlon = rng.uniform(-1, 1) * agl * 0.35 / (111_000.0 * math.cos(math.radians(lat)))
            yaw = rng.uniform(0, 360)
            img = cam.render(lat + dlat, lon + dlon, ground + agl, yaw_deg=yaw, pitch_deg=pitch)
            view = cam.last_view
            objs = [{"id": v.id, "cls": v.kind, "box": [round(b, 1) for b in v.box]}
                    for v in view.visible_objects(min_visible_fraction=0.5)
                    if v.center_in_frame]
            name = f"syn_{seed}_{k:03d}_{j:02d}.jpg"
            cv2.imwrite(str(out / name), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
            frames.append({"file": name, "gsd_m": round(float(view.gsd_m()), 4),
                           "pitch_deg": round(pitch, 1), "objects": objs})
    (out / "truth.json").write_text(json.dumps({"frames": frames}, indent=1))
    return len(frames)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simulators.training_frames",
                                 description="Render labelled synthetic frames.")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scenes", type=int, default=30)
    ap.add_argument("--frames-per-scene", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1000)
    a = ap.parse_args(argv)
    n = render_set(a.out, a.scenes, a.frames_per_scene, a.seed)
    print(f"wrote {n} frames to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
