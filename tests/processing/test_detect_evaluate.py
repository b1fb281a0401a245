"""Honest evaluation: splits by source, operating thresholds for a recall, partial labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from processing.detect.base import Detection
from processing.detect.datasets import (
    AERIAL_TEST_SOURCES,
    FIRE_SMOKE_TEST_SOURCES,
    aerial_cars_samples,
    fire_smoke_samples,
    source_of,
)
from processing.detect.evaluate import best_f1, brighton_labels, score_records, threshold_for_recall

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_sources_are_read_from_file_names():
    assert source_of("fire2_mp4-39_jpg.rf.0a1b2c.jpg") == "fire2_mp4"
    assert source_of("pexels-alan-w-8365989_mp4-12_jpg.rf.ff.jpg") == "pexels-alan-w-8365989_mp4"
    assert source_of("img_71--2-_jpg.rf.99.jpg") == source_of("img_71_jpg.rf.12.jpg") == "img_71"
    assert source_of("DJI_0762-0031.jpg") == "DJI_0762"
    assert source_of("MunichStreet02-MOS160.png") == source_of("MOS160.png") == "MOS155-179"
    assert source_of("MOS80.png") == "MOS74-93"


@pytest.mark.skipif(not (DATA / "fire-smoke").is_dir() or not (DATA / "aerial-cars").is_dir(),
                    reason="../shared/data/fire-smoke or aerial-cars absent")
def test_no_source_is_on_both_sides_of_a_split():
    for samples, held in ((fire_smoke_samples, FIRE_SMOKE_TEST_SOURCES),
                          (aerial_cars_samples, AERIAL_TEST_SOURCES)):
        root = DATA / ("fire-smoke" if samples is fire_smoke_samples else "aerial-cars")
        train = {source_of(s.path.name) for s in samples(root, "source-train")}
        test = {source_of(s.path.name) for s in samples(root, "source-test")}
        assert train and test and not train & test
        assert set(held) <= test
    # every frame of a held-back video is held back, from train/ and valid/ alike
    test = fire_smoke_samples(DATA / "fire-smoke", "source-test")
    assert {s.path.parent.parent.name for s in test if source_of(s.path.name) == "fire2_mp4"} \
        == {"train", "valid"}


def _det(box, score, cls="vehicle"):
    return Detection(cls, score, *box)


def test_thresholds_for_a_recall_and_partial_labels():
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [60, 0, 70, 10]], float)
    dets = [_det((0, 0, 10, 10), 0.9), _det((100, 0, 110, 10), 0.8), _det((20, 0, 30, 10), 0.7),
            _det((40, 0, 50, 10), 0.4), _det((200, 0, 210, 10), 0.3),   # on a partial one
            _det((60, 0, 70, 10), 0.2)]
    partial = np.array([[200, 0, 212, 10]], float)
    sc = score_records([(dets, gt, ["vehicle"] * 4, partial)], ("vehicle",), {"vehicle": 0.5})
    v = sc["vehicle"]
    assert v.ground_truth == 4 and v.detections == 3           # the partial one is not counted
    assert v.precision == pytest.approx(2 / 3) and v.recall == 0.5
    assert v.false_per_100 == 100.0                              # one false flag in one frame
    assert threshold_for_recall(v, 0.5) == 0.7
    assert threshold_for_recall(v, 0.75) == 0.4
    assert threshold_for_recall(v, 1.0) == 0.2
    f1, t = best_f1(*v._curve, 4)
    assert f1 == pytest.approx(2 * 4 / (5 + 4)) and t == 0.2


def test_brighton_labels_are_in_full_frame_pixels():
    labels = brighton_labels()
    assert len(labels) == 12
    boxes = np.concatenate([b for b, _ in labels.values()])
    assert len(boxes) == 8
    assert (boxes[:, 2] <= 4000).all() and (boxes[:, 3] <= 2250).all()
    lengths = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert ((lengths > 150) & (lengths < 320)).all()   # 4-5 m cars at 1.7 cm/px (edge-cut too)
