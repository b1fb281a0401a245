"""Labelled training frames are made by the simulator and read by processing (one-way arrow)."""

from __future__ import annotations

import cv2

from processing.detect.synthetic import load_truth
from simulators.training_frames import main


def test_rendered_training_frames_read_back_with_their_boxes(tmp_path, capsys):
    out = tmp_path / "syn"
    assert main(["--out", str(out), "--scenes", "1", "--frames-per-scene", "3", "--seed", "7"]) == 0
    assert "wrote 3 frames" in capsys.readouterr().out
    frames = load_truth(out)
    assert len(frames) == 3
    boxes = 0
    for fr in frames:
        img = cv2.imread(str(out / fr["file"]))
        h, w = img.shape[:2]
        assert fr["gsd_m"] > 0
        for o in fr["objects"]:
            x0, y0, x1, y1 = o["box"]
            assert o["cls"] in ("fire", "smoke", "vehicle")
            assert x1 > x0 and y1 > y0 and (x0 + x1) / 2 < w and (y0 + y1) / 2 < h
            boxes += 1
    assert boxes >= 1  # 85 % of the views aim at a planted object
