"""Training: painted look-alikes stay off the labelled vehicles, town negatives have nothing to
find, the light network starts from a full model's backbone."""

from __future__ import annotations

import random

import numpy as np

from processing.detect.training_views import paint_lookalikes


def test_lookalikes_darken_or_mark_the_ground_but_never_the_labelled_cars():
    rng = random.Random(3)
    view = np.full((320, 320, 3), 150, np.uint8)
    cars = np.array([[40, 40, 80, 56], [200, 250, 240, 266]], np.float32)
    changed = 0
    for _ in range(200):
        out = paint_lookalikes(view, cars, rng)
        assert out.shape == view.shape and out.dtype == np.uint8
        for x0, y0, x1, y1 in cars.astype(int):
            assert (out[y0:y1, x0:x1] == 150).all(), "a look-alike was painted over a labelled car"
        diff = np.abs(out.astype(int) - 150).max(axis=2) > 8
        changed += int(diff.any())
        dark = out[diff]
        if len(dark) and dark.mean() < 150:
            # a shadow lit by the sky: blue stays brighter than red
            assert dark[:, 0].mean() >= dark[:, 2].mean()
    assert changed >= 100, f"only {changed} of 200 views got a look-alike"


def test_light_network_starts_from_a_full_models_backbone(tmp_path):
    import pytest

    torch = pytest.importorskip("torch", reason="torch is not installed (pip install .[train])")
    from processing.detect.training import build_model, init_from

    full, light = build_model(1, 4), build_model(1, 4, light=True)
    n_full = sum(p.numel() for p in full.parameters())
    n_light = sum(p.numel() for p in light.parameters())
    assert n_light < 0.9 * n_full
    ckpt = tmp_path / "full.ckpt.pt"
    torch.save({"model": full.state_dict()}, ckpt)
    copied = init_from(light, ckpt)
    # the backbone and the output convolutions match; the separable decoder does not
    assert 0 < copied < len(light.state_dict())
    assert torch.equal(light.state_dict()["s16.2.0.weight"], full.state_dict()["s16.2.0.weight"])
    with torch.no_grad():
        heat, dist = light.eval()(torch.zeros(1, 3, 96, 160))
    assert heat.shape == (1, 1, 24, 40) and dist.shape == (1, 4, 24, 40)
    with pytest.raises(SystemExit, match="not a training checkpoint"):
        init_from(light, tmp_path / "missing.ckpt.pt")


def test_negative_views_show_town_frames_with_nothing_to_find(tmp_path):
    import cv2

    from processing.detect.datasets import Sample
    from processing.detect.training_views import TrainSet

    fire = np.full((300, 400, 3), 60, np.uint8)
    cv2.imwrite(str(tmp_path / "fire.png"), fire)
    town = np.zeros((1080, 1920, 3), np.uint8)
    town[:, ::200] = 255
    town = cv2.dilate(town, np.ones((1, 80), np.uint8))    # wide bright stripes: roofs, roads
    cv2.imwrite(str(tmp_path / "town.jpg"), town)
    ds = TrainSet([Sample(tmp_path / "fire.png", np.array([[50, 50, 150, 150]], np.float32),
                          ["fire"])], "fire-smoke", seed=1)
    # neither simulator frames nor negatives yet: every view comes from the labelled image
    # (this once picked from the empty negatives and crashed)
    for _ in range(100):
        view, boxes, cls = ds.view()
        assert view.shape == (320, 320, 3) and set(cls) <= {0}
    assert ds.add_negatives([tmp_path / "town.jpg", tmp_path / "missing.jpg"], 0.5) == 1
    assert max(ds.negatives[0][0].shape[:2]) == 400      # stored at 1.25x the 320 px input
    towns = 0
    for _ in range(200):
        view, boxes, cls = ds.view()
        assert view.shape == (320, 320, 3)
        if (view > 200).mean() > 0.1:                     # the striped town, not the plain fire
            towns += 1
            assert len(boxes) == 0 and cls == []
    assert 60 < towns < 140, towns
