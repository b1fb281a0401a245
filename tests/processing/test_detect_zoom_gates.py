"""Choosing the fire/smoke zoom gates: from simulator frames to the model's JSON."""

from __future__ import annotations

import json
import shutil

import pytest

from processing.detect.evaluate import synthetic_frames
from processing.detect.learned import FIRE_SMOKE_MODEL, LearnedDetector
from processing.detect.zoom_gates import choose_gates, main, seed_scores, store_gates


def test_gates_keep_the_found_objects_seeded():
    scores = {"fire": [0.9, 0.173, 0.5, 0.3], "smoke": [0.61, 0.4], "none": []}
    assert choose_gates(scores) == {"fire": 0.17, "smoke": 0.4}
    # keep 3 of 4 fires: the weakest may go
    assert choose_gates(scores, keep=0.75)["fire"] == 0.3
    # an object the first pass did not see at all cannot be kept by any gate but the floor
    assert choose_gates({"fire": [0.8, 0.0]}) == {"fire": 0.05}


def test_stored_gates_are_what_the_detector_uses(tmp_path):
    m = tmp_path / "fs.onnx"
    shutil.copy(FIRE_SMOKE_MODEL, m)
    side = tmp_path / "fs.json"
    shutil.copy(FIRE_SMOKE_MODEL.with_suffix(".json"), side)
    store_gates(side, {"fire": 0.2, "smoke": 0.35}, {"fire": [0.5, 0.2], "smoke": [0.35]},
                "test frames")
    d = json.loads(side.read_text())
    assert d["zoom_gates"]["fire"] == {"gate": 0.2, "objects_seeded": 2, "objects": 2,
                                       "chosen_on": "test frames"}
    assert "operating_thresholds" in d                        # nothing else lost
    det = LearnedDetector(m, ("fire",), zoom_levels=(2.0,))
    assert list(det.zoom_gates) == pytest.approx([0.2, 0.35])


def test_gates_from_rendered_frames(tmp_path, capsys):
    from simulators.frames import FrameCollector
    from simulators.scene import Scene
    from uav.profiles import get_camera

    scene = Scene.generate((131.20, 43.10, 131.206, 43.1045), seed=42, n_fire=2, n_smoke=1,
                           n_vehicle=0)
    with FrameCollector(tmp_path, scene, get_camera("mavic3e-wide"), scale=0.25) as fc:
        for i, o in enumerate(scene.objects):
            fc.on_trigger(o.lat, o.lon, scene.ground_alt_amsl + 100, 100, yaw=37 * i, pitch=0,
                          roll=0, time_s=i, index=i)
    scores = seed_scores(synthetic_frames(tmp_path))
    assert scores["fire"], "the ungated detector found none of the planted fires"
    assert all(0.0 <= s <= 1.0 for v in scores.values() for s in v)
    assert main(["--synthetic", str(tmp_path)]) == 0        # prints, stores nothing
    out = capsys.readouterr().out
    assert "fire" in out and "gate" in out
    assert main(["--synthetic", str(tmp_path / "nowhere")]) == 2
    assert "no truth.json" in capsys.readouterr().out
